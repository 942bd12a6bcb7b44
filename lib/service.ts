import type { FastifyBaseLogger } from 'fastify'
import { CodeKeys, generateCode, sameHash } from './codes.js'
import { isGlueError, MfaErrors, tooManyCodes } from './errors.js'
import { createEmitter } from './events.js'
import type { ResolvedOptions } from './options.js'
import type { Principal } from './principal.js'
import type { DeliveredCodeProvider, MfaProvider } from './providers/types.js'
import type { AcceptResult, CodeProof, MfaRepository, TypeRecord, TypeStatus } from './repositories/types.js'
import { MFA_STATUS, type MfaStatus } from './status.js'

/** Activation answers nothing for delivered types, and the provisioning data for computed ones. */
export type ActivationResult = { provisioning: Record<string, string> } | null

/**
 * The state machine of spec §5 and the code rules of §6, with no HTTP in it. Each method
 * either finishes or throws one error of the Glue catalogue. The caller has already
 * checked the token, the body shape, the principal and, where the endpoint always needs
 * it, the presence of the code.
 */
export class MfaService {
  readonly #providers: Map<string, MfaProvider>
  readonly #repository: MfaRepository
  readonly #options: ResolvedOptions
  readonly #keys: CodeKeys
  readonly #emit: ReturnType<typeof createEmitter>

  constructor (options: ResolvedOptions) {
    this.#options = options
    this.#providers = new Map(options.providers.map((p) => [p.type, p]))
    this.#repository = options.repository
    this.#keys = new CodeKeys(options.codeSecret)
    this.#emit = createEmitter(options.clock, options.onEvent)
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

  async activate (log: FastifyBaseLogger, principal: Principal, type: string, code: string): Promise<ActivationResult> {
    const provider = this.#provider(type)
    const records = await this.#repository.getTypes(principal.id)
    const record = records.find((r) => r.type === type)
    if (record?.status === MFA_STATUS.ENABLED) throw new MfaErrors.TypeAlreadyActivated()
    // Adding a second factor is itself a protected action once any factor is enabled.
    const enabled = this.#enabledRecords(records)
    if (enabled.length > 0) await this.#proveAny(log, principal, enabled, code, null)

    const now = this.#options.clock()
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
    if (!(await this.#repository.beginActivation(principal.id, type, null))) {
      await this.#repository.releaseSend(principal.id, type, now, previous)
      throw new MfaErrors.TypeAlreadyActivated()
    }
    if (!wasPending) this.#emit(log, 'type.pending', principal.id, type)
    await this.#deliver(log, principal, provider, now, previous)
    return null
  }

  async verify (log: FastifyBaseLogger, principal: Principal, type: string, code: string): Promise<void> {
    const provider = this.#provider(type)
    const record = await this.#repository.getType(principal.id, type)
    if (record?.status === MFA_STATUS.ENABLED) throw new MfaErrors.TypeAlreadyActivated()
    if (record === null || record.status !== MFA_STATUS.PENDING) throw new MfaErrors.TypeNotFound()
    await this.#checkLockout(log, principal.id, type)
    const result = await this.#tryCode(principal.id, provider, record, code, MFA_STATUS.PENDING, true)
    if (result === 'state') throw new MfaErrors.TypeAlreadyActivated()
    if (result !== 'accepted') throw await this.#countFailure(log, principal.id, [type], type)
    this.#emit(log, 'code.verified', principal.id, type)
    this.#emit(log, 'type.enabled', principal.id, type)
  }

  /** Any store failure while deactivating answers 5903 (spec §4), after nothing was half-written. */
  async deactivate (log: FastifyBaseLogger, principal: Principal, type: string, code: string): Promise<void> {
    try {
      await this.#deactivate(log, principal, type, code)
    } catch (err) {
      if (isGlueError(err)) throw err
      log.error({ err }, 'fastify-glue-mfa: repository failed while deactivating')
      throw new MfaErrors.DeactivationFailed()
    }
  }

  async #deactivate (log: FastifyBaseLogger, principal: Principal, type: string, code: string): Promise<void> {
    const records = await this.#repository.getTypes(principal.id)
    const record = records.find((r) => r.type === type)
    const provider = this.#providers.get(type)
    if (provider === undefined) {
      // A stored type whose provider is gone cannot check its own codes: removing it needs a
      // code of a type that is still enabled, if there is one.
      if (record === undefined || record.status === MFA_STATUS.DISABLED) throw new MfaErrors.TypeNotFound()
      const enabled = this.#enabledRecords(records)
      if (enabled.length > 0) await this.#proveAny(log, principal, enabled, code, null)
      await this.#disable(log, principal.id, type)
      return
    }
    if (record === undefined || record.status !== MFA_STATUS.ENABLED) throw new MfaErrors.TypeNotFound()
    await this.#checkLockout(log, principal.id, type)
    const result = await this.#tryCode(principal.id, provider, record, code, MFA_STATUS.ENABLED, false)
    if (result === 'state') throw new MfaErrors.TypeNotFound()
    if (result !== 'accepted') throw await this.#countFailure(log, principal.id, [type], type)
    this.#emit(log, 'code.verified', principal.id, type)
    await this.#disable(log, principal.id, type)
  }

  async trigger (log: FastifyBaseLogger, principal: Principal, type: string): Promise<void> {
    const provider = this.#provider(type)
    const record = await this.#repository.getType(principal.id, type)
    if (record === null || record.status !== MFA_STATUS.ENABLED) throw new MfaErrors.TypeNotFound()
    // An authenticator app computes its own codes: there is nothing to send.
    if (provider.kind === 'computed') return
    const now = this.#options.clock()
    await this.#reserveSend(principal.id, type, now)
    await this.#deliver(log, principal, provider, now, record.lastSentAt)
  }

  /**
   * The step-up check of spec §7 for one request: passes when the principal has no enabled
   * type, otherwise needs a valid code of one of them.
   */
  async stepUp (log: FastifyBaseLogger, principal: Principal, code: string): Promise<void> {
    const enabled = this.#enabledRecords(await this.#repository.getTypes(principal.id))
    if (enabled.length === 0) return
    await this.#proveAny(log, principal, enabled, code, 'stepup')
  }

  #provider (type: string): MfaProvider {
    const provider = this.#providers.get(type)
    if (provider === undefined) throw new MfaErrors.TypeNotFound()
    return provider
  }

