import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { isoCBOR } from '@simplewebauthn/server/helpers'
import { encodeResponse } from '../lib/providers/passkey.js'

// A software authenticator for the tests: a P-256 key pair from node:crypto, "none" attestation,
// and responses built byte by byte as the WebAuthn spec lays them out, so the plugin is tested
// against what a browser sends, not against the library's own helpers.

const b64url = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url')
const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest()

/** Flags of authenticator data: user present, user verified, attested credential data included. */
const UP = 0x01
const UV = 0x04
const AT = 0x40

export interface CeremonyOverrides {
  /** The origin the "browser" signs for (default: the authenticator's). */
  origin?: string
  /** The rp id whose hash goes in the authenticator data (default: the authenticator's). */
  rpID?: string
  /** A challenge other than the options' one. */
  challenge?: string
  /** The clientData type (default: webauthn.create or webauthn.get). */
  clientType?: string
  /** The signature counter to report (default: the authenticator's next one). */
  counter?: number
  /** Leave out the user-verified flag. */
  noUserVerification?: boolean
  /** Sign with this key instead of the authenticator's own (a forged assertion). */
  signingKey?: KeyObject
}

export class SoftAuthenticator {
  readonly credentialId = randomBytes(16)
  readonly keys = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  /** The counter the next assertion reports; `counterStep` 0 makes an authenticator that keeps none. */
  counter = 0

  constructor (readonly rpID: string, readonly origin: string, readonly counterStep = 1) {}

  get id (): string {
    return b64url(this.credentialId)
  }

  #clientData (type: string, challenge: string, overrides: CeremonyOverrides): string {
    return JSON.stringify({ type: overrides.clientType ?? type, challenge: overrides.challenge ?? challenge, origin: overrides.origin ?? this.origin, crossOrigin: false })
  }

  #authData (flags: number, counter: number, overrides: CeremonyOverrides, attested = Buffer.alloc(0)): Buffer {
    const count = Buffer.alloc(4)
    count.writeUInt32BE(counter)
    const uv = overrides.noUserVerification === true ? 0 : UV
    return Buffer.concat([sha256(overrides.rpID ?? this.rpID), Buffer.from([flags | uv]), count, attested])
  }

  /** The COSE_Key of the public key (EC2, P-256, ES256). */
  #coseKey (): Uint8Array {
    const jwk = this.keys.publicKey.export({ format: 'jwk' })
    return isoCBOR.encode(new Map<number, number | Uint8Array>([
      [1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x as string, 'base64url')], [-3, Buffer.from(jwk.y as string, 'base64url')]
    ]))
  }

  /** navigator.credentials.create(): the registration response for `options` (its challenge). */
  register (options: { challenge: string }, overrides: CeremonyOverrides = {}): Record<string, unknown> {
    const idLength = Buffer.alloc(2)
    idLength.writeUInt16BE(this.credentialId.length)
    const attested = Buffer.concat([Buffer.alloc(16), idLength, this.credentialId, this.#coseKey()])
    const authData = this.#authData(UP | AT, overrides.counter ?? 0, overrides, attested)
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]) as never)
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(this.#clientData('webauthn.create', options.challenge, overrides)),
        attestationObject: b64url(attestationObject),
        transports: ['internal']
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform'
    }
  }

  /** navigator.credentials.get(): the assertion for `options` (its challenge), counter advanced. */
  assert (options: { challenge: string }, overrides: CeremonyOverrides = {}): Record<string, unknown> {
    if (overrides.counter === undefined) this.counter += this.counterStep
    const authData = this.#authData(UP, overrides.counter ?? this.counter, overrides)
    const clientData = this.#clientData('webauthn.get', options.challenge, overrides)
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientData)]), overrides.signingKey ?? this.keys.privateKey)
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientData),
        authenticatorData: b64url(authData),
        signature: b64url(signature)
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform'
    }
  }
}

/** A response as `X-MFA-Code` carries it. */
export const header = (response: Record<string, unknown>): string => encodeResponse(response)
