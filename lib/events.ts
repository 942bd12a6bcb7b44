import type { FastifyBaseLogger } from 'fastify'
import type { Principal } from './principal.js'

export type MfaEventName =
  | 'code.sent' | 'code.send_failed' | 'code.verified' | 'code.rejected' | 'code.locked_out' | 'code.blocked'
  | 'principal.locked' | 'type.pending' | 'type.enabled' | 'type.disabled'
  | 'stepup.passed' | 'stepup.denied'
  | 'recovery.used'
  | 'passkey.counter_rollback'
  | 'admin.reset' | 'admin.unlock' | 'admin.codes_revoked'

/** An audit event. It never carries a code or a secret. */
export interface MfaEvent {
  name: MfaEventName
  principalId: string
  /**
   * The principal as the `principal` option mapped it (with `email` and whatever else it
   * added), so a host can notify the user without a lookup. Absent when only the id is known.
   * It is passed to `onEvent` only, never logged.
   */
  principal?: Principal
  /** The MFA type concerned; null for events about the principal as a whole. */
  type: string | null
  /** Epoch ms, from the `clock` option. */
  at: number
  /** `recovery.used`: how many recovery codes are left. */
  remaining?: number
}

/** What some events add: `recovery.used` the codes left. */
export interface EventDetail {
  remaining?: number
}

export type EmitEvent = (log: FastifyBaseLogger, name: MfaEventName, who: Principal | string, type: string | null, detail?: EventDetail) => void

/**
 * Sends each event to `onEvent` (if given) and to the request logger at info level. The log
 * line names the principal by id only: whatever else the host mapped into it (an email
 * address) stays out of the logs.
 */
export function createEmitter (clock: () => number, onEvent: ((event: MfaEvent) => void) | undefined): EmitEvent {
  return function emit (log, name, who, type, detail) {
    const principalId = typeof who === 'string' ? who : who.id
    const logged: MfaEvent = { name, principalId, type, at: clock(), ...detail }
    log.info({ mfaEvent: logged }, `mfa ${name}`)
    if (onEvent !== undefined) {
      try {
        onEvent(typeof who === 'string' ? logged : { ...logged, principal: who })
      } catch (err) {
        // An audit sink that throws must not turn a finished MFA step into a failure.
        log.error({ err }, 'fastify-glue-mfa: onEvent failed')
      }
    }
  }
}
