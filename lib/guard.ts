import type { FastifyError, FastifyReply, FastifyRequest, RouteOptions, preHandlerAsyncHookHandler } from 'fastify'
import { MfaErrors, sendJsonApiError, toJsonApiError } from './errors.js'
import type { Authenticator, Principal } from './principal.js'
import { codeHeader } from './routes/action.js'
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

export interface Guard {
  /** `fastify.requireMfa`: always needs a valid token, then the step-up check. */
  requireMfa: preHandlerAsyncHookHandler
  /** onRoute hook: attaches the step-up check to writes on `protectedResources`. */
  onRoute: (route: RouteOptions) => void
}

/** The step-up guard of spec §7, answering its own errors as JSON:API documents. */
export function createGuard (auth: Authenticator, service: MfaService, protectedResources: Set<string>): Guard {
  async function stepUp (request: FastifyRequest, reply: FastifyReply, anonymousPasses: boolean): Promise<void> {
    try {
      if (request.principal === null) {
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
      await service.stepUp(request.log, principal, codeHeader(request))
    } catch (err) {
      const error = toJsonApiError(err as FastifyError)
      if (error.status >= 500) request.log.error({ err }, 'fastify-glue-mfa: step-up failed')
      // Answer here, so a host's own error handler never reshapes a Glue error.
      await sendJsonApiError(reply, error)
    }
  }

  // Hooks that hand back stepUp's promise, rather than async wrappers awaiting it: one promise
  // and one microtask less on every protected request.
  const protectedStepUp: preHandlerAsyncHookHandler = function (request, reply) {
    return SAFE_METHODS.has(request.method) ? Promise.resolve() : stepUp(request, reply, true)
  }

  return {
    // Every method it is attached to, reads included.
    requireMfa: function requireMfa (request, reply) {
      return stepUp(request, reply, false)
    },
    onRoute (route) {
      const resource = resourceTypeOf(route.url)
      if (resource === null || !protectedResources.has(resource)) return
      const methods = Array.isArray(route.method) ? route.method : [route.method]
      if (methods.every((m) => SAFE_METHODS.has(m.toUpperCase()))) return
      const existing = route.preHandler
      route.preHandler = existing === undefined
        ? [protectedStepUp]
        : [...(Array.isArray(existing) ? existing : [existing]), protectedStepUp]
    }
  }
}
