import { InvalidOptionError } from '../errors.js'
import type { CodeMessage, DeliveredCodeProvider } from './types.js'

export interface EmailProviderOptions {
  /**
   * Delivers the code (your mailer): `({ principal, type, code }) => Promise<void> | void`. The
   * only place a plain code exists. A throw or rejection answers 5910 and keeps no usable code.
   */
  send: (message: CodeMessage) => Promise<void> | void
  /**
   * The MFA type name clients send in `attributes.type`: lower-case letters, digits, `-`, `_`,
   * at most 64 characters. Change it only to register two mail-like types.
   * @default 'email'
   */
  type?: string
}

/** The `email` MFA type: the plugin generates numeric codes, `send` delivers them. */
export function emailProvider (options: EmailProviderOptions): DeliveredCodeProvider {
  if (typeof options?.send !== 'function') throw new InvalidOptionError('emailProvider.send', 'must be a function')
  return { kind: 'delivered', type: options.type ?? 'email', send: options.send }
}
