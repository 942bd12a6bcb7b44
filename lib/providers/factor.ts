import type { FastifyBaseLogger } from 'fastify'
import type { CodeKeys, MatchedCodes } from '../codes.js'
import type { Principal } from '../principal.js'
import type { CodeProof, MfaRepository, TypeRecord } from '../repositories/types.js'

/**
 * What the plugin lends every factor kind: the store, the keys derived from `codeSecret`, and
 * the code rules of the registration.
 */
export interface FactorTools {
  repository: MfaRepository
  keys: CodeKeys
  matched: MatchedCodes
  codeLength: number
  codeTtl: number
  maxAttempts: number
  resendCooldown: number
  clock: () => number
}

/** One request as a factor sees it: who asks, when, and what is stored of its type. */
export interface FactorRequest {
  log: FastifyBaseLogger
  principal: Principal
  /** The stored record of the factor's type; null when the principal never touched it. */
  record: TypeRecord | null
  now: number
}

/** Whether a code went out: `none` for kinds that send nothing (an authenticator app computes its own). */
export type Delivery = 'sent' | 'failed' | 'none'

/** What the 201 answer of an activation shows: a secret to scan, codes to save. */
export type Provisioning = Record<string, string | string[]>

/** What starting activation did. */
export interface Started {
  /** What the 201 answer shows; null answers 204. */
  provisioning: Provisioning | null
  delivery: Delivery
}

/**
 * What the service asks of one kind of factor. The service owns the flow (status checks,
 * admission and lockout, events, errors); a kind owns what only it knows: how activation
 * starts, what it sends or shows, what it stores, and how a submission is checked. Adding a
 * kind is one file in this folder and one entry in `kinds.ts`.
 */
export interface Factor {
  readonly type: string
  /**
   * Makes the type pending (from disabled or pending) with fresh state, in one atomic store
   * step; a delivery happens before it, and is given back when the step fails. Null when the
   * type became enabled meanwhile (nothing stored).
   */
  start: (request: FactorRequest) => Promise<Started | null>
  /** For an enabled type: sends a new code (or `none` when the kind has nothing to send). */
  resend: (request: FactorRequest & { record: TypeRecord }) => Promise<Delivery>
  /**
   * Runs only for an admitted submission: the proof the store accepts atomically when `code`
   * is right for `record` as read before the admission, else null. Synchronous and free of
   * store calls: the store re-checks the proof when it accepts.
   */
  prove: (principalId: string, record: TypeRecord, code: string, now: number) => CodeProof | null
  /** Whether a wrong submission counts against `record`'s own code (its attempts). */
  countsAttempts: (record: TypeRecord) => boolean
  /**
   * A fallback (recovery codes) is never the only enabled type: activating it needs another
   * enabled type, it is disabled with the last other one, and its codes also pass where a
   * code of another type is asked for (deactivating a lost factor).
   */
  fallback?: boolean
  /** For a set of single-use codes: how many are left in `record`. */
  remaining?: (record: TypeRecord) => number
}

/** One kind of factor: the provider methods it needs (checked at registration) and how to build it. */
export interface FactorKind<P> {
  /** The provider's functions that must exist, named in the registration error when missing. */
  methods: ReadonlyArray<keyof P & string>
  create: (provider: P, tools: FactorTools) => Factor
}
