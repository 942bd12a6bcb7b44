import type { FastifyBaseLogger } from 'fastify'
import { CodeKeys, generateCode, MatchedCodes, sameHash } from './codes.js'
import { isGlueError, MfaErrors, tooManyCodes } from './errors.js'
import { createEmitter } from './events.js'
import type { ResolvedOptions } from './options.js'
import type { Principal } from './principal.js'
import type { DeliveredCodeProvider, MfaProvider } from './providers/types.js'
import type { CodeProof, LockoutRule, MfaRepository, TypeRecord, TypeStatus } from './repositories/types.js'
import { MFA_STATUS, type MfaStatus } from './status.js'

/** Activation answers nothing for delivered types, and the provisioning data for computed ones. */
export type ActivationResult = { provisioning: Record<string, string> } | null

/** Who submits: the principal, and what its token says (its `jti`; when its holder signed in). */
export interface Caller {
  principal: Principal
  tokenId: string | null
  /** Epoch ms of the sign-in (`auth_time`, else `iat`); null when the token says neither. */
  signedInAt?: number | null
}

/** The principal-wide counter's threshold when tokens are counted on their own (a ceiling for many tokens). */
export const TOKEN_CEILING = 3

/** One code check: a submission against the codes of `records`, all needing `requireStatus`. */
interface CodeCheck {
  caller: Caller
  records: TypeRecord[]
  code: string
  requireStatus: MfaStatus
  /** Move the accepted (pending) type to enabled. */
  enable: boolean
  /** The type the request names, for events; null when any of `records` may answer. */
  type: string | null
}

/**
 * The state machine and the code rules, with no HTTP in it. Each method either finishes or
 * throws one error of the Glue catalogue (or a store failure). The caller has already checked
 * the token, the body shape, the principal and, where the endpoint always needs it, the
 * presence of the code.
 */
export class MfaService {
  readonly #providers: Map<string, MfaProvider>
  readonly #repository: MfaRepository
  readonly #options: ResolvedOptions
  readonly #keys: CodeKeys
  readonly #matched = new MatchedCodes()
  readonly #emit: ReturnType<typeof createEmitter>
  /** The counters' rules: with a token id, the token's and the principal's ceiling; without, the principal's. */
  readonly #tokenRule: LockoutRule
  readonly #ceilingRule: LockoutRule

  constructor (options: ResolvedOptions) {
    this.#options = options
    this.#providers = new Map(options.providers.map((p) => [p.type, p]))
    this.#repository = options.repository
    this.#keys = new CodeKeys(options.codeSecret)
    this.#emit = createEmitter(options.clock, options.onEvent)
    this.#tokenRule = options.principalLockout
    this.#ceilingRule = { ...options.principalLockout, failures: options.principalLockout.failures * TOKEN_CEILING }
  }

