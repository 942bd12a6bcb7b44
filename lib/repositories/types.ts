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
  /** A computed type's secret, encrypted by the plugin before it reaches the repository. */
  secret: string | null
  /** The last accepted time step of a computed type (replay protection). */
  lastStep: number | null
}

/** A stored type's status alone: what the list shows. */
export interface TypeStatus {
  type: string
  status: MfaStatus
}

/** How a code is proven: a delivered code by its hash, a computed one by its time step. */
export type CodeProof = { hash: string } | { step: number }

export interface AcceptOptions {
  now: number
  maxAttempts: number
  /** The status the type must have for the code to count. */
  requireStatus: MfaStatus
  /** Move the type from pending to enabled in the same atomic step (verify). */
  enable: boolean
}

/**
 * `accepted`: the code counted (and the type was enabled when asked);
 * `state`: the type no longer has `requireStatus`;
 * `code`: the code is no longer valid (superseded, expired, blocked, step already used).
 */
export type AcceptResult = 'accepted' | 'state' | 'code'

export interface FailureOptions {
  now: number
  maxAttempts: number
  lockoutFailures: number
  lockoutWindow: number
}

export interface FailureResult {
  /** Types whose newest code reached `maxAttempts` with this failure. */
  blocked: string[]
  /** Whether this failure locked the principal out. */
  locked: boolean
}

/**
 * Storage of MFA state (spec §9.3). Every method that changes state is one atomic
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
  /** Epoch ms until which the principal is locked out; 0 when not locked. */
  lockedUntil: (principalId: string) => Promise<number>
  /**
   * Disabled or pending → pending, dropping any code and setting `secret` (null for delivered
   * types). False, changing nothing, when the type is enabled.
   */
  beginActivation: (principalId: string, type: string, secret: string | null) => Promise<boolean>
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
  /** Accepts a code if it is still the valid one and the status is as required (see AcceptOptions). */
  acceptCode: (principalId: string, type: string, proof: CodeProof, options: AcceptOptions) => Promise<AcceptResult>
  /** Counts one wrong submission against the newest code of each of `types` and against the principal. */
  recordFailure: (principalId: string, types: string[], options: FailureOptions) => Promise<FailureResult>
  /** Enabled or pending → disabled, dropping code, secret and last step. False when already disabled. */
  disable: (principalId: string, type: string) => Promise<boolean>
  /** Releases what the repository opened; called on Fastify's `onClose`. */
  close?: () => Promise<void>
}

export const REPOSITORY_METHODS = [
  'getTypes', 'getType', 'lockedUntil', 'beginActivation', 'reserveSend', 'releaseSend',
  'storeCode', 'acceptCode', 'recordFailure', 'disable'
] as const

export const OPTIONAL_REPOSITORY_METHODS = ['getStatuses', 'close'] as const
