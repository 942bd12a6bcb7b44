// The server the burst attacks (burst.hardening.ts) go against, in the test process
// (memory store) or in a child process (burst-server.ts: SQLite, PostgreSQL): the plugin with
// the email, totp, recovery-codes and passkey types (the passkey on rp id `localhost`, origin
// PASSKEY_ORIGIN: what the test's software authenticator signs for; nothing is served there),
// a protected PATCH /carts/:id, and routes of its own under /burst-test/ from which the test
// reads what happened for a principal:
//   GET /burst-test/codes?principal=ID    the email codes sent to it, oldest first
//   GET /burst-test/events?principal=ID   its onEvent events, and the calls its requests
//                                         made to the repository, by method
//   GET /burst-test/status?principal=ID   the admin API's status (recovery codes: `remaining`)
//   POST /burst-test/unlock?principal=ID  the admin API's unlock (clears its lockout)
// The GETs are registered before the plugin's guard could see them (GET, not protected anyway);
// the POST goes to no protected resource.
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import glueMfa, { emailProvider, passkeyProvider, recoveryCodesProvider, totpProvider, type MfaEvent, type MfaRepository } from '../../lib/index.js'
import { CODE_SECRET, JWT_SECRET } from '../helpers.js'

export const FAILURES = 10
export const MAX_ATTEMPTS = 3
/** Recovery codes one activation hands out. */
export const RECOVERY_COUNT = 10
const MINUTE = 60_000
/** The passkey's relying party: the test's software authenticator signs for this origin. */
export const PASSKEY_RP_ID = 'localhost'
export const PASSKEY_ORIGIN = 'http://localhost:3000'

/** The lockout every burst server runs with: the threshold the attacks are held to. */
export const LOCKOUT = { failures: FAILURES, duration: 15 * MINUTE, maxDuration: 48 * 60 * MINUTE }

export const BURST_OPTIONS = {
  maxAttempts: MAX_ATTEMPTS,
  resendCooldown: 0,
  protectedResources: ['carts']
}

/** What the test reads back for one principal. */
export interface PrincipalRecord {
  codes: string[]
  events: MfaEvent[]
  /** Repository calls made for the principal, by method name. */
  calls: Record<string, number>
}

export class BurstLedger {
  readonly #principals = new Map<string, PrincipalRecord>()

  of (principalId: string): PrincipalRecord {
    let found = this.#principals.get(principalId)
    if (found === undefined) {
      found = { codes: [], events: [], calls: {} }
      this.#principals.set(principalId, found)
    }
    return found
  }

  /** `repository` with every call counted on its principal (each method's first argument). */
  counting (repository: MfaRepository): MfaRepository {
    const wrapped: Record<string, unknown> = {}
    const names = new Set<string>()
    for (let o: object | null = repository; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
      for (const name of Object.getOwnPropertyNames(o)) if (name !== 'constructor') names.add(name)
    }
    for (const name of names) {
      const method = (repository as unknown as Record<string, unknown>)[name]
      if (typeof method !== 'function') continue
      wrapped[name] = (...args: unknown[]) => {
        if (typeof args[0] === 'string') {
          const calls = this.of(args[0]).calls
          calls[name] = (calls[name] ?? 0) + 1
        }
        return (method as (...a: unknown[]) => unknown).apply(repository, args)
      }
    }
    return wrapped as unknown as MfaRepository
  }
}

/** A listening-ready app on `repository`; `ledger` records its codes, events and calls. */
export async function buildBurstApp (repository: MfaRepository, ledger: BurstLedger): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(fastifyJwt, { secret: JWT_SECRET })
  const principalOf = (request: { query: unknown }): string => String((request.query as Record<string, unknown>).principal)
  app.get('/burst-test/codes', async (request) => ledger.of(principalOf(request)).codes)
  app.get('/burst-test/events', async (request) => {
    const { events, calls } = ledger.of(principalOf(request))
    return { events, calls }
  })
  app.get('/burst-test/status', async (request) => await app.glueMfa.status(principalOf(request)))
  app.post('/burst-test/unlock', async (request, reply) => {
    await app.glueMfa.unlock(principalOf(request))
    return await reply.code(204).send()
  })
  await app.register(glueMfa, {
    ...BURST_OPTIONS,
    principalLockout: LOCKOUT,
    providers: [
      emailProvider({ send: async ({ principal, code }) => { ledger.of(principal.id).codes.push(code) } }),
      totpProvider({ issuer: 'Burst' }),
      recoveryCodesProvider({ count: RECOVERY_COUNT }),
      passkeyProvider({ rpName: 'Burst', rpID: PASSKEY_RP_ID, origin: PASSKEY_ORIGIN })
    ],
    repository: ledger.counting(repository),
    codeSecret: CODE_SECRET,
    onEvent: (event) => { ledger.of(event.principalId).events.push(event) }
  })
  app.patch('/carts/:id', async (_request, reply) => await reply.code(204).send())
  return app
}
