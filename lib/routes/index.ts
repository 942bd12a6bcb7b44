import type { FastifyInstance } from 'fastify'
import { InvalidOptionError } from '../errors.js'
import { jsonApiErrorHandler, sendJsonApiError } from '../jsonapi.js'
import { RESOURCES } from '../schemas.js'
import { activateRoute } from './activate.js'
import type { RouteContext } from './context.js'
import { deactivateRoute } from './deactivate.js'
import { listRoute } from './list.js'
import { triggerRoute } from './trigger.js'
import { verifyRoute } from './verify.js'

const OTHER_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

/**
 * The five MFA resources in their own encapsulated context: JSON:API errors, the
 * `application/vnd.api+json` body parser and token checks stay inside it.
 */
export async function mfaRoutes (scope: FastifyInstance, ctx: RouteContext): Promise<void> {
  // @fastify/rate-limit limits the routes added after it (it reads their config in onRoute),
  // and the plugin does not depend on it: the host registers it, first.
  if (typeof ctx.options.rateLimit === 'object' && !scope.hasPlugin('@fastify/rate-limit')) {
    throw new InvalidOptionError('rateLimit', 'needs @fastify/rate-limit registered before fastify-glue-mfa: await app.register(rateLimit, { global: false })')
  }
  scope.setErrorHandler(jsonApiErrorHandler)
  // Only under a prefix of its own may the plugin answer 404s; at the root they are the host's.
  if (ctx.options.prefix !== '') {
    scope.setNotFoundHandler((request, reply) => sendJsonApiError(reply, { status: 404, detail: 'Not Found.' }))
  }
  // JSON:API bodies only: any other content type (text/plain included) is a 415.
  scope.removeAllContentTypeParsers()
  const parseJson = scope.getDefaultJsonParser('error', 'error')
  scope.addContentTypeParser(['application/json', 'application/vnd.api+json'], { parseAs: 'string' }, parseJson)

  // A known path with a method it does not serve: 405 with Allow, before any token check.
  for (const [resource, allowed] of Object.entries(allowedMethods())) {
    scope.route({
      method: OTHER_METHODS.filter((m) => m !== allowed),
      url: `/${resource}`,
      schema: { hide: true } as Record<string, unknown>,
      handler: (_request, reply) => {
        reply.header('allow', allowed === 'GET' ? 'GET, HEAD' : allowed)
        return sendJsonApiError(reply, { status: 405, detail: 'Method Not Allowed.' })
      }
    })
  }

  await scope.register(async (authenticated) => {
    authenticated.addHook('onRequest', async (request) => { await ctx.auth.verifyToken(request) })
    listRoute(authenticated, ctx)
    activateRoute(authenticated, ctx)
    verifyRoute(authenticated, ctx)
    deactivateRoute(authenticated, ctx)
    triggerRoute(authenticated, ctx)
  })
}

function allowedMethods (): Record<string, 'GET' | 'POST'> {
  return {
    [RESOURCES.list]: 'GET',
    [RESOURCES.activate]: 'POST',
    [RESOURCES.verify]: 'POST',
    [RESOURCES.deactivate]: 'POST',
    [RESOURCES.trigger]: 'POST'
  }
}
