import type { FastifyError, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler, preHandlerHookHandler } from 'fastify'
import { MfaErrors } from './errors.js'
import { sendJsonApiError, toJsonApiError } from './jsonapi.js'
import { codeHeader, type Authenticator, type Principal } from './principal.js'
import type { ResolvedOptions } from './options.js'
import type { MfaService } from './service.js'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * The resource type of a route pattern, as Glue names a request's main resource: its last
 * static segment (`/customers/:id/addresses/:addressId` → `addresses`).
 */
export function resourceTypeOf (url: string): string | null {
  const segments = url.split('/').filter((s) => s !== '' && !s.startsWith(':') && !s.includes('*'))
  return segments.length === 0 ? null : segments[segments.length - 1]
}

/**
 * What the `protectedResources` hook does on one route, decided once per route: nothing (not a
 * protected resource, or reads only), guard every request (every declared method is a write,
 * whatever method the request shows by the time the hook runs), or let the request's method
 * decide (reads and writes).
 */
type Protection = typeof NONE | typeof WRITES | typeof MIXED
const NONE = 0
const WRITES = 1
const MIXED = 2

/** How a route (its url and declared methods, as in `request.routeOptions.config`) is protected. */
function protectionOf (route: { url?: string, method?: string | string[] }, protectedResources: Set<string>): Protection {
  // The not-found handler has no url.
  if (typeof route.url !== 'string') return NONE
  const resource = resourceTypeOf(route.url)
  // Stryker disable next-line ConditionalExpression: the null check is for the type checker; a Set of resource names never has null.
  if (resource === null || !protectedResources.has(resource)) return NONE
  const methods = Array.isArray(route.method) ? route.method : [route.method as string]
  const writes = methods.filter((m) => !SAFE_METHODS.has(m.toUpperCase())).length
  return writes === 0 ? NONE : writes === methods.length ? WRITES : MIXED
}

export interface Guard {
  /** `fastify.requireMfa`: a valid token, then the step-up check, whatever the method. */
  requireMfa: preHandlerAsyncHookHandler
  /**
   * The scope-level preHandler behind `protectedResources`. Fastify builds a route's hooks when
   * the app gets ready, so it reaches every route of the scope and its children, also those
   * declared before the plugin was registered.
   */
  protectedResources: preHandlerHookHandler
}

/** The step-up guard, answering its own errors as JSON:API documents. */
export function createGuard (auth: Authenticator, service: MfaService, options: Pick<ResolvedOptions, 'protectedResources' | 'requireEnrollment'>): Guard {
  const { protectedResources, requireEnrollment } = options
  async function stepUp (request: FastifyRequest, reply: FastifyReply, anonymousPasses: boolean): Promise<void> {
    try {
      // undefined, not null, on a route of a child scope created before the plugin decorated
      // the request: Fastify copies request decorators into a scope when it creates it.
      if (request.principal == null) {
        try {
          await auth.verifyToken(request)
        } catch (err) {
          // On a route protected only by resource type, the host's own authentication decides
          // whether anonymous callers (no token where @fastify/jwt looks) may come (Glue
          // protects `customers`, where guests register). A bad token is 001 all the same.
          if (anonymousPasses && err instanceof MfaErrors.MissingAccessToken) return
          throw err
        }
      }
      const principal: Principal = await auth.requirePrincipal(request)
      const mustEnrol = requireEnrollment === undefined ? undefined : () => requireEnrollment(principal, request)
      request.mfa = await service.stepUp({ log: request.log, caller: { principal, tokenId: auth.tokenIdOf(request) }, code: codeHeader(request), mustEnrol })
    } catch (err) {
      const error = toJsonApiError(err as FastifyError)
      if (error.status >= 500) request.log.error({ err }, 'fastify-glue-mfa: step-up failed')
      // Answer here, so a host's own error handler never reshapes a Glue error.
      await sendJsonApiError(reply, error)
    }
  }

  // Keyed by the route's config object (one per route, made by Fastify): the decision is made
  // on a route's first request, later requests cost one lookup.
  const decisions = new WeakMap<object, Protection>()

  return {
    // Hands back stepUp's promise rather than awaiting it: one promise and one microtask less.
    requireMfa: function requireMfa (request, reply) {
      return stepUp(request, reply, false)
    },

    // Callback style, so that a route with nothing to guard costs no promise.
    protectedResources: function protectedResourcesGuard (request, reply, done) {
      const route = request.routeOptions.config
      let protection = decisions.get(route)
      // Stryker disable next-line ConditionalExpression: a cache; deciding again gives the same decision.
      if (protection === undefined) {
        protection = protectionOf(route, protectedResources)
        decisions.set(route, protection)
      }
      if (protection === NONE || (protection === MIXED && SAFE_METHODS.has(request.method))) {
        done()
        return
      }
      // stepUp answers every failure itself; done (resolved with undefined) goes on unless it did.
      stepUp(request, reply, true).then(done as () => void, done)
    }
  }
}

/**
 * Where the plugin leaves its guard on the instance it is registered on: `Symbol.for`, so that
 * the ESM and CommonJS builds of the package find each other's registration.
 */
export const kGuard = Symbol.for('fastify-glue-mfa.guard')

async function notRegistered (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  request.log.error(`fastify-glue-mfa is not registered in the scope of ${request.method} ${request.routeOptions.url as string}: register the plugin (await app.register(glueMfa, …)) in this route's scope or a parent of it`)
  await sendJsonApiError(reply, { status: 500, detail: 'Internal server error.' })
}

/**
 * `requireMfa` as a named export: a route hook that exists before the plugin is registered, and
 * finds the registration of the route's scope (or a parent) when a request comes. Without one it
 * answers a JSON:API 500, never a pass.
 */
export const requireMfa: preHandlerAsyncHookHandler = function requireMfa (request, reply) {
  const guard = (request.server as unknown as Record<symbol, Guard | undefined>)[kGuard]
  return guard === undefined ? notRegistered(request, reply) : guard.requireMfa.call(request.server, request, reply)
}
