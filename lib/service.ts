import type { FastifyBaseLogger } from 'fastify'
import { CodeKeys, MatchedCodes } from './codes.js'
import { isGlueError, MfaErrors } from './errors.js'
import { createEmitter } from './events.js'
import type { ResolvedOptions } from './options.js'
import type { Principal } from './principal.js'
import type { Delivery, Factor, Provisioning } from './providers/factor.js'
import { createFactor } from './providers/kinds.js'
import type { LockoutRule, MfaRepository, TypeRecord, TypeStatus } from './repositories/types.js'
import { MFA_STATUS, type MfaStatus } from './status.js'

/** Activation answers nothing (a code was sent), or what to show: a secret to scan, codes to save. */
export type ActivationResult = { provisioning: Provisioning } | null

/** How a step-up passed: the type whose code passed and when; null when the principal has no enabled type. */
export interface StepUpResult {
  type: string
  at: number
}

/** Who submits: the principal, and what its token says (its `jti`; when its holder signed in). */
export interface Caller {
  principal: Principal
  tokenId: string | null
  /** Epoch ms of the sign-in (`auth_time`, else `iat`); null when the token says neither. */
  signedInAt?: number | null
}

/** One request to the service: who, on which type, with which code ('' for none), logged where. */
export interface MfaRequest {
  log: FastifyBaseLogger
  caller: Caller
  type: string
  code: string
}

/** One step-up check: as MfaRequest without a type, and the enrolment rule (`requireEnrollment`) when there is one. */
export interface StepUpRequest {
  log: FastifyBaseLogger
  caller: Caller
  code: string
  mustEnrol?: () => boolean | Promise<boolean>
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
  /** The factor of each registered type, in provider order. */
  readonly #factors: Map<string, Factor>
  readonly #repository: MfaRepository
  readonly #options: ResolvedOptions
  readonly #emit: ReturnType<typeof createEmitter>
  /** The counters' rules: with a token id, the token's and the principal's ceiling; without, the principal's. */
  readonly #tokenRule: LockoutRule
  readonly #ceilingRule: LockoutRule

  constructor (options: ResolvedOptions) {
    this.#options = options
    this.#repository = options.repository
    this.#emit = createEmitter(options.clock, options.onEvent)
    const tools = {
      repository: options.repository,
      keys: new CodeKeys(options.codeSecret),
      matched: new MatchedCodes(),
      codeLength: options.codeLength,
      codeTtl: options.codeTtl,
      maxAttempts: options.maxAttempts,
      resendCooldown: options.resendCooldown,
      clock: options.clock,
      emit: this.#emit
    }
    this.#factors = new Map(options.providers.map((p) => [p.type, createFactor(p, tools)]))
    this.#tokenRule = options.principalLockout
    this.#ceilingRule = { ...options.principalLockout, failures: options.principalLockout.failures * TOKEN_CEILING }
  }

  /** Registered types in provider order, then stored pending/enabled types no longer registered. */
  async list (principal: Principal): Promise<TypeStatus[]> {
    return this.#inListOrder(await (this.#repository.getStatuses?.(principal.id) ?? this.#repository.getTypes(principal.id)))
  }

