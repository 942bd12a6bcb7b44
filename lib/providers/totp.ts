import { generateSecret, verifySync, type HashAlgorithm, type VerifyResult } from 'otplib'
import { integer, invalidOption, nonEmptyString, optionalFunction } from '../option-checks.js'
import type { Principal } from '../principal.js'
import type { ComputedCodeProvider } from './types.js'

export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512' | 'sha1' | 'sha256' | 'sha512'

export interface TotpProviderOptions {
  /** Shown by authenticator apps as the account's issuer (your product's name); not empty. */
  issuer: string
  /**
   * Digits of a code, 6 to 8.
   * @default 6
   */
  digits?: number
  /**
   * Time step in seconds, 1 to 3600: how long each code of the app lasts.
   * @default 30
   */
  period?: number
  /**
   * HMAC hash of the codes, `'SHA1'`, `'SHA256'` or `'SHA512'` (lower case works too); most
   * authenticator apps only support SHA1.
   * @default 'SHA1'
   */
  algorithm?: TotpAlgorithm
  /**
   * Time steps accepted either side of the current one, 0 to 10 (clock drift, slow typing).
   * Each step is accepted once only.
   * @default 1
   */
  window?: number
  /**
   * The MFA type name clients send in `attributes.type`: lower-case letters, digits, `-`, `_`,
   * at most 64 characters. Change it only to register two authenticator types.
   * @default 'totp'
   */
  type?: string
  /**
   * The account name in the otpauth URI, shown by authenticator apps under the issuer.
   * @default the principal's `email` when it is a non-empty string, else its `id`
   */
  label?: (principal: Principal) => string
}

const ALGORITHMS = new Map<string, HashAlgorithm>([['sha1', 'sha1'], ['sha256', 'sha256'], ['sha512', 'sha512']])
/** otplib refuses longer periods (its MAX_PERIOD guardrail); fail at construction instead. */
const MAX_PERIOD = 3600
/** 20 random bytes = 160 bits, as RFC 4226 §4 recommends (otplib's default too). */
const SECRET_BYTES = 20

function algorithmOf (value: unknown): HashAlgorithm {
  if (value === undefined) return 'sha1'
  const algorithm = typeof value === 'string' ? ALGORITHMS.get(value.toLowerCase()) : undefined
  if (algorithm === undefined) invalidOption('totpProvider.algorithm', 'must be one of "SHA1", "SHA256", "SHA512"')
  return algorithm
}

function defaultLabel (principal: Principal): string {
  return typeof principal.email === 'string' && principal.email !== '' ? principal.email : principal.id
}

/**
 * The `totp` MFA type (RFC 6238 authenticator apps), computed with otplib. The plugin stores
 * the secret encrypted and enforces attempts, lockout and single use of each time step.
 */
export function totpProvider (options: TotpProviderOptions): ComputedCodeProvider {
  const issuer = nonEmptyString(options?.issuer, 'totpProvider.issuer')
  const digits = integer(options.digits, 'totpProvider.digits', 6, 6, 8)
  const period = integer(options.period, 'totpProvider.period', 30, 1, MAX_PERIOD)
  const algorithm = algorithmOf(options.algorithm)
  const window = integer(options.window, 'totpProvider.window', 1, 0, 10)
  const label = optionalFunction(options.label, 'totpProvider.label') ?? defaultLabel
  const codeFormat = new RegExp(`^[0-9]{${digits}}$`)
  const uriParameters = `&issuer=${encodeURIComponent(issuer)}&algorithm=${algorithm.toUpperCase()}&digits=${digits}&period=${period}`

  return {
    kind: 'computed',
    type: options.type ?? 'totp',

    // Stryker disable next-line ObjectLiteral: equivalent, otplib's default is also 20 bytes; the length is named so an otplib upgrade cannot change it (tests pin 32 base32 characters).
    createSecret: () => generateSecret({ length: SECRET_BYTES }),

    provisioning (principal, secret) {
      // Issuer and account are encoded separately, so a ':' inside either cannot move the split.
      const account = `${encodeURIComponent(issuer)}:${encodeURIComponent(label(principal))}`
      return { secret, otpauthUri: `otpauth://totp/${account}?secret=${encodeURIComponent(secret)}${uriParameters}` }
    },

    match (secret, code, now) {
      // Anything but exactly `digits` ASCII digits is wrong before any HMAC is computed.
      if (!codeFormat.test(code)) return null
      // otplib's default crypto plugin (noble) is synchronous; its totp result carries the step.
      const result = verifySync({
        secret,
        token: code,
        algorithm,
        digits,
        period,
        epoch: Math.floor(now / 1000),
        epochTolerance: window * period
      }) as VerifyResult
      return result.valid ? result.timeStep : null
    }
  }
}
