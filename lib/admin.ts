import type { FastifyBaseLogger } from 'fastify'
import { createEmitter } from './events.js'
import type { ResolvedOptions } from './options.js'
import type { Principal } from './principal.js'
import type { MfaService } from './service.js'
import type { MfaStatus } from './status.js'

/** One MFA type of a principal as support sees it: never a secret or a code. */
export interface AdminTypeStatus {
  type: string
  status: MfaStatus
  /** Recovery codes: how many unused codes are left (0 while the type is not pending or enabled). */
  remaining?: number
}

export interface AdminResetOptions {
  /** The one type to disable; every type of the principal when absent. */
  type?: string
}

/**
 * The support side of one registration (`fastify.glueMfa`): what a back office needs when a user
 * lost a factor, is locked out, or ends a session. Each call takes the principal as the
 * `principal` option maps it (an object with a non-empty string `id`) or its id, and emits an
 * event; none answers a secret or a code. Calls are not authorised here: put them behind your
 * own admin authentication and step-up (`requireMfa`).
 */
export interface GlueMfaAdmin {
  /** Every type in the order the list endpoint shows them (providers, then stored types no longer registered). */
  status: (principal: Principal | string) => Promise<AdminTypeStatus[]>
  /**
   * Disables `type` (every type when absent), dropping its codes, secrets and TOTP steps, and
   * clears the principal's lockout (count and level, of the principal and of every token). When
   * no other factor is left enabled, recovery codes go too (they back up nothing), as when the
   * user deactivates the last one. Answers the types it disabled, in list order.
   */
  reset: (principal: Principal | string, options?: AdminResetOptions) => Promise<string[]>
  /** Clears the principal's lockout (count and level, of the principal and of every token), and nothing else. */
  unlock: (principal: Principal | string) => Promise<void>
  /**
   * Invalidates every delivered code still stored for the principal, a used one in its grace
   * reuse too (for hosts that end codes at sign-in or sign-out). Send cooldowns stay.
   */
  revokeCodes: (principal: Principal | string) => Promise<void>
}

/** The principal a call names, or a TypeError naming the argument. */
function principalOf (method: string, value: unknown): Principal {
  if (typeof value === 'string' && value !== '') return { id: value }
  const id = (value as { id?: unknown } | null)?.id
  if (typeof value === 'object' && typeof id === 'string' && id !== '') return value as Principal
  throw new TypeError(`glueMfa.${method}: "principal" must be a principal object with a non-empty string "id", or a non-empty id string`)
}

/** Whom an event names: the principal object when the call was given one (onEvent gets it), else the id. */
function who (value: Principal | string, principal: Principal): Principal | string {
  return typeof value === 'string' ? principal.id : principal
}

function typeOf (options: unknown): string | null {
  if (options === undefined) return null
  if (typeof options !== 'object' || options === null) throw new TypeError('glueMfa.reset: "options" must be an object such as { type: \'email\' }')
  const { type } = options as { type?: unknown }
  if (type === undefined) return null
  if (typeof type !== 'string' || type === '') throw new TypeError('glueMfa.reset: "options.type" must be a non-empty string (omit it to reset every type)')
  return type
}

/** The admin API of one registration, on its store, service, and the instance's logger. */
export function createAdmin (options: ResolvedOptions, service: MfaService, log: FastifyBaseLogger): GlueMfaAdmin {
  const { repository } = options
  const emit = createEmitter(options.clock, options.onEvent)

  // List order: registered types in provider order, then types no longer registered by name.
  const registered = new Map(options.providers.map((p, i) => [p.type, i]))
  const rank = (type: string): number => registered.get(type) ?? registered.size
  const ordered = (types: string[]): string[] => [...types].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))

  return {
    async status (value) {
      const principal = principalOf('status', value)
      return await service.status(principal)
    },

    async reset (value, resetOptions) {
      const principal = principalOf('reset', value)
      const type = typeOf(resetOptions)
      const disabled = await repository.reset(principal.id, type)
      if (type !== null && !service.isFallback(type)) disabled.push(...await service.dropLoneFallbacks(principal.id))
      emit(log, 'admin.reset', who(value, principal), type)
      return ordered(disabled)
    },

    async unlock (value) {
      const principal = principalOf('unlock', value)
      await repository.clearLockout(principal.id)
      emit(log, 'admin.unlock', who(value, principal), null)
    },

    async revokeCodes (value) {
      const principal = principalOf('revokeCodes', value)
      await repository.revokeCodes(principal.id)
      emit(log, 'admin.codes_revoked', who(value, principal), null)
    }
  }
}
