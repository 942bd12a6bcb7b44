import type { MfaStatus } from '../status.js'

/** The newest code of a (principal, type), as stored: never the code itself. */
export interface StoredCode {
  /** HMAC-SHA256 of principal, type and code under `codeSecret`, hex. */
  hash: string
  /** Epoch ms; the code is valid while `now < expiresAt`. */
  expiresAt: number
  /** Wrong submissions counted against this code; at `maxAttempts` it is blocked. */
  attempts: number
  /** Whether the code has verified once (its grace reuse is then visible in the store). */
  verified: boolean
}

/** Everything stored for one principal and one MFA type. */
export interface TypeRecord {
  type: string
  status: MfaStatus
  code: StoredCode | null
  /** When the last code was sent (taken by `reserveSend`), for `resendCooldown`. */
  lastSentAt: number | null
  /**
   * The factor's own state, opaque to the store: a computed type's secret (sealed by the plugin
   * before it reaches the repository), or the comma-separated hashes of a set of single-use
   * codes (recovery codes) that `acceptCode` spends one by one.
   */
  secret: string | null
  /** The last accepted time step of a computed type (replay protection). */
  lastStep: number | null
}

/** A stored type's status alone: what the list shows. */
export interface TypeStatus {
  type: string
  status: MfaStatus
}

/**
 * How a code is proven: a delivered code by its hash (the newest code), a computed one by its
 * time step, a single-use code of a set by its hash, which accepting removes from the set, and
 * a signed challenge (a passkey) by the challenge's hash (the newest code), which accepting
 * drops (single use) while storing the factor's new state in `secret`.
 */
export type CodeProof = { hash: string } | { step: number } | { spend: string } | { challenge: string, secret: string }

/** One lockout counter's rule (spec: escalating lockout). */
export interface LockoutRule {
  /** Consecutive failures (since the last accepted code) at which the counter locks. */
  failures: number
  /** ms of the first lock. */
  duration: number
  /** ms: each lock after the first is twice the previous one, up to this. */
  maxDuration: number
}

/** What one submission asks of `admit`. */
export interface AdmitOptions {
  now: number
  /** The principal-wide counter's rule. */
  principal: LockoutRule
  /** The verified token's own counter (its `jti`), or null when the token carries no id. */
  token: { id: string, rule: LockoutRule } | null
}

/**
 * `admitted: false`: a counter is locked until `lockedUntil`; nothing was counted.
 * `admitted: true`: the submission is counted as a failure on every counter (until an
 * accepted code resets them); `locked` says whether counting it locked one.
 */
export type Admission =
  | { admitted: false, lockedUntil: number }
  | { admitted: true, locked: boolean }

export interface AcceptOptions {
  now: number
  maxAttempts: number
  /** The status the type must have for the code to count. */
  requireStatus: MfaStatus
  /** Move the type from pending to enabled in the same atomic step (verify). */
  enable: boolean
  /** The token whose counter is reset along with the principal's; null for none. */
  tokenId: string | null
}

/**
 * `accepted`: the code counted (and the type was enabled when asked) and the counters reset;
 * `status-changed`: the type no longer has `requireStatus`;
 * `code-invalid`: the code is no longer valid (superseded, expired, blocked, step already used).
 * Nothing changes unless `accepted`.
 */
export type AcceptResult = 'accepted' | 'status-changed' | 'code-invalid'

/**
 * Storage of MFA state. Every method that changes state is one atomic
 * operation in the store, so concurrent requests, also from several server instances,
 * cannot double-spend a code or lose a counted failure. The repository holds no MFA
 * rules beyond the conditions it is given.
 */
