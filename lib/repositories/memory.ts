import { MFA_STATUS } from '../status.js'
import { lockoutStep, type LockoutCounter } from './lockout.js'
import type { AcceptOptions, AcceptResult, Admission, AdmitOptions, CodeProof, MfaRepository, TypeRecord } from './types.js'

const UNLOCKED: LockoutCounter = { failures: 0, lockedUntil: 0, lastLock: 0 }
/** How long a disabled type is kept after its last change: longer than any send slot (`resendCooldown` ≤ 24 h). */
const KEEP_DISABLED = 24 * 3_600_000
/** How often (in the `now` the plugin passes) records that no longer matter are swept. */
const SWEEP_INTERVAL = 60_000

/**
 * An in-process repository for tests and single-process demos. Each method runs to
 * completion without awaiting, so on one event loop every change is atomic, with the
 * same semantics as the SQL repositories.
 *
 * It forgets what no longer matters, so a long-running process stays flat: at most once a
 * minute (by the plugin's clock) it drops disabled types with no live code that have not
 * changed for 24 h, and principals left with nothing. Enabled and pending types are kept, and
 * so is a lockout count until an accepted code resets it (the escalating lockout needs it).
 */
export function memoryRepository (): MfaRepository {
  const principals = new Map<string, Map<string, TypeRecord>>()
  // Per principal: the principal-wide counter under '', each token's under its id.
  const counters = new Map<string, Map<string, LockoutCounter>>()

  // The latest `now` the plugin passed, and when each record last changed by it.
  let latest = -Infinity
  const changedAt = new WeakMap<TypeRecord, number>()

  function record (principalId: string, type: string): TypeRecord {
    const found = existingOrNew(principalId, type)
    changedAt.set(found, latest)
    return found
  }

  function existingOrNew (principalId: string, type: string): TypeRecord {
    let types = principals.get(principalId)
    if (types === undefined) {
      types = new Map()
      principals.set(principalId, types)
    }
    let found = types.get(type)
    if (found === undefined) {
      found = { type, status: MFA_STATUS.DISABLED, code: null, lastSentAt: null, secret: null, lastStep: null }
      types.set(type, found)
    }
    return found
  }

  let lastSweep = -Infinity
  function sweep (now: number): void {
    // Stryker disable next-line EqualityOperator: when now equals latest, assigning it changes nothing
    if (now > latest) latest = now
    if (now - lastSweep < SWEEP_INTERVAL) return
    lastSweep = now
    for (const [principalId, types] of principals) {
      for (const [type, found] of types) {
        if (found.status !== MFA_STATUS.DISABLED || (found.code !== null && found.code.expiresAt > now)) continue
        if ((changedAt.get(found) as number) + KEEP_DISABLED <= now) types.delete(type)
      }
      if (types.size === 0) principals.delete(principalId)
    }
  }

  function existing (principalId: string, type: string): TypeRecord | undefined {
    return principals.get(principalId)?.get(type)
  }

  function copy (found: TypeRecord): TypeRecord {
    return { ...found, code: found.code === null ? null : { ...found.code } }
  }

  const repository: MfaRepository = {
    async getTypes (principalId) {
      const types = principals.get(principalId)
      return types === undefined ? [] : [...types.values()].map(copy)
    },

    async getStatuses (principalId) {
      const types = principals.get(principalId)
      return types === undefined ? [] : [...types.values()].map(({ type, status }) => ({ type, status }))
    },

    async getType (principalId, type) {
      const found = existing(principalId, type)
      return found === undefined ? null : copy(found)
    },

    async lockedUntil (principalId) {
      return counters.get(principalId)?.get('')?.lockedUntil ?? 0
    },

    async admit (principalId: string, options: AdmitOptions): Promise<Admission> {
      const { now, token } = options
      sweep(now)
      let own = counters.get(principalId)
      const principal = own?.get('') ?? UNLOCKED
      const tokenCounter = token === null ? UNLOCKED : own?.get(token.id) ?? UNLOCKED
      const lockedUntil = Math.max(principal.lockedUntil, tokenCounter.lockedUntil)
      if (now < lockedUntil) return { admitted: false, lockedUntil }
      if (own === undefined) {
        own = new Map()
        counters.set(principalId, own)
      }
      const { locked: principalLocked, ...next } = lockoutStep(principal, options.principal, now)
      own.set('', next)
      let locked = principalLocked
      if (token !== null) {
        const { locked: tokenLocked, ...nextToken } = lockoutStep(tokenCounter, token.rule, now)
        own.set(token.id, nextToken)
        locked ||= tokenLocked
      }
      return { admitted: true, locked }
    },

    async beginActivation (principalId, type, secret, code = null) {
      const found = record(principalId, type)
      if (found.status === MFA_STATUS.ENABLED) return false
      found.status = MFA_STATUS.PENDING
      found.code = code === null ? null : { hash: code.hash, expiresAt: code.expiresAt, attempts: 0, verified: false }
      found.secret = secret
      found.lastStep = null
      return true
    },

    async reserveSend (principalId, type, now, cooldown) {
      sweep(now)
      const found = record(principalId, type)
      if (found.lastSentAt !== null && now < found.lastSentAt + cooldown) return found.lastSentAt + cooldown
      found.lastSentAt = now
      return 0
    },

    async releaseSend (principalId, type, reservedAt, previous) {
      const found = existing(principalId, type)
      if (found !== undefined && found.lastSentAt === reservedAt) found.lastSentAt = previous
    },

    async storeCode (principalId, type, code) {
      record(principalId, type).code = { hash: code.hash, expiresAt: code.expiresAt, attempts: 0, verified: false }
    },

    async acceptCode (principalId: string, type: string, proof: CodeProof, options: AcceptOptions): Promise<AcceptResult> {
      const found = existing(principalId, type)
      if (found === undefined || found.status !== options.requireStatus) return 'status-changed'
      if ('hash' in proof) {
        const code = found.code
        if (code === null || code.hash !== proof.hash || options.now >= code.expiresAt || code.attempts >= options.maxAttempts) return 'code-invalid'
        code.verified = true
      } else if ('challenge' in proof) {
        const code = found.code
        if (code === null || code.hash !== proof.challenge || options.now >= code.expiresAt || code.attempts >= options.maxAttempts) return 'code-invalid'
        found.code = null
        found.secret = proof.secret
      } else if ('step' in proof) {
        if (found.lastStep !== null && proof.step <= found.lastStep) return 'code-invalid'
        found.lastStep = proof.step
      } else {
        // Stryker disable next-line ArrayDeclaration: a set without hashes and a one-element array of the mutant's text both miss every real hash (spend is a hex HMAC)
        const hashes = found.secret === null || found.secret === '' ? [] : found.secret.split(',')
        const at = hashes.indexOf(proof.spend)
        if (at === -1) return 'code-invalid'
        hashes.splice(at, 1)
        found.secret = hashes.join(',')
      }
      if (options.enable) found.status = MFA_STATUS.ENABLED
      const own = counters.get(principalId)
      if (own !== undefined) {
        own.delete('')
        // Stryker disable next-line ConditionalExpression: without a token there is no counter under null, so deleting it changes nothing
        if (options.tokenId !== null) own.delete(options.tokenId)
        if (own.size === 0) counters.delete(principalId)
      }
      return 'accepted'
    },

    async countAttempts (principalId, types, maxAttempts) {
      const blocked: string[] = []
      for (const type of types) {
        const code = existing(principalId, type)?.code
        if (code === undefined || code === null) continue
        code.attempts += 1
        if (code.attempts === maxAttempts) blocked.push(type)
      }
      return blocked
    },

    async disable (principalId, type) {
      const found = existing(principalId, type)
      if (found === undefined || found.status === MFA_STATUS.DISABLED) return false
      found.status = MFA_STATUS.DISABLED
      found.code = null
      found.secret = null
      found.lastStep = null
      changedAt.set(found, latest)
      return true
    },

    async reset (principalId, type) {
      // As `disable` does for each type, without awaiting, so the whole reset is one step.
      const disabled: string[] = []
      for (const found of principals.get(principalId)?.values() ?? []) {
        if ((type !== null && found.type !== type) || found.status === MFA_STATUS.DISABLED) continue
        found.status = MFA_STATUS.DISABLED
        found.code = null
        found.secret = null
        found.lastStep = null
        changedAt.set(found, latest)
        disabled.push(found.type)
      }
      counters.delete(principalId)
      return disabled
    },

    async clearLockout (principalId) {
      counters.delete(principalId)
    },

    async revokeCodes (principalId) {
      for (const found of principals.get(principalId)?.values() ?? []) found.code = null
    }
  }
  contents.set(repository, { records: principals, lockouts: counters })
  return repository
}

/** What a memory repository holds, for tests: not part of the public API. */
export interface MemoryContents {
  /** The stored records, by principal and type. */
  records: Map<string, Map<string, TypeRecord>>
  /** The lockout counters, by principal and token id ('' for the principal-wide one). */
  lockouts: Map<string, Map<string, LockoutCounter>>
}

const contents = new WeakMap<MfaRepository, MemoryContents>()

/** The live contents of a repository made by `memoryRepository()` (tests read and change them). */
export function inspectMemory (repository: MfaRepository): MemoryContents {
  const found = contents.get(repository)
  if (found === undefined) throw new TypeError('not a memoryRepository()')
  return found
}
