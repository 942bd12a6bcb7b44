import { randomInt } from 'node:crypto'
import { sameHash } from '../codes.js'
import { InvalidOptionError } from '../errors.js'
import type { FactorKind } from './factor.js'
import type { RecoveryCodesProvider } from './types.js'

export interface RecoveryCodesProviderOptions {
  /**
   * How many codes one activation hands out, 1 to 50.
   * @default 10
   */
  count?: number
  /**
   * The type name clients send in `attributes.type`.
   * @default 'recovery-codes'
   */
  type?: string
}

/** Crockford's base32: no I, L, O or U, so nothing is mistaken for 1, 0 or V when copied by hand. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
/** 16 characters of 32 = 80 bits from the CSPRNG per code. */
const LENGTH = 16
const GROUP = 4
/** What a person may type for a character: lower case, and the look-alikes Crockford folds. */
const FOLD: Record<string, string> = { O: '0', I: '1', L: '1' }
// Stryker disable next-line Regex: every match is replaced by '', so a run of separators and each one alone leave the same string
const SEPARATORS = /[\s-]+/g
const VALID = new RegExp(`^[${ALPHABET}]{${LENGTH}}$`)

/** A fresh code, grouped for reading: `XXXX-XXXX-XXXX-XXXX`. */
export function generateRecoveryCode (): string {
  let code = ''
  for (let i = 0; i < LENGTH; i++) {
    if (i > 0 && i % GROUP === 0) code += '-'
    code += ALPHABET[randomInt(0, ALPHABET.length)]
  }
  return code
}

/** A submitted code in its stored spelling (no separators, upper case, look-alikes folded), or null when it cannot be one. */
export function normaliseRecoveryCode (input: string): string | null {
  const code = input.replace(SEPARATORS, '').toUpperCase().replace(/[OIL]/g, (c) => FOLD[c])
  return VALID.test(code) ? code : null
}

/** The `recovery-codes` MFA type: `count` saved codes that each pass once, for when another factor is lost. */
export function recoveryCodesProvider (options: RecoveryCodesProviderOptions = {}): RecoveryCodesProvider {
  const count = options.count ?? 10
  // Stryker disable next-line ConditionalExpression: Number.isInteger is false for any non-number, so the typeof test alone changes nothing (the other conditions are pinned by the option tests)
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 50) {
    throw new InvalidOptionError('recoveryCodesProvider.count', 'must be an integer from 1 to 50')
  }
  return { kind: 'recovery', type: options.type ?? 'recovery-codes', count }
}

/** The hashes of a record's unused codes, as stored (comma-separated). */
function hashesOf (secret: string | null): string[] {
  return secret === null || secret === '' ? [] : secret.split(',')
}

/**
 * Recovery codes: activation shows the codes once and stores their keyed hashes as the type's
 * state; a right code is proven by its hash, which the store's accept removes from the set
 * (single use, atomically); there is nothing to send.
 */
export const recoveryKind: FactorKind<RecoveryCodesProvider> = {
  methods: [],
  create (provider, { repository, keys }) {
    const { type } = provider
    return {
      type,
      fallback: true,

      async start ({ principal }) {
        const codes = Array.from({ length: provider.count }, generateRecoveryCode)
        const hashes = codes.map((code) => keys.hash(principal.id, type, normaliseRecoveryCode(code) as string))
        if (!(await repository.beginActivation(principal.id, type, hashes.join(',')))) return null
        return { provisioning: { codes }, delivery: 'none' }
      },

      resend: async () => 'none',

      prove (principalId, record, code) {
        const normalised = normaliseRecoveryCode(code)
        if (normalised === null) return null
        const hash = keys.hash(principalId, type, normalised)
        // Every stored hash is compared, so the time taken does not tell which one matched.
        let found = false
        for (const stored of hashesOf(record.secret)) found = sameHash(stored, hash) || found
        return found ? { spend: hash } : null
      },

      countsAttempts: () => false,

      remaining: (record) => hashesOf(record.secret).length
    }
  }
}