export interface MfaRepository {
  /** Every type stored for the principal (types it never touched may be absent). */
  getTypes: (principalId: string) => Promise<TypeRecord[]>
  /**
   * Optional: only the type and status of every stored type, for the list endpoint, which
   * needs nothing else. A store that can read less than `getTypes` (two columns instead of
   * ten) implements it; without it the list reads `getTypes`. Order does not matter.
   */
  getStatuses?: (principalId: string) => Promise<TypeStatus[]>
  /** The full record of one type, or null when the principal never touched it. */
  getType: (principalId: string, type: string) => Promise<TypeRecord | null>
  /** Epoch ms until which the principal-wide counter is locked; 0 when it is not. */
  lockedUntil: (principalId: string) => Promise<number>
  /**
   * Admits one code submission, atomically: refused when the principal's counter or the
   * token's is locked (changing nothing); otherwise counted as a failure on both, locking a
   * counter that reaches its rule's threshold (see `lockoutStep`). The comparison comes
   * after, and only for an admitted submission.
   */
  admit: (principalId: string, options: AdmitOptions) => Promise<Admission>
  /**
   * Disabled or pending → pending, in one atomic step: `secret` set (null for delivered types)
   * and `code` made the newest code (attempts 0, not verified), or no code when it is null or
   * absent. False, changing nothing, when the type is enabled.
   */
  beginActivation: (principalId: string, type: string, secret: string | null, code?: { hash: string, expiresAt: number } | null) => Promise<boolean>
  /**
   * Takes the send slot when no code was sent within `cooldown` before `now`: sets
   * `lastSentAt = now` and answers 0. Otherwise changes nothing and answers the epoch ms at
   * which the slot frees.
   */
  reserveSend: (principalId: string, type: string, now: number, cooldown: number) => Promise<number>
  /**
   * Gives back a slot taken at `reservedAt` (delivery failed): `lastSentAt` returns to
   * `previous`, unless a newer slot was taken since.
   */
  releaseSend: (principalId: string, type: string, reservedAt: number, previous: number | null) => Promise<void>
  /** Makes `code` the newest code (attempts 0, not verified), superseding any other. */
  storeCode: (principalId: string, type: string, code: { hash: string, expiresAt: number }) => Promise<void>
  /**
   * After an admission: accepts a code if it is still the valid one (hash: the newest code,
   * not expired, attempts below `maxAttempts`; step: after the last accepted one; spend: one of
   * the comma-separated hashes in `secret`, which is removed from it, keeping the others in
   * order; challenge: as hash, and then the code is dropped, attempts 0, and `secret` replaced
   * by the proof's) and the status is as required, and in the same atomic step resets the
   * principal's counter and the token's (see AcceptOptions).
   */
  acceptCode: (principalId: string, type: string, proof: CodeProof, options: AcceptOptions) => Promise<AcceptResult>
  /**
   * After an admitted submission turned out wrong: counts one attempt against the newest code
   * of each of `types` (those without a code are left alone). Answers the types whose code
   * reached `maxAttempts` with this count.
   */
  countAttempts: (principalId: string, types: string[], maxAttempts: number) => Promise<string[]>
  /** Enabled or pending → disabled, dropping code, secret and last step. False when already disabled. */
  disable: (principalId: string, type: string) => Promise<boolean>
  /**
   * Optional: proves the store works before the server starts (driver loaded, connection made,
   * tables created or checked, a round trip). The plugin awaits it at registration, so a store
   * that cannot work fails Fastify's `ready()` with the cause instead of the first request.
   * With `context`, the store also claims itself for that surface, and fails when it already
   * holds the other surface's state (a customer and a back-office user with the same id must
   * never share it). Calling it again after success is cheap.
   */
  ready?: (context?: { surface: 'storefront' | 'backend' }) => Promise<void>
  /** Releases what the repository opened; called on Fastify's `onClose`, also after a failed `ready`. */
  close?: () => Promise<void>
  /**
   * The admin reset, in one atomic step: `type` (every type of the principal when null) goes
   * from enabled or pending to disabled, dropping code, secret and last step as `disable` does
   * (the send slot stays), and every lockout counter of the principal (its own and each
   * token's) is deleted, count and level, as an accepted code resets them. Answers the types it
   * disabled, in any order; the counters are deleted even when it disabled none.
   */
  reset: (principalId: string, type: string | null) => Promise<string[]>
  /**
   * The admin unlock: deletes every lockout counter of the principal (its own and each token's),
   * count and level, atomically. Types, codes, secrets and send slots stay as they are.
   */
  clearLockout: (principalId: string) => Promise<void>
  /**
   * Drops the stored code of every type of the principal, atomically, whatever its state (a
   * used one in its grace reuse too): no delivered code passes any more. Status, secret, last
   * step, send slot and counters stay as they are.
   */
  revokeCodes: (principalId: string) => Promise<void>
}

export const REPOSITORY_METHODS = [
  'getTypes', 'getType', 'lockedUntil', 'admit', 'beginActivation', 'reserveSend', 'releaseSend',
  'storeCode', 'acceptCode', 'countAttempts', 'disable', 'reset', 'clearLockout', 'revokeCodes'
] as const

export const OPTIONAL_REPOSITORY_METHODS = ['getStatuses', 'ready', 'close'] as const
