/** The OpenAPI document of both surfaces and the demo routes, and Swagger UI at /documentation. */
import type { FastifyInstance } from 'fastify'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'

/** Registered before any route, so that @fastify/swagger sees them all. */
export async function registerOpenApi (app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Glue MFA demo',
        version: '0.2.0',
        description: 'fastify-glue-mfa: the Glue multi-factor-auth API for a storefront (customers, at /) and a back office (users, at /backend). Get a token from POST /access-tokens or POST /backend/token, then press Authorize.'
      },
      tags: [
        { name: 'multi-factor authentication', description: 'The five Glue MFA resources (storefront at /, back office at /backend)' },
        { name: 'demo', description: 'Demo logins and protected demo resources of this example server' },
        { name: 'dev', description: 'Development helpers (dev mode only)' }
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Storefront token from POST /access-tokens, or back-office token from POST /backend/token' }
        }
      }
    }
  })
  await app.register(fastifySwaggerUi, { routePrefix: '/documentation' })
}