  /** Registered types in provider order, then stored pending/enabled types no longer registered. */
  async list (principal: Principal): Promise<TypeStatus[]> {
    const stored: TypeStatus[] = await (this.#repository.getStatuses?.(principal.id) ?? this.#repository.getTypes(principal.id))
    const statusOf = new Map(stored.map((r) => [r.type, r.status]))
    const result: TypeStatus[] = this.#options.providers.map(({ type }) => ({ type, status: statusOf.get(type) ?? MFA_STATUS.DISABLED }))
    const orphans = stored
      .filter((r) => !this.#providers.has(r.type) && r.status !== MFA_STATUS.DISABLED)
      .sort((a, b) => a.type.localeCompare(b.type))
    for (const { type, status } of orphans) result.push({ type, status })
    return result
  }

  async activate (log: FastifyBaseLogger, caller: Caller, type: string, code: string): Promise<ActivationResult> {
    const { principal } = caller
    const provider = this.#provider(type)
    const records = await this.#repository.getTypes(principal.id)
    const record = records.find((r) => r.type === type)
    if (record?.status === MFA_STATUS.ENABLED) throw new MfaErrors.TypeAlreadyActivated()
    const now = this.#options.clock()
    const enabled = enabledRecords(records)
    if (enabled.length === 0) {
      // The first factor binds the account to whoever enrols it: a stolen (older) token must
      // not be enough, so it needs a fresh sign-in. A time in the future counts as fresh.
      const signedInAt = caller.signedInAt ?? null
      if (signedInAt === null || now - signedInAt > this.#options.enrollmentMaxAge) throw new MfaErrors.SignInAgain()
    } else {
      // Adding a factor is itself a protected action once any factor is enabled.
      await this.#proveAny(log, caller, enabled, code, false)
    }

    const wasPending = record?.status === MFA_STATUS.PENDING
    if (provider.kind === 'computed') {
      const secret = provider.createSecret()
      const sealed = this.#keys.seal(principal.id, type, secret)
      if (!(await this.#repository.beginActivation(principal.id, type, sealed))) throw new MfaErrors.TypeAlreadyActivated()
      if (!wasPending) this.#emit(log, 'type.pending', principal.id, type)
      return { provisioning: provider.provisioning(principal, secret) }
    }

    const previous = record?.lastSentAt ?? null
    await this.#reserveSend(principal.id, type, now)
    const sent = await this.#send(log, principal, provider)
    // One atomic step: pending, with the code just sent (none when delivery failed). A store
    // that fails here leaves the type as it was, and the send slot is given back.
    const begun = await this.#holdingSlot(principal.id, type, now, previous, async () => await this.#repository.beginActivation(principal.id, type, null, sent))
    if (!begun || sent === null) await this.#repository.releaseSend(principal.id, type, now, previous)
    if (!begun) throw new MfaErrors.TypeAlreadyActivated()
    if (!wasPending) this.#emit(log, 'type.pending', principal.id, type)
    if (sent === null) throw this.#sendFailed(log, principal.id, type)
    this.#emit(log, 'code.sent', principal.id, type)
    return null
  }

  async verify (log: FastifyBaseLogger, caller: Caller, type: string, code: string): Promise<void> {
    this.#provider(type)
    const record = await this.#repository.getType(caller.principal.id, type)
    if (record?.status === MFA_STATUS.ENABLED) throw new MfaErrors.TypeAlreadyActivated()
    if (record === null || record.status !== MFA_STATUS.PENDING) throw new MfaErrors.TypeNotFound()
    const result = await this.#check(log, { caller, records: [record], code, requireStatus: MFA_STATUS.PENDING, enable: true, type })
    // A concurrent verify enabled it first: answered as the serial order would.
    if (result === null) throw new MfaErrors.TypeAlreadyActivated()
    this.#emit(log, 'code.verified', caller.principal.id, type)
    this.#emit(log, 'type.enabled', caller.principal.id, type)
  }

  /** Any store failure while deactivating answers 5903, after nothing was half-written. */
  async deactivate (log: FastifyBaseLogger, caller: Caller, type: string, code: string): Promise<void> {
    try {
      await this.#deactivate(log, caller, type, code)
    } catch (err) {
      if (isGlueError(err)) throw err
      log.error({ err }, 'fastify-glue-mfa: repository failed while deactivating')
      throw new MfaErrors.DeactivationFailed()
    }
  }

  async #deactivate (log: FastifyBaseLogger, caller: Caller, type: string, code: string): Promise<void> {
    const principalId = caller.principal.id
    const records = await this.#repository.getTypes(principalId)
    const record = records.find((r) => r.type === type)
    if (this.#providers.has(type)) {
      if (record === undefined || record.status !== MFA_STATUS.ENABLED) throw new MfaErrors.TypeNotFound()
      const result = await this.#check(log, { caller, records: [record], code, requireStatus: MFA_STATUS.ENABLED, enable: false, type })
      if (result === null) throw new MfaErrors.TypeNotFound()
      this.#emit(log, 'code.verified', principalId, type)
    } else {
      // A stored type whose provider is gone cannot check its own codes. Removing it needs a
      // code of a type that still has one; with none, a pending one goes with the header
      // alone, and an enabled one stays (it fails closed: no junk code removes it).
      if (record === undefined || record.status === MFA_STATUS.DISABLED) throw new MfaErrors.TypeNotFound()
      const provable = enabledRecords(records).filter((r) => this.#providers.has(r.type))
      if (provable.length > 0 || record.status === MFA_STATUS.ENABLED) await this.#proveAny(log, caller, provable, code, false)
    }
    if (!(await this.#repository.disable(principalId, type))) throw new MfaErrors.TypeNotFound()
    this.#emit(log, 'type.disabled', principalId, type)
  }

  async trigger (log: FastifyBaseLogger, caller: Caller, type: string): Promise<void> {
    const { principal } = caller
    const provider = this.#provider(type)
    const record = await this.#repository.getType(principal.id, type)
    if (record === null || record.status !== MFA_STATUS.ENABLED) throw new MfaErrors.TypeNotFound()
    // An authenticator app computes its own codes: there is nothing to send.
    if (provider.kind === 'computed') return
    const now = this.#options.clock()
    await this.#reserveSend(principal.id, type, now)
    const sent = await this.#send(log, principal, provider)
    if (sent === null) {
      await this.#repository.releaseSend(principal.id, type, now, record.lastSentAt)
      throw this.#sendFailed(log, principal.id, type)
    }
    await this.#holdingSlot(principal.id, type, now, record.lastSentAt, async () => { await this.#repository.storeCode(principal.id, type, sent) })
    this.#emit(log, 'code.sent', principal.id, type)
  }

  /**
   * The step-up check for one request: passes when the principal has no enabled type,
   * otherwise needs a valid code of one of them. An enabled type whose provider is gone still
   * needs a code (and none can match it): it fails closed.
   */
  async stepUp (log: FastifyBaseLogger, caller: Caller, code: string): Promise<void> {
    const enabled = enabledRecords(await this.#repository.getTypes(caller.principal.id))
    if (enabled.length === 0) return
    await this.#proveAny(log, caller, enabled, code, true)
  }

  #provider (type: string): MfaProvider {
    const provider = this.#providers.get(type)
    if (provider === undefined) throw new MfaErrors.TypeNotFound()
    return provider
  }

  /** A code valid for any of `enabled` passes (accepting it); otherwise 5900/5901. */
  async #proveAny (log: FastifyBaseLogger, caller: Caller, enabled: TypeRecord[], code: string, stepUp: boolean): Promise<void> {
    const principalId = caller.principal.id
    try {
      if (code === '') throw new MfaErrors.CodeMissing()
      const type = await this.#check(log, { caller, records: enabled, code, requireStatus: MFA_STATUS.ENABLED, enable: false, type: null })
      if (type === null) throw new MfaErrors.CodeInvalid()
      if (stepUp) this.#emit(log, 'stepup.passed', principalId, type)
    } catch (err) {
      if (stepUp) this.#emit(log, 'stepup.denied', principalId, null)
      throw err
    }
  }

  /**
   * The one verification path: admit the submission (atomically: not locked, counted as a
   * failure), only then compare it, and accept a right code atomically (which resets the
   * count). Answers the accepted type, or null when the one type checked lost its status to a
   * concurrent request; throws 5901 for a wrong or refused code. A store failure while
   * admitting propagates: nothing was compared, so a failing store never answers a guess.
   */
  async #check (log: FastifyBaseLogger, check: CodeCheck): Promise<string | null> {
    const { caller, records, code, requireStatus, enable, type } = check
    const principalId = caller.principal.id
    const now = this.#options.clock()
    const { maxAttempts } = this.#options
    const { tokenId } = caller
    const admission = await this.#repository.admit(principalId, {
      now,
      principal: tokenId === null ? this.#tokenRule : this.#ceilingRule,
      token: tokenId === null ? null : { id: tokenId, rule: this.#tokenRule }
    })
    if (!admission.admitted) {
      // Refused unread. When the type the request names (verify, deactivate) has meanwhile lost
      // its status (a concurrent verify enabled it, a deactivate disabled it), answer as the
      // serial order would: after it. A step-up names none, and its refusals read nothing more.
      if (type !== null && (await this.#repository.getType(principalId, type))?.status !== requireStatus) return null
      this.#emit(log, 'code.locked_out', principalId, type)
      throw new MfaErrors.CodeInvalid()
    }
    let lostState = false
    for (const record of records) {
      const proof = this.#prove(principalId, record, code, now)
      if (proof === null) continue
      const result = await this.#repository.acceptCode(principalId, record.type, proof, { now, maxAttempts, requireStatus, enable, tokenId })
      if (result === 'accepted') return record.type
      if (result === 'state') lostState = true
    }
    if (lostState && records.length === 1) return null
    // Wrong: already counted on the counters; the delivered codes compared count it too.
    const delivered = records.filter((r) => r.code !== null && this.#providers.get(r.type)?.kind === 'delivered').map((r) => r.type)
    const blocked = delivered.length === 0 ? [] : await this.#repository.countAttempts(principalId, delivered, maxAttempts)
    this.#emit(log, 'code.rejected', principalId, type)
    for (const blockedType of blocked) this.#emit(log, 'code.blocked', principalId, blockedType)
    if (admission.locked) this.#emit(log, 'principal.locked', principalId, null)
    throw new MfaErrors.CodeInvalid()
  }

  /**
   * What the record read before the admission says of a submitted code: null when it is wrong
   * (or cannot be checked: no provider, a code expired or blocked), else the proof the store
   * accepts atomically.
   */
  #prove (principalId: string, record: TypeRecord, code: string, now: number): CodeProof | null {
    const provider = this.#providers.get(record.type)
    if (provider === undefined) return null
    if (provider.kind === 'computed') {
      const secret = record.secret === null ? null : this.#keys.open(principalId, record.type, record.secret)
      if (secret === null) return null
      const step = provider.match(secret, code, now)
      if (step === null || (record.lastStep !== null && step <= record.lastStep)) return null
      return { step }
    }
    const stored = record.code
    if (stored === null || now >= stored.expiresAt || stored.attempts >= this.#options.maxAttempts) return null
    if (this.#matched.has(stored.hash, code)) return { hash: stored.hash }
    const hash = this.#keys.hash(principalId, record.type, code)
    if (!sameHash(stored.hash, hash)) return null
    this.#matched.add(hash, code)
    return { hash }
  }

  async #reserveSend (principalId: string, type: string, now: number): Promise<void> {
    const freeAt = await this.#repository.reserveSend(principalId, type, now, this.#options.resendCooldown)
    if (freeAt !== 0) throw tooManyCodes(freeAt - now)
  }

  /**
   * Sends a fresh code through the provider; answers what is stored of it (its hash and
   * expiry), or null when the provider failed (logged by the error's name and code only: a
   * message may quote the code in any spelling, "6 4 7 7 3 3").
   */
  async #send (log: FastifyBaseLogger, principal: Principal, provider: DeliveredCodeProvider): Promise<{ hash: string, expiresAt: number } | null> {
    const { type } = provider
    const code = generateCode(this.#options.codeLength)
    try {
      await provider.send({ principal, type, code })
    } catch (err) {
      log.warn({ err: describeError(err), type }, 'fastify-glue-mfa: code delivery failed')
      return null
    }
    return { hash: this.#keys.hash(principal.id, type, code), expiresAt: this.#options.clock() + this.#options.codeTtl }
  }

  #sendFailed (log: FastifyBaseLogger, principalId: string, type: string): Error {
    this.#emit(log, 'code.send_failed', principalId, type)
    return new MfaErrors.SendFailed()
  }

  /**
   * A store step made after the send slot was taken: when it fails, the slot is given back (so
   * asking again works at once) before the error is answered. Giving it back may fail too when
   * the store is down; the step's own error is the one answered.
   */
  async #holdingSlot<T> (principalId: string, type: string, reservedAt: number, previous: number | null, step: () => Promise<T>): Promise<T> {
    try {
      return await step()
    } catch (err) {
      await this.#repository.releaseSend(principalId, type, reservedAt, previous).catch(() => {})
      throw err
    }
  }
}

/** What may be logged of an error thrown by a provider: its class name and its code, if any. */
function describeError (err: unknown): { name: string, code?: string } {
  const name = typeof (err as Error | null)?.name === 'string' ? (err as Error).name : typeof err
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' || typeof code === 'number' ? { name, code: String(code) } : { name }
}

function enabledRecords (records: TypeRecord[]): TypeRecord[] {
  return records.filter((r) => r.status === MFA_STATUS.ENABLED)
}
