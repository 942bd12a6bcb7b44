import type { FastifyRequest } from 'fastify'
import type {} from '@fastify/jwt'
import { CodeTooLongError, MfaErrors } from './errors.js'

/** Who is asking: what the `principal` option made of the verified JWT payload. */
export interface Principal {
  id: string
  email?: string
  [key: string]: unknown
}

/**
 * Authentication shared by the MFA routes and the step-up guard, in the order of the error catalogue:
 * `verifyToken` (002/001) runs in onRequest, `requirePrincipal` (5905/5909, 5907/5908) after
 * the body has been validated.
 */
export interface Authenticator {
  /** The verified token's `jti` (its own lockout counter), or null when it has none. */
  tokenIdOf: (request: FastifyRequest) => string | null
  /** When the verified token's holder signed in (epoch ms): its `auth_time`, else its `iat`; null with neither. */
  signedInAt: (request: FastifyRequest) => number | null
  verifyToken: (request: FastifyRequest) => Promise<void>
  requirePrincipal: (request: FastifyRequest) => Promise<Principal>
}

/** @fastify/jwt's errors (from its `lookupToken`) that mean "there is no token where it looks". */
const NO_TOKEN = new Set([
  'FST_JWT_NO_AUTHORIZATION_IN_HEADER', // no `Authorization: Bearer …` and no cookie option
  'FST_JWT_NO_AUTHORIZATION_IN_COOKIE', // no cookie of that name (or a signed one that fails to unsign)
  'FST_JWT_BAD_COOKIE_REQUEST' // a cookie option, but no @fastify/cookie to parse cookies
])

/** What authentication needs to know: the three options it reads, and the host's @fastify/jwt. */
export interface AuthenticatorOptions {
  /** The back-office surface answers the user errors (5909, 5908), the storefront the customer ones (5905, 5907). */
  backend: boolean
  /** The `principal` option: maps the verified JWT payload to a principal. */
  principal: (payload: any, request: FastifyRequest) => Principal | null | undefined
  /** The `findPrincipal` option, if given. */
  findPrincipal: ((principal: Principal) => boolean | Promise<boolean>) | undefined
  /** Whether the host's @fastify/jwt has a `verify.extractToken`, which changes what its FST_JWT_BAD_REQUEST means. */
  extractsToken: boolean
}

/**
 * The longest `X-MFA-Code` read (characters, after trimming): a passkey's signed response,
 * base64url-encoded, is the longest valid one (about 1–2 KB); anything longer is refused
 * before any work is done on it.
 */
export const MAX_CODE_LENGTH = 8192

/** The `X-MFA-Code` header, trimmed; '' when absent or blank; 400 when longer than MAX_CODE_LENGTH. */
export function codeHeader (request: FastifyRequest): string {
  const value = request.headers['x-mfa-code']
  if (typeof value !== 'string') return ''
  const code = value.trim()
  if (code.length > MAX_CODE_LENGTH) throw new CodeTooLongError()
  return code
}

export function createAuthenticator ({ backend, principal: mapPrincipal, findPrincipal, extractsToken }: AuthenticatorOptions): Authenticator {
  const NoIdentifier = backend ? MfaErrors.NoUserIdentifier : MfaErrors.NoCustomerIdentifier
  const NotFound = backend ? MfaErrors.UserNotFound : MfaErrors.CustomerNotFound
  const tokenIds = new WeakMap<FastifyRequest, string>()
  const signIns = new WeakMap<FastifyRequest, number>()

  /** Whether @fastify/jwt failed for want of a token where it looks (002), not for a bad one (001). */
  function noToken (err: unknown): boolean {
    const code = (err as { code?: unknown }).code
    // With `verify.extractToken`, FST_JWT_BAD_REQUEST means the extractor found nothing; without
    // it, an `Authorization: Bearer` header that is not `Bearer <token>` (a token, malformed).
    return code === 'FST_JWT_BAD_REQUEST' ? extractsToken : NO_TOKEN.has(code as string)
  }

  return {
    tokenIdOf (request) {
      return tokenIds.get(request) ?? null
    },

    signedInAt (request) {
      return signIns.get(request) ?? null
    },

    async verifyToken (request) {
      let payload: unknown
      try {
        // The token is found where the host's @fastify/jwt looks (header, cookie, extractToken).
        // @fastify/jwt (fast-jwt) only accepts the algorithms its key allows: never `none`,
        // never an HMAC token checked against a public key.
        payload = await request.jwtVerify()
      } catch (err) {
        throw noToken(err) ? new MfaErrors.MissingAccessToken() : new MfaErrors.InvalidAccessToken()
      }
      const { jti, auth_time: authTime, iat } = Object(payload) as { jti?: unknown, auth_time?: unknown, iat?: unknown }
      if (typeof jti === 'string' && jti !== '') tokenIds.set(request, jti)
      const signedIn = typeof authTime === 'number' ? authTime : iat
      // Number.isFinite is false for anything but a finite number: it does not coerce.
      if (Number.isFinite(signedIn)) signIns.set(request, (signedIn as number) * 1000)
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
