import type { FastifyRequest } from 'fastify'
import type {} from '@fastify/jwt'
import { MfaErrors } from './errors.js'
import type { ResolvedOptions } from './options.js'

/** Who is asking: what the `principal` option made of the verified JWT payload. */
export interface Principal {
  id: string
  email?: string
  [key: string]: unknown
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated principal; null until fastify-glue-mfa has authenticated the request. */
    principal: Principal | null
  }
}

/**
 * Authentication shared by the MFA routes and the step-up guard, in the order of spec §4:
 * `verifyToken` (002/001) runs in onRequest, `requirePrincipal` (5905/5909, 5907/5908) after
 * the body has been validated.
 */
export interface Authenticator {
  hasToken: (request: FastifyRequest) => boolean
  /** The verified token's `jti` (its own lockout counter), or null when it has none. */
  tokenIdOf: (request: FastifyRequest) => string | null
  verifyToken: (request: FastifyRequest) => Promise<void>
  requirePrincipal: (request: FastifyRequest) => Promise<Principal>
}

export function createAuthenticator (options: ResolvedOptions): Authenticator {
  const backend = options.surface === 'backend'
  const NoIdentifier = backend ? MfaErrors.NoUserIdentifier : MfaErrors.NoCustomerIdentifier
  const NotFound = backend ? MfaErrors.UserNotFound : MfaErrors.CustomerNotFound
  const { principal: mapPrincipal, findPrincipal } = options
  const tokenIds = new WeakMap<FastifyRequest, string>()

  function hasToken (request: FastifyRequest): boolean {
    const header = request.headers.authorization
    return typeof header === 'string' && header.trim() !== ''
  }

  return {
    hasToken,

    tokenIdOf (request) {
      return tokenIds.get(request) ?? null
    },

    async verifyToken (request) {
      if (!hasToken(request)) throw new MfaErrors.MissingAccessToken()
      let payload: unknown
      try {
        // @fastify/jwt (fast-jwt) only accepts the algorithms its key allows: never `none`,
        // never an HMAC token checked against a public key.
        payload = await request.jwtVerify()
      } catch {
        throw new MfaErrors.InvalidAccessToken()
      }
      const jti = (payload as { jti?: unknown } | null)?.jti
      if (typeof jti === 'string' && jti !== '') tokenIds.set(request, jti)
      const principal = mapPrincipal(payload, request)
      request.principal = principal !== null && principal !== undefined && typeof principal.id === 'string' && principal.id !== ''
        ? principal
        : null
    },

    async requirePrincipal (request) {
      const principal = request.principal
      if (principal === null) throw new NoIdentifier()
      if (findPrincipal !== undefined && !(await findPrincipal(principal))) throw new NotFound()
      return principal
    }
  }
}
