import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'

/** A numeric code of `length` digits from the CSPRNG, first digit 1–9. */
export function generateCode (length: number): string {
  let code = String(randomInt(1, 10))
  for (let i = 1; i < length; i++) code += String(randomInt(0, 10))
  return code
}

/**
 * The keys derived from `codeSecret`: an HMAC key for codes at rest and an AES-256-GCM key
 * for provider secrets, separated by HKDF so neither use weakens the other.
 */
export class CodeKeys {
  readonly #hmacKey: Buffer
  readonly #secretKey: Buffer

  // hkdfSync reads a string key as its UTF-8 bytes, as Buffer.from does.
  constructor (codeSecret: string | Buffer) {
    this.#hmacKey = Buffer.from(hkdfSync('sha256', codeSecret, 'fastify-glue-mfa', 'code-hmac', 32))
    this.#secretKey = Buffer.from(hkdfSync('sha256', codeSecret, 'fastify-glue-mfa', 'secret-aes-256-gcm', 32))
  }

  /** HMAC-SHA256 over principal, type and code, JSON-framed so no two triples collide. */
  hash (principalId: string, type: string, code: string): string {
    return createHmac('sha256', this.#hmacKey).update(JSON.stringify([principalId, type, code])).digest('hex')
  }

  /** Encrypts a provider secret as `iv.tag.ciphertext` (base64url), bound to principal and type. */
  seal (principalId: string, type: string, secret: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#secretKey, iv)
    cipher.setAAD(Buffer.from(JSON.stringify([principalId, type])))
    const body = Buffer.concat([cipher.update(Buffer.from(secret)), cipher.final()])
    return [iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url')).join('.')
  }

  /** The secret sealed for this principal and type, or null if it was tampered with or moved. */
  open (principalId: string, type: string, sealed: string): string | null {
    const [iv, tag, body] = sealed.split('.').map((part) => Buffer.from(part, 'base64url'))
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#secretKey, iv)
      decipher.setAAD(Buffer.from(JSON.stringify([principalId, type])))
      decipher.setAuthTag(tag)
      return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8')
    } catch {
      return null
    }
  }
}

/** Constant-time equality of two hex digests. */
export function sameHash (a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex')
  const right = Buffer.from(b, 'hex')
  return left.length === right.length && timingSafeEqual(left, right)
}

/**
 * The (stored hash, submitted code) pairs that matched lately, so that a code used again within
 * its life (grace reuse, on every protected request) skips recomputing its HMAC: the costliest
 * step of a passing check (about 4 µs here). Only matches enter (a wrong guess never does), at
 * most `size` of them, oldest out first; a superseded code has a new stored hash and misses.
 * It keeps codes in plain text in process memory, next to `codeSecret` itself: whoever can read
 * one can read the other. It never replaces the admission or the store's atomic accept.
 */
export class MatchedCodes {
  readonly #pairs = new Set<string>()
  readonly #size: number

  constructor (size = 10_000) {
    this.#size = size
  }

  has (storedHash: string, code: string): boolean {
    return this.#pairs.has(`${storedHash}:${code}`)
  }

  add (storedHash: string, code: string): void {
    if (this.#pairs.size >= this.#size) this.#pairs.delete(this.#pairs.values().next().value as string)
    this.#pairs.add(`${storedHash}:${code}`)
  }
}