  #enabledRecords (records: TypeRecord[]): TypeRecord[] {
    return records.filter((r) => r.status === MFA_STATUS.ENABLED && this.#providers.has(r.type))
  }

  /** A code valid for any of `enabled` passes (accepting it); otherwise 5900/5901. */
  async #proveAny (log: FastifyBaseLogger, principal: Principal, enabled: TypeRecord[], code: string, events: 'stepup' | null): Promise<void> {
    if (code === '') throw this.#denied(log, principal.id, events, new MfaErrors.CodeMissing())
    try {
      await this.#checkLockout(log, principal.id, null)
      const now = this.#options.clock()
      for (const record of enabled) {
        const provider = this.#providers.get(record.type) as MfaProvider
        // #tryCode inlined: a grace pass (the guard's common case) then awaits no further call.
        const proof = this.#prove(principal.id, provider, record, code, now, MFA_STATUS.ENABLED, false)
        if (proof === 'wrong') continue
        if (proof === 'accepted' || await this.#accept(principal.id, record.type, proof, now, MFA_STATUS.ENABLED, false) === 'accepted') {
          if (events !== null) this.#emit(log, 'stepup.passed', principal.id, record.type)
          return
        }
      }
    } catch (error) {
      throw this.#denied(log, principal.id, events, error as Error)
    }
    throw this.#denied(log, principal.id, events, await this.#countFailure(log, principal.id, enabled.map((r) => r.type), null))
  }

  /**
   * `error`, after the `stepup.denied` event when the check is a step-up. A method, not a
   * closure made on every check: the guard's passing path allocates nothing for its denials.
   */
  #denied (log: FastifyBaseLogger, principalId: string, events: 'stepup' | null, error: Error): Error {
    if (events !== null) this.#emit(log, 'stepup.denied', principalId, null)
    return error
  }

  /** Checks a submitted code against one type and, if it is right, accepts it atomically. */
  async #tryCode (principalId: string, provider: MfaProvider, record: TypeRecord, code: string, requireStatus: MfaStatus, enable: boolean): Promise<AcceptResult | 'wrong'> {
    const now = this.#options.clock()
    const proof = this.#prove(principalId, provider, record, code, now, requireStatus, enable)
    if (proof === 'wrong' || proof === 'accepted') return proof
    return await this.#accept(principalId, record.type, proof, now, requireStatus, enable)
  }

  /**
   * What the record just read says of a submitted code, without the store: 'wrong',
   * 'accepted' (grace reuse, below), or the proof the store has to accept atomically.
   */
  #prove (principalId: string, provider: MfaProvider, record: TypeRecord, code: string, now: number, requireStatus: MfaStatus, enable: boolean): CodeProof | 'wrong' | 'accepted' {
    const { maxAttempts } = this.#options
    if (provider.kind === 'computed') {
      const secret = record.secret === null ? null : this.#keys.open(principalId, record.type, record.secret)
      if (secret === null) return 'wrong'
      const step = provider.match(secret, code, now)
      if (step === null || (record.lastStep !== null && step <= record.lastStep)) return 'wrong'
      return { step }
    }
    const stored = record.code
    if (stored === null || now >= stored.expiresAt || stored.attempts >= maxAttempts) return 'wrong'
    const hash = this.#keys.hash(principalId, record.type, code)
    if (!sameHash(stored.hash, hash)) return 'wrong'
    // Grace reuse of a code that has verified before changes nothing in the store: what was
    // just read is valid, and the request is ordered at that read (no write on the hot path).
    if (stored.verified && !enable && record.status === requireStatus) return 'accepted'
    return { hash }
  }

  async #accept (principalId: string, type: string, proof: CodeProof, now: number, requireStatus: MfaStatus, enable: boolean): Promise<AcceptResult> {
    return await this.#repository.acceptCode(principalId, type, proof, { now, maxAttempts: this.#options.maxAttempts, requireStatus, enable })
  }

  async #checkLockout (log: FastifyBaseLogger, principalId: string, type: string | null): Promise<void> {
    if (await this.#repository.lockedUntil(principalId) > this.#options.clock()) {
      this.#emit(log, 'code.rejected', principalId, type)
      throw new MfaErrors.CodeInvalid()
    }
  }

  /** Counts a wrong submission against the codes of `types` and the principal; answers the 5901 to throw. */
  async #countFailure (log: FastifyBaseLogger, principalId: string, types: string[], type: string | null): Promise<Error> {
    const { clock, maxAttempts, principalLockout } = this.#options
    const result = await this.#repository.recordFailure(principalId, types, {
      now: clock(), maxAttempts, lockoutFailures: principalLockout.failures, lockoutWindow: principalLockout.window
    })
    this.#emit(log, 'code.rejected', principalId, type)
    for (const blocked of result.blocked) this.#emit(log, 'code.blocked', principalId, blocked)
    if (result.locked) this.#emit(log, 'principal.locked', principalId, null)
    return new MfaErrors.CodeInvalid()
  }

  async #reserveSend (principalId: string, type: string, now: number): Promise<void> {
    const freeAt = await this.#repository.reserveSend(principalId, type, now, this.#options.resendCooldown)
    if (freeAt !== 0) throw tooManyCodes(freeAt - now)
  }

  /** Sends a fresh code; stores its hash only once the provider took it (spec §5, 5910). */
  async #deliver (log: FastifyBaseLogger, principal: Principal, provider: DeliveredCodeProvider, reservedAt: number, previous: number | null): Promise<void> {
    const { type } = provider
    const code = generateCode(this.#options.codeLength)
    try {
      await provider.send({ principal, type, code })
    } catch (err) {
      // A provider's message may quote what it failed to send: the code never reaches the log.
      const message = String((err as Error)?.message).replaceAll(code, '[code]')
      log.warn({ err: { message }, type }, 'fastify-glue-mfa: code delivery failed')
      await this.#repository.releaseSend(principal.id, type, reservedAt, previous)
      this.#emit(log, 'code.send_failed', principal.id, type)
      throw new MfaErrors.SendFailed()
    }
    try {
      await this.#repository.storeCode(principal.id, type, {
        hash: this.#keys.hash(principal.id, type, code),
        expiresAt: this.#options.clock() + this.#options.codeTtl
      })
    } catch (err) {
      // Sent but not stored (the request answers 500): the slot goes back, so asking again works.
      await this.#repository.releaseSend(principal.id, type, reservedAt, previous)
      throw err
    }
    this.#emit(log, 'code.sent', principal.id, type)
  }

  async #disable (log: FastifyBaseLogger, principalId: string, type: string): Promise<void> {
    if (!(await this.#repository.disable(principalId, type))) throw new MfaErrors.TypeNotFound()
    this.#emit(log, 'type.disabled', principalId, type)
  }
}
