import type { FastifyBaseLogger } from 'fastify'

export type MfaEventName =
  | 'code.sent' | 'code.send_failed' | 'code.verified' | 'code.rejected' | 'code.locked_out' | 'code.blocked'
  | 'principal.locked' | 'type.pending' | 'type.enabled' | 'type.disabled'
  | 'stepup.passed' | 'stepup.denied'

/** An audit event. It never carries a code or a secret. */
export interface MfaEvent {
  name: MfaEventName
  principalId: string
  /** The MFA type concerned; null for events about the principal as a whole. */
  type: string | null
  /** Epoch ms, from the `clock` option. */
  at: number
}

export type EmitEvent = (log: FastifyBaseLogger, name: MfaEventName, principalId: string, type: string | null) => void

/** Sends each event to `onEvent` (if given) and to the request logger at info level. */
export function createEmitter (clock: () => number, onEvent: ((event: MfaEvent) => void) | undefined): EmitEvent {
  return function emit (log, name, principalId, type) {
    const event: MfaEvent = { name, principalId, type, at: clock() }
    log.info({ mfaEvent: event }, `mfa ${name}`)
    if (onEvent !== undefined) {
      try {
        onEvent(event)
      } catch (err) {
        // An audit sink that throws must not turn a finished MFA step into a failure.
        log.error({ err }, 'fastify-glue-mfa: onEvent failed')
      }
    }
  }
}