  /** The list, with how many codes are left of each set of single-use codes (the admin's view). */
  async status (principal: Principal): Promise<Array<TypeStatus & { remaining?: number }>> {
    const records = await this.#repository.getTypes(principal.id)
    const recordOf = new Map(records.map((r) => [r.type, r]))
    return this.#inListOrder(records).map(({ type, status }) => {
      const remaining = this.#factors.get(type)?.remaining
      if (remaining === undefined) return { type, status }
      // A type is listed pending or enabled only when stored; a disabled set has none left to use.
      return { type, status, remaining: status === MFA_STATUS.DISABLED ? 0 : remaining(recordOf.get(type) as TypeRecord) }
    })
  }

  /** Whether `type` is a registered fallback (recovery codes): never the only factor. */
  isFallback (type: string): boolean {
    return this.#factors.get(type)?.fallback === true
  }

  #inListOrder (stored: TypeStatus[]): TypeStatus[] {
    const statusOf = new Map(stored.map((r) => [r.type, r.status]))
    const result: TypeStatus[] = this.#options.providers.map(({ type }) => ({ type, status: statusOf.get(type) ?? MFA_STATUS.DISABLED }))
    const orphans = stored
      .filter((r) => !this.#factors.has(r.type) && r.status !== MFA_STATUS.DISABLED)
      .sort((a, b) => a.type.localeCompare(b.type))
    for (const { type, status } of orphans) result.push({ type, status })
    return result
  }

  async activate ({ log, caller, type, code }: MfaRequest): Promise<ActivationResult> {
    const { principal } = caller
    const factor = this.#factor(type)
    const records = await this.#repository.getTypes(principal.id)
    const record = records.find((r) => r.type === type) ?? null
    if (record?.status === MFA_STATUS.ENABLED) throw new MfaErrors.TypeAlreadyActivated()
    const now = this.#options.clock()
    const enabled = enabledRecords(records)
    // A fallback (recovery codes) backs up another factor: it is never the only one.
    if (factor.fallback === true && !enabled.some((r) => this.#isPrimary(r.type))) throw new MfaErrors.AnotherTypeFirst()
    if (enabled.length === 0) {
      // The first factor binds the account to whoever enrols it: a stolen (older) token must
      // not be enough, so it needs a fresh sign-in. A time in the future counts as fresh.
      const signedInAt = caller.signedInAt ?? null
      if (signedInAt === null || now - signedInAt > this.#options.enrollmentMaxAge) throw new MfaErrors.SignInAgain()
    } else {
      // Adding a factor is itself a protected action once any factor is enabled.
      await this.#proveAny(log, caller, enabled, code, false)
    }

    const started = await factor.start({ log, principal, record, now })
    if (started === null) throw new MfaErrors.TypeAlreadyActivated()
    if (record?.status !== MFA_STATUS.PENDING) this.#emit(log, 'type.pending', principal, type)
    this.#delivered(log, principal, type, started.delivery)
    return started.provisioning === null ? null : { provisioning: started.provisioning }
  }

  async verify ({ log, caller, type, code }: MfaRequest): Promise<void> {
    this.#factor(type)
    const record = await this.#repository.getType(caller.principal.id, type)
    if (record?.status === MFA_STATUS.ENABLED) throw new MfaErrors.TypeAlreadyActivated()
    if (record === null || record.status !== MFA_STATUS.PENDING) throw new MfaErrors.TypeNotFound()
    const accepted = await this.#check(log, { caller, records: [record], code, requireStatus: MFA_STATUS.PENDING, enable: true, type })
    // A concurrent verify enabled it first: answered as the serial order would.
    if (accepted === null) throw new MfaErrors.TypeAlreadyActivated()
    this.#emit(log, 'code.verified', caller.principal, type)
    this.#emit(log, 'type.enabled', caller.principal, type)
  }

  /** Any store failure while deactivating answers 5903, after nothing was half-written. */
  async deactivate (request: MfaRequest): Promise<void> {
    try {
      await this.#deactivate(request)
    } catch (err) {
      if (isGlueError(err)) throw err
      request.log.error({ err }, 'fastify-glue-mfa: repository failed while deactivating')
      throw new MfaErrors.DeactivationFailed()
    }
  }

  async #deactivate ({ log, caller, type, code }: MfaRequest): Promise<void> {
    const { principal } = caller
    const records = await this.#repository.getTypes(principal.id)
    const record = records.find((r) => r.type === type)
    const enabled = enabledRecords(records)
    const factor = this.#factors.get(type)
    if (factor !== undefined) {
      if (record === undefined || record.status !== MFA_STATUS.ENABLED) throw new MfaErrors.TypeNotFound()
      // A type goes with its own code, or a fallback's (a lost phone removed with a recovery
      // code); a fallback goes with a code of any enabled type.
      const provable = factor.fallback === true ? enabled : [record, ...enabled.filter((r) => this.isFallback(r.type))]
      const accepted = await this.#check(log, { caller, records: provable, code, requireStatus: MFA_STATUS.ENABLED, enable: false, type })
      if (accepted === null) throw new MfaErrors.TypeNotFound()
      this.#emit(log, 'code.verified', principal, type)
    } else {
      // A stored type whose provider is gone cannot check its own codes. Removing it needs a
      // code of a type that still has one; with none, a pending one goes with the header
      // alone, and an enabled one stays (it fails closed: no junk code removes it).
      if (record === undefined || record.status === MFA_STATUS.DISABLED) throw new MfaErrors.TypeNotFound()
      const provable = enabled.filter((r) => this.#factors.has(r.type))
      if (provable.length > 0 || record.status === MFA_STATUS.ENABLED) await this.#proveAny(log, caller, provable, code, false)
    }
    if (!(await this.#repository.disable(principal.id, type))) throw new MfaErrors.TypeNotFound()
    this.#emit(log, 'type.disabled', principal, type)
    for (const fallback of await this.dropLoneFallbacks(principal.id)) this.#emit(log, 'type.disabled', principal, fallback)
  }

  /**
   * With no primary type left enabled, the fallbacks (recovery codes back up nothing) are
   * disabled too; answers those it disabled. After a deactivation, and after an admin reset.
   */
  async dropLoneFallbacks (principalId: string): Promise<string[]> {
    const records = await this.#repository.getTypes(principalId)
    if (records.some((r) => r.status === MFA_STATUS.ENABLED && this.#isPrimary(r.type))) return []
    const disabled: string[] = []
    for (const r of records) {
      if (r.status !== MFA_STATUS.DISABLED && this.isFallback(r.type) && await this.#repository.disable(principalId, r.type)) disabled.push(r.type)
    }
    return disabled
  }

  /** Sends a fresh code; a kind that sends nothing may answer what to show instead (a passkey's challenge). */
  async trigger ({ log, caller, type }: Omit<MfaRequest, 'code'>): Promise<ActivationResult> {
    const { principal } = caller
    const factor = this.#factor(type)
    const record = await this.#repository.getType(principal.id, type)
    if (record === null || record.status !== MFA_STATUS.ENABLED) throw new MfaErrors.TypeNotFound()
    const resent = await factor.resend({ log, principal, record, now: this.#options.clock() })
    if (typeof resent !== 'string') return resent
    this.#delivered(log, principal, type, resent)
    return null
  }

  /**
   * The step-up check for one request: passes when the principal has no enabled type (unless
   * `mustEnrol` says it must have one: 5914), otherwise needs a valid code of one of them. An
   * enabled type whose provider is gone still needs a code (and none can match it): it fails
   * closed. Answers which type passed, or null when none was needed.
   */
  async stepUp ({ log, caller, code, mustEnrol }: StepUpRequest): Promise<StepUpResult | null> {
    const enabled = enabledRecords(await this.#repository.getTypes(caller.principal.id))
    if (enabled.length === 0) {
      if (mustEnrol !== undefined && (await mustEnrol())) {
        this.#emit(log, 'stepup.denied', caller.principal, null)
        throw new MfaErrors.EnrollmentRequired()
      }
      return null
    }
    return await this.#proveAny(log, caller, enabled, code, true)
  }

  #factor (type: string): Factor {
    const factor = this.#factors.get(type)
    if (factor === undefined) throw new MfaErrors.TypeNotFound()
    return factor
  }

  /** A registered type that is not a fallback: one that can be the only factor. */
  #isPrimary (type: string): boolean {
    const factor = this.#factors.get(type)
    return factor !== undefined && factor.fallback !== true
  }

  /** The events of a delivery; a failed one answers 5910 (the type stays as the factor left it). */
  #delivered (log: FastifyBaseLogger, principal: Principal, type: string, delivery: Delivery): void {
    if (delivery === 'sent') this.#emit(log, 'code.sent', principal, type)
    if (delivery === 'failed') {
      this.#emit(log, 'code.send_failed', principal, type)
      throw new MfaErrors.SendFailed()
    }
  }

  /** A code valid for any of `enabled` passes (accepting it); otherwise 5900/5901. */
  async #proveAny (log: FastifyBaseLogger, caller: Caller, enabled: TypeRecord[], code: string, stepUp: boolean): Promise<StepUpResult> {
    try {
      if (code === '') throw new MfaErrors.CodeMissing()
      const type = await this.#check(log, { caller, records: enabled, code, requireStatus: MFA_STATUS.ENABLED, enable: false, type: null })
      if (type === null) throw new MfaErrors.CodeInvalid()
      if (stepUp) this.#emit(log, 'stepup.passed', caller.principal, type)
      return { type, at: this.#options.clock() }
    } catch (err) {
      if (stepUp) this.#emit(log, 'stepup.denied', caller.principal, null)
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
    const { principal, tokenId } = caller
    const now = this.#options.clock()
    const { maxAttempts } = this.#options
    const admission = await this.#repository.admit(principal.id, {
      now,
      principal: tokenId === null ? this.#tokenRule : this.#ceilingRule,
      token: tokenId === null ? null : { id: tokenId, rule: this.#tokenRule }
    })
    if (!admission.admitted) {
      // Refused unread. When the type the request names (verify, deactivate) has meanwhile lost
      // its status (a concurrent verify enabled it, a deactivate disabled it), answer as the
      // serial order would: after it. A step-up names none, and its refusals read nothing more.
      if (type !== null && (await this.#repository.getType(principal.id, type))?.status !== requireStatus) return null
      this.#emit(log, 'code.locked_out', principal, type)
      throw new MfaErrors.CodeInvalid()
    }
    let lostStatus = false
    const context = { log, principal }
    for (const record of records) {
      const factor = this.#factors.get(record.type)
      // A stored type whose provider is gone: no code can match it.
      if (factor === undefined) continue
      const proving = factor.prove(principal.id, record, code, now, context)
      // Codes are proven synchronously: only a passkey's signature check is awaited.
      // Stryker disable next-line ConditionalExpression: awaiting a plain value gives it back, a microtask later.
      const proof = proving instanceof Promise ? await proving : proving
      if (proof === null) continue
      const result = await this.#repository.acceptCode(principal.id, record.type, proof, { now, maxAttempts, requireStatus, enable, tokenId })
      if (result === 'accepted') {
        // remaining() is as read before this code was spent.
        if (factor.remaining !== undefined) this.#emit(log, 'recovery.used', principal, record.type, { remaining: factor.remaining(record) - 1 })
        return record.type
      }
      if (result === 'status-changed' && (record.type === type || records.length === 1)) lostStatus = true
    }
    // The type the request names (or the only one checked) lost its status to a concurrent
    // request: answered as the serial order would.
    if (lostStatus) return null
    // Wrong: already counted on the counters; the codes of their own that were compared count it too.
    const counting = records.filter((r) => this.#factors.get(r.type)?.countsAttempts(r) === true).map((r) => r.type)
    const blocked = counting.length === 0 ? [] : await this.#repository.countAttempts(principal.id, counting, maxAttempts)
    this.#emit(log, 'code.rejected', principal, type)
    for (const blockedType of blocked) this.#emit(log, 'code.blocked', principal, blockedType)
    if (admission.locked) this.#emit(log, 'principal.locked', principal, null)
    throw new MfaErrors.CodeInvalid()
  }
}

function enabledRecords (records: TypeRecord[]): TypeRecord[] {
  return records.filter((r) => r.status === MFA_STATUS.ENABLED)
}
