/**
 * A sample third-party MFA type: codes by text message. It is written only against the
 * package's exported types, as a provider living in another package would be: the plugin
 * generates, hashes, expires and counts the codes; the provider only delivers them.
 *
 *   await app.register(glueMfa, {
 *     providers: [emailProvider({ send }), smsProvider({ sender: 'Acme', sendSms: (sms) => twilio.send(sms) })],
 *     principal: (payload) => ({ id: payload.sub, phone: payload.phone_number }),
 *     …
 *   })
 */
import { InvalidOptionError, type CodeMessage, type DeliveredCodeProvider, type Principal } from '../lib/index.js'

/** One text message, as an SMS gateway takes it. */
export interface SmsMessage {
  /** E.164 number, e.g. +4915112345678. */
  to: string
  text: string
}

export interface SmsProviderOptions {
  /** Your gateway client. A throw or rejection makes the plugin answer 5910. */
  sendSms: (message: SmsMessage) => Promise<void> | void
  /** Shown at the start of the text, so people know who is asking [Verification]. */
  sender?: string
  /** Where a principal's phone number is [principal.phone]. */
  phoneOf?: (principal: Principal) => unknown
  /** The type name [sms]. */
  type?: string
}

const E164 = /^\+[1-9][0-9]{6,14}$/

/** The `sms` MFA type: the plugin's numeric code, sent as a text message. */
export function smsProvider (options: SmsProviderOptions): DeliveredCodeProvider {
  if (typeof options?.sendSms !== 'function') throw new InvalidOptionError('smsProvider.sendSms', 'must be a function')
  const { sendSms, sender = 'Verification', phoneOf = (principal: Principal) => principal.phone } = options

  return {
    kind: 'delivered',
    type: options.type ?? 'sms',
    async send ({ principal, code }: CodeMessage): Promise<void> {
      const to = phoneOf(principal)
      // No number to send to is a delivery failure: the plugin answers 5910 and keeps no code.
      if (typeof to !== 'string' || !E164.test(to)) throw new Error('the principal has no valid phone number')
      await sendSms({ to, text: `${sender}: ${code} is your verification code. Do not share it with anyone.` })
    }
  }
}
