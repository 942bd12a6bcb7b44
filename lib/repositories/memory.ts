import { MFA_STATUS } from '../status.js'
import type {
  AcceptOptions, AcceptResult, CodeProof, FailureOptions, FailureResult, MfaRepository, TypeRecord
} from './types.js'

interface PrincipalFailures {
  failures: number
  windowStart: number
  lockedUntil: number
}

/**
 * An in-process repository for tests and single-process demos. Each method runs to
 * completion without awaiting, so on one event loop every change is atomic, with the
 * same semantics as the SQL repositories.
 */
export function memoryRepository (): MfaRepository & { inspect: () => Map<string, Map<string, TypeRecord>> } {
  const principals = new Map<string, Map<string, TypeRecord>>()
  const failures = new Map<string, PrincipalFailures>()

  function record (principalId: string, type: string): TypeRecord {
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

  function existing (principalId: string, type: string): TypeRecord | undefined {
    return principals.get(principalId)?.get(type)
  }

  function copy (found: TypeRecord): TypeRecord {
    return { ...found, code: found.code === null ? null : { ...found.code } }
  }

  return {
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
      return failures.get(principalId)?.lockedUntil ?? 0
    },

    async beginActivation (principalId, type, secret) {
      const found = record(principalId, type)
      if (found.status === MFA_STATUS.ENABLED) return false
      found.status = MFA_STATUS.PENDING
      found.code = null
      found.secret = secret
      found.lastStep = null
      return true
    },

    async reserveSend (principalId, type, now, cooldown) {
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
      if (found === undefined || found.status !== options.requireStatus) return 'state'
      if ('hash' in proof) {
        const code = found.code
        if (code === null || code.hash !== proof.hash || options.now >= code.expiresAt || code.attempts >= options.maxAttempts) return 'code'
        code.verified = true
      } else {
        if (found.lastStep !== null && proof.step <= found.lastStep) return 'code'
        found.lastStep = proof.step
      }
      if (options.enable) found.status = MFA_STATUS.ENABLED
      return 'accepted'
    },

    async recordFailure (principalId: string, types: string[], options: FailureOptions): Promise<FailureResult> {
      const blocked: string[] = []
      for (const type of types) {
        const code = existing(principalId, type)?.code
        if (code === undefined || code === null) continue
        code.attempts += 1
        if (code.attempts === options.maxAttempts) blocked.push(type)
      }
      let counter = failures.get(principalId)
      if (counter === undefined || options.now >= counter.windowStart + options.lockoutWindow) {
        counter = { failures: 0, windowStart: options.now, lockedUntil: counter?.lockedUntil ?? 0 }
        failures.set(principalId, counter)
      }
      counter.failures += 1
      let locked = false
      if (counter.failures >= options.lockoutFailures) {
        counter.lockedUntil = options.now + options.lockoutWindow
        counter.failures = 0
        counter.windowStart = options.now
        locked = true
      }
      return { blocked, locked }
    },

    async disable (principalId, type) {
      const found = existing(principalId, type)
      if (found === undefined || found.status === MFA_STATUS.DISABLED) return false
      found.status = MFA_STATUS.DISABLED
      found.code = null
      found.secret = null
      found.lastStep = null
      return true
    },

    inspect: () => principals
  }
}
