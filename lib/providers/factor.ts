import type { FastifyBaseLogger } from 'fastify'
import type { CodeKeys, MatchedCodes } from '../codes.js'
import type { EmitEvent } from '../events.js'
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
  /** The audit events, for what only a factor sees (a passkey's signature counter going backwards). */
  emit: EmitEvent
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

/** A value of what a 201 answer shows: a string, a list of strings, or a JSON object (a passkey's options). */
export type ProvisioningValue = string | string[] | { [key: string]: unknown }

/** What a 201 answer shows: a secret to scan, codes to save, a passkey's options. */
export type Provisioning = Record<string, ProvisioningValue>

/** What a trigger of a kind that sends nothing can answer instead: what to show (a passkey's challenge). */
export interface Shown {
  provisioning: Provisioning
}

/** Who a submission is checked for, for the events a factor emits itself. */
export interface ProveContext {
  log: FastifyBaseLogger
  principal: Principal
}

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
  /**
   * For an enabled type: sends a new code (or `none` when the kind has nothing to send), or
   * answers what to show instead (a passkey's fresh challenge).
   */
  resend: (request: FactorRequest & { record: TypeRecord }) => Promise<Delivery | Shown>
  /**
   * Runs only for an admitted submission: the proof the store accepts atomically when `code`
   * is right for `record` as read before the admission, else null. Free of store calls (the
   * store re-checks the proof when it accepts); synchronous for codes, a promise where the
   * check itself is asynchronous (a passkey's signature).
   */
  prove: (principalId: string, record: TypeRecord, code: string, now: number, context?: ProveContext) => CodeProof | null | Promise<CodeProof | null>
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
