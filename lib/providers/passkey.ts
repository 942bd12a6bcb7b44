import type {
  AuthenticationResponseJSON, RegistrationResponseJSON, WebAuthnCredential
} from '@simplewebauthn/server'
import { sameHash, type CodeKeys } from '../codes.js'
import { integer, invalidOption, nonEmptyString, oneOf } from '../option-checks.js'
import { MFA_STATUS } from '../status.js'
import type { FactorKind } from './factor.js'
import type { PasskeyProvider, PasskeyUserVerification } from './types.js'

export interface PasskeyProviderOptions {
  /** The name the browser shows for your site when it asks to create a passkey; not empty. */
  rpName: string
  /**
   * The relying party id: your site's domain (`example.com`, `localhost`), without scheme or
   * port; the origin's host or a parent domain of it. Browsers refuse an IP address.
   */
  rpID: string
  /**
   * The web origin(s) the browser signs for, exactly (`https://example.com`, or
   * `http://localhost:3000` while developing): scheme, host and port.
   */
  origin: string | string[]
  /**
   * The MFA type name clients send in `attributes.type`: lower-case letters, digits, `-`, `_`,
   * at most 64 characters.
   * @default 'passkey'
   */
  type?: string
  /**
   * Whether the authenticator must verify its user (PIN, biometrics): `'required'` refuses a
   * response without it; `'preferred'` asks for it and accepts one without.
   * @default 'preferred'
   */
  userVerification?: PasskeyUserVerification
  /**
   * How long a challenge (the options of an activation or a trigger) can be answered, in
   * milliseconds, 10 s to 30 min.
   * @default 300000
   */
  challengeTtl?: number
}

const USER_VERIFICATION = ['required', 'preferred', 'discouraged'] as const

/** The origin's host, if it is an origin (scheme, host, optional port; nothing else), else null. */
function hostOf (origin: string): string | null {
  try {
    const url = new URL(origin)
    if (url.origin !== origin) return null
    return url.protocol === 'https:' || (url.protocol === 'http:' && url.hostname === 'localhost') ? url.hostname : null
  } catch {
    return null
  }
}

/**
 * A passkey (WebAuthn) as an MFA type, on `@simplewebauthn/server`: activation answers the
 * registration options, verify takes the browser's registration response; an enabled passkey's
 * trigger answers a fresh challenge, and the signed assertion passes wherever a code is asked
 * for. Responses travel in `X-MFA-Code` as base64url-encoded JSON.
 */
export function passkeyProvider (options: PasskeyProviderOptions): PasskeyProvider {
  const rpName = nonEmptyString(options?.rpName, 'passkeyProvider.rpName')
  const rpID = nonEmptyString(options.rpID, 'passkeyProvider.rpID')
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(rpID) || /^[0-9.]+$/.test(rpID)) {
    invalidOption('passkeyProvider.rpID', 'must be a domain name in lower case, without scheme, port or path (not an IP address)')
  }
  const origins = typeof options.origin === 'string' ? [options.origin] : options.origin
  if (!Array.isArray(origins) || origins.length === 0) invalidOption('passkeyProvider.origin', 'must be an origin or a non-empty list of origins')
  for (const origin of origins) {
    // Stryker disable next-line ConditionalExpression: hostOf refuses a non-string too (its origin never equals one).
    const host = typeof origin === 'string' ? hostOf(origin) : null
    if (host === null) invalidOption('passkeyProvider.origin', `must be https://<host>[:port] or http://localhost[:port], got ${JSON.stringify(origin)}`)
    if (host !== rpID && !host.endsWith(`.${rpID}`)) invalidOption('passkeyProvider.origin', `must be on rpID "${rpID}" or a subdomain of it, got "${origin}"`)
  }
  return {
    kind: 'passkey',
    type: options.type ?? 'passkey',
    rpName,
    rpID,
    origin: [...origins],
    userVerification: oneOf(options.userVerification, 'passkeyProvider.userVerification', USER_VERIFICATION, 'preferred'),
    challengeTtl: integer(options.challengeTtl, 'passkeyProvider.challengeTtl', 300_000, 10_000, 1_800_000)
  }
}

/** What is stored of a registered passkey, sealed in the type's `secret`. */
interface StoredPasskey {
  /** The credential id, base64url. */
  id: string
  /** The COSE public key, base64url. */
  publicKey: string
  /** The signature counter last seen (0 for authenticators that keep none). */
  counter: number
  transports?: WebAuthnCredential['transports']
}

/** The two ceremonies a challenge is bound to: a challenge of one never answers the other. */
type Ceremony = 'registration' | 'authentication'

/** base64url, its padding tolerated (a client that encodes with btoa may leave it). */
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/

/** A response as the browser gave it (base64url of its JSON), or null when the code cannot be one. */
export function decodeResponse (code: string): Record<string, unknown> | null {
  if (!BASE64URL.test(code)) return null
  try {
    const value: unknown = JSON.parse(Buffer.from(code, 'base64url').toString('utf8'))
    // Stryker disable next-line ConditionalExpression: JSON null answers itself, null, either way.
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : null
  } catch {
    return null
  }
}

/** A response in the form `X-MFA-Code` carries it: base64url of its JSON. */
export function encodeResponse (response: object): string {
  return Buffer.from(JSON.stringify(response)).toString('base64url')
}

/**
 * What is stored of a challenge: its keyed hash, bound to principal, type and ceremony, as a
 * delivered code is stored (the challenge itself is never kept).
 */
