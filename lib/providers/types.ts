import type { Principal } from '../principal.js'

/** What a delivering provider's `send` receives: the only place a plain code exists. */
export interface CodeMessage {
  principal: Principal
  type: string
  code: string
}

/**
 * A type whose codes the plugin generates and the provider delivers out of band
 * (email, SMS, a push message). The plugin hashes, stores, expires and counts the codes.
 */
export interface DeliveredCodeProvider {
  kind: 'delivered'
  /** The MFA type name clients send in `attributes.type`; unique per plugin registration. */
  type: string
  send: (message: CodeMessage) => Promise<void> | void
}

/**
 * A type whose codes the provider computes from a per-principal secret (TOTP apps).
 * The plugin stores the secret encrypted and enforces attempts, lockout and replay.
 */
export interface ComputedCodeProvider {
  kind: 'computed'
  type: string
  /** A fresh secret for a principal that activates the type (plain; the plugin encrypts it). */
  createSecret: () => string
  /** The attributes of the 201 activate response: what an authenticator app needs. */
  provisioning: (principal: Principal, secret: string) => Record<string, string>
  /**
   * The time step whose code equals `code`, looking `window` steps around `now`, or null.
   * The plugin accepts a step once only (replay protection).
   */
  match: (secret: string, code: string, now: number) => number | null
}

/**
 * Saved single-use codes, a fallback for a lost factor (`recoveryCodesProvider()`): never the
 * only enabled type, shown once at activation, stored only as keyed hashes, each accepted once
 * wherever a code of an enabled type is asked for.
 */
export interface RecoveryCodesProvider {
  kind: 'recovery'
  type: string
  /** How many codes one activation hands out. */
  count: number
}

export type PasskeyUserVerification = 'required' | 'preferred' | 'discouraged'

/**
 * A passkey (WebAuthn, `passkeyProvider()`): the browser signs a single-use challenge with a key
 * that never leaves the authenticator; the plugin stores the public key and signature counter.
 */
export interface PasskeyProvider {
  kind: 'passkey'
  type: string
  /** The site's name, shown by the browser. */
  rpName: string
  /** The relying party id: the site's domain. */
  rpID: string
  /** The origins a response may come from. */
  origin: string[]
  userVerification: PasskeyUserVerification
  /** ms a challenge can be answered. */
  challengeTtl: number
}

export type MfaProvider = DeliveredCodeProvider | ComputedCodeProvider | RecoveryCodesProvider | PasskeyProvider
