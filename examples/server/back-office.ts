/**
 * The back office: users, at /backend, with their own tokens, MFA state and error codes
 * (5908/5909). A login (POST /backend/token) and a refund route guarded by `requireMfa`.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import type { Principal } from '../../lib/index.js'
import { credentials, DEMO_BACKEND_USERS, logIn } from './accounts.js'
import { errors, jsonApiError, MFA_CODE_HEADER } from './json-api.js'
import { registerMfaSurface, type SurfaceSettings } from './mfa-surface.js'

const TOKEN_TTL = 60 * 60 // seconds

export function backOffice (settings: SurfaceSettings): FastifyPluginAsync {
  return async function backend (scope) {
    const users = new Map(DEMO_BACKEND_USERS.map((u) => [u.id, { ...u }]))

    await registerMfaSurface(scope, {
      ...settings,
      surface: 'backend',
      prefix: '/backend',
      tokenTtl: TOKEN_TTL,
      findPrincipal: (principal) => users.has(principal.id)
    })

    scope.post('/backend/token', {
      schema: {
        summary: 'Log in the demo back-office user',
        description: `Demo user: ${credentials(DEMO_BACKEND_USERS)}.`,
        tags: ['demo'],
        body: {
          type: 'object',
          required: ['username', 'password'],
          properties: { username: { type: 'string' }, password: { type: 'string' } }
        },
        response: {
          200: {
            type: 'object',
            description: 'The access token',
            properties: { accessToken: { type: 'string' }, tokenType: { type: 'string' }, expiresIn: { type: 'integer' } }
          },
          ...errors(400, 401)
        }
      }
    }, async (request, reply) => {
      const { username, password } = request.body as { username: string, password: string }
      const user = logIn(users.values(), username, password)
      if (user === undefined) return await jsonApiError(reply, 401, 'Failed to authenticate user.', '003')
      return { accessToken: scope.jwt.sign({ sub: user.id, email: user.username }), tokenType: 'Bearer', expiresIn: TOKEN_TTL }
    })

    scope.post('/backend/refunds', {
      schema: {
        summary: 'Refund an order (protected by requireMfa)',
        description: 'Uses `preHandler: scope.requireMfa`: always needs a valid back-office token, and a code once the user has MFA enabled.',
        tags: ['demo'],
        security: [{ bearerAuth: [] }],
        headers: MFA_CODE_HEADER,
        body: {
          type: 'object',
          required: ['orderReference', 'amount'],
          properties: { orderReference: { type: 'string' }, amount: { type: 'integer', minimum: 1, description: 'cents' } }
        },
        response: {
          201: {
            type: 'object',
            description: 'The refund',
            properties: { id: { type: 'string' }, orderReference: { type: 'string' }, amount: { type: 'integer' }, refundedBy: { type: 'string' } }
          },
          ...errors(400, 401, 403)
        }
      },
      preHandler: scope.requireMfa
    }, async (request, reply) => {
      const { orderReference, amount } = request.body as { orderReference: string, amount: number }
      return await reply.code(201).send({ id: randomUUID(), orderReference, amount, refundedBy: (request.principal as Principal).id })
    })
  }
}