export function challengeHash (keys: CodeKeys, principalId: string, type: string, ceremony: Ceremony, challenge: string): string {
  return keys.hash(principalId, type, `${ceremony}:${challenge}`)
}

/**
 * Passkeys: a challenge is stored like a code (keyed hash, expiry, attempts) and answered once:
 * the store's accept drops it and stores the passkey (registration) or its new signature counter
 * (authentication) in the same atomic step. The signature is checked by @simplewebauthn/server.
 */
export const passkeyKind: FactorKind<PasskeyProvider> = {
  methods: [],
  create (provider, tools) {
    const { repository, keys } = tools
    const { type, rpName, rpID, origin, userVerification, challengeTtl } = provider
    // Loaded once the type is registered (about 0.4 s), not when the package is imported.
    const webauthn = import('@simplewebauthn/server')
    const requireUserVerification = userVerification === 'required'

    function seal (principalId: string, passkey: StoredPasskey): string {
      return keys.seal(principalId, type, JSON.stringify(passkey))
    }

    function open (principalId: string, secret: string | null): StoredPasskey | null {
      const opened = secret === null ? null : keys.open(principalId, type, secret)
      // Stryker disable next-line ConditionalExpression: JSON.parse(null) is null too.
      return opened === null ? null : JSON.parse(opened) as StoredPasskey
    }

    /** Stored challenges are hashes, so the library is given a test instead of the challenge. */
    function isChallenge (principalId: string, ceremony: Ceremony, storedHash: string) {
      return (challenge: string): boolean => sameHash(storedHash, challengeHash(keys, principalId, type, ceremony, challenge))
    }

    return {
      type,

      async start ({ principal, now }) {
        const { generateRegistrationOptions } = await webauthn
        const userName = typeof principal.email === 'string' && principal.email !== '' ? principal.email : principal.id
        const options = await generateRegistrationOptions({
          rpName,
          rpID,
          userName,
          userDisplayName: userName,
          // A stable handle that does not show the principal's id to the authenticator.
          userID: Buffer.from(keys.hash(principal.id, type, 'user-handle'), 'hex'),
          attestationType: 'none',
          authenticatorSelection: { residentKey: 'preferred', userVerification },
          timeout: challengeTtl
        })
        const code = { hash: challengeHash(keys, principal.id, type, 'registration', options.challenge), expiresAt: now + challengeTtl }
        if (!(await repository.beginActivation(principal.id, type, null, code))) return null
        return { provisioning: { options: options as unknown as Record<string, unknown> }, delivery: 'none' }
      },

      async resend ({ principal, record, now }) {
        const { generateAuthenticationOptions } = await webauthn
        const passkey = open(principal.id, record.secret)
        const options = await generateAuthenticationOptions({
          rpID,
          allowCredentials: passkey === null ? [] : [{ id: passkey.id, transports: passkey.transports }],
          userVerification,
          timeout: challengeTtl
        })
        await repository.storeCode(principal.id, type, {
          hash: challengeHash(keys, principal.id, type, 'authentication', options.challenge),
          expiresAt: now + challengeTtl
        })
        return { provisioning: { options: options as unknown as Record<string, unknown> } }
      },

      async prove (principalId, record, code, now, context) {
        const stored = record.code
        if (stored === null || now >= stored.expiresAt || stored.attempts >= tools.maxAttempts) return null
        const response = decodeResponse(code)
        if (response === null) return null
        const lib = await webauthn
        if (record.status === MFA_STATUS.PENDING) {
          const result = await lib.verifyRegistrationResponse({
            response: response as unknown as RegistrationResponseJSON,
            expectedChallenge: isChallenge(principalId, 'registration', stored.hash),
            expectedOrigin: origin,
            expectedRPID: rpID,
            requireUserVerification
          }).catch(() => null)
          if (result === null || !result.verified) return null
          const { credential } = result.registrationInfo
          const passkey: StoredPasskey = {
            id: credential.id,
            publicKey: Buffer.from(credential.publicKey).toString('base64url'),
            counter: credential.counter,
            transports: credential.transports
          }
          return { challenge: stored.hash, secret: seal(principalId, passkey) }
        }
        const passkey = open(principalId, record.secret)
        if (passkey === null || response.id !== passkey.id) return null
        const result = await lib.verifyAuthenticationResponse({
          response: response as unknown as AuthenticationResponseJSON,
          expectedChallenge: isChallenge(principalId, 'authentication', stored.hash),
          expectedOrigin: origin,
          expectedRPID: rpID,
          // The counter is checked below, so that a rollback is told apart from a bad signature.
          credential: { id: passkey.id, publicKey: Buffer.from(passkey.publicKey, 'base64url'), counter: 0, transports: passkey.transports },
          requireUserVerification
        }).catch(() => null)
        if (result === null || !result.verified) return null
        const counter = result.authenticationInfo.newCounter
        // A counter that does not grow (where the authenticator keeps one) is a cloned authenticator's sign.
        // Stryker disable next-line ConditionalExpression: with a stored 0, a counter above 0 is never <= it.
        if ((counter > 0 || passkey.counter > 0) && counter <= passkey.counter) {
          if (context !== undefined) tools.emit(context.log, 'passkey.counter_rollback', context.principal, type)
          return null
        }
        return { challenge: stored.hash, secret: seal(principalId, { ...passkey, counter }) }
      },

      countsAttempts: (record) => record.code !== null
    }
  }
}
