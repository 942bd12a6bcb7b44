/**
 * One MFA surface: its own @fastify/jwt and its own fastify-glue-mfa registration, with the
 * email, TOTP, passkey and recovery-code types. @fastify/jwt and the plugin each decorate once per context, so each
 * surface lives in an encapsulated plugin of its own (the storefront and the back office).
 */
import { createHmac } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import glueMfa, { emailProvider, passkeyProvider, recoveryCodesProvider, totpProvider, type CodeMessage, type MfaEvent, type MfaRepository, type MfaProvider, type Principal } from '../../lib/index.js'

/** What the app hands every surface. */
export interface SurfaceSettings {
  /** The app's token key; each surface signs with a key of its own, derived from it. */
  jwtSecret: string
  codeSecret: string
  repository: MfaRepository
  /** The email type's delivery. */
  send: (message: CodeMessage) => Promise<void>
  rateLimit: { max: number, timeWindow: number } | false
  clock: () => number
  /** The plugin's audit events (`onEvent`): the app tells users about changes to their MFA. */
  notify: (event: MfaEvent) => void
  /** The passkey type's relying party (rpID, the page's origin), or false: no passkey type. */
  passkey: { rpID: string, origin: string } | false
}

export interface MfaSurface extends SurfaceSettings {
  surface: 'storefront' | 'backend'
  /** Where the five MFA routes are mounted [/]. */
  prefix?: string
  /** Lifetime of the surface's access tokens (seconds). */
  tokenTtl: number
  findPrincipal: (principal: Principal) => boolean
  /** Resource types whose writes need a code once MFA is enabled. */
  protectedResources?: string[]
}

/** The principal the plugin reads from a demo token: `{ sub, email }`. */
function principalOf (payload: any): Principal | null {
  return typeof payload?.sub === 'string' ? { id: payload.sub, email: payload.email } : null
}

/** The types of a surface, in the order the list shows them. */
function providersOf (surface: MfaSurface): MfaProvider[] {
  const { passkey } = surface
  return [
    emailProvider({ send: surface.send }),
    totpProvider({ issuer: 'Glue MFA demo' }),
    ...(passkey === false ? [] : [passkeyProvider({ rpName: surface.surface === 'backend' ? 'Glue MFA demo back office' : 'Glue MFA demo', ...passkey })]),
    recoveryCodesProvider()
  ]
}

export async function registerMfaSurface (scope: FastifyInstance, surface: MfaSurface): Promise<void> {
  await scope.register(fastifyJwt, {
    secret: createHmac('sha256', surface.jwtSecret).update(surface.surface).digest(),
    sign: { expiresIn: surface.tokenTtl }
  })
  await scope.register(glueMfa, {
    surface: surface.surface,
    ...(surface.prefix === undefined ? {} : { prefix: surface.prefix }),
    providers: providersOf(surface),
    repository: surface.repository,
    codeSecret: surface.codeSecret,
    principal: principalOf,
    findPrincipal: surface.findPrincipal,
    ...(surface.protectedResources === undefined ? {} : { protectedResources: surface.protectedResources }),
    resendCooldown: 10_000,
    rateLimit: surface.rateLimit,
    clock: surface.clock,
    onEvent: surface.notify
  })
}
