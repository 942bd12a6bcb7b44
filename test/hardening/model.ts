// A serial model of one principal's MFA state (the state machine of docs/resources.md, the code rules) and the replay check: given the
// requests a load run sent for a principal, step by step, and what each answered, find a
// serial order of each step's requests that the model answers the same way, and compare the
// model's end state with the stored one.
import { CodeKeys } from '../../lib/codes.js'
import type { MfaRepository } from '../../lib/repositories/types.js'

/** The MFA types every hardening server registers, in the order the repositories list them. */
export const TYPES = ['email', 'sms'] as const
/** Never a valid code: issued codes have 6 digits. */
export const WRONG = '0000000'
export const MAX_ATTEMPTS = 3
/** Within a run no lock ends, so the model needs only "locked" (escalation never shows). */
export const LOCKOUT = { failures: 8, duration: 15 * 60_000 }
/**
 * The plugin options of every hardening server, in this process or a child: no resend
 * cooldown (triggers follow activations at once), the lockout the model counts to.
 */
export const HARDENING_OPTIONS = {
  resendCooldown: 0,
  maxAttempts: MAX_ATTEMPTS,
  principalLockout: LOCKOUT,
  protectedResources: ['carts']
}

export type Kind = 'list' | 'activate' | 'verify' | 'deactivate' | 'trigger' | 'write'

/** One request of a script; `code` undefined sends no X-MFA-Code header. */
export interface OpSpec {
  kind: Kind
  type?: string
  code?: string
}

/** One request as sent and answered. */
export interface Op extends OpSpec {
  id: number
  principal: string
  /** Index of the principal's step it belongs to (-1: a filler request). */
  step: number
  /** Which server instance (autocannon target) sent it. */
  instance: number
  sentAt: number
  /** Codes the principal had received for `type` when it was sent. */
  codesBefore: number
  /** "status glue-code" ("403 5901"), "204", or for a list "200 email=2,sms=0"; unset: no answer. */
  result?: string
  status?: number
  doneAt?: number
  /** What was wrong with an error response's shape, if anything. */
  shapeError?: string
  /** The codes sent for `type` while it ran (code-issuing requests). */
  issued?: string[]
}

interface CodeState { value: string, attempts: number, verified: boolean }
interface TypeState { status: 0 | 1 | 2, code: CodeState | null }
export interface State {
  types: Record<string, TypeState>
  failures: number
  locked: boolean
}

export function initialState (): State {
  return { types: Object.fromEntries(TYPES.map((type) => [type, { status: 0, code: null }])), failures: 0, locked: false }
}

function clone (s: State): State {
  return {
    types: Object.fromEntries(Object.entries(s.types).map(([k, v]) => [k, { status: v.status, code: v.code === null ? null : { ...v.code } }])),
    failures: s.failures,
    locked: s.locked
  }
}

export function stateKey (s: State): string {
  return JSON.stringify(s)
}

/** True for requests that create a code (their `issued` says which). */
export function issuesCode (kind: Kind): boolean {
  return kind === 'activate' || kind === 'trigger'
}

/**
 * Runs one request on the model. `states` holds the state before it and after each atomic
 * store write it makes, in order: a request that failed (5xx, no answer) may have stopped
 * after any of them. `result` is what the request answers when it completes.
 */
export function step (before: State, op: OpSpec, issued: string | undefined): { result: string, states: State[] } {
  const s = clone(before)
  const states: State[] = [clone(before)]
  const commit = (): void => { states.push(clone(s)) }
  const done = (result: string): { result: string, states: State[] } => ({ result, states })
  const code = op.code ?? ''

  /** The admission (one atomic store write): refused (false) while locked; otherwise counted, locking at the threshold. */
  const admit = (): boolean => {
    if (s.locked) return false
    s.failures++
    if (s.failures >= LOCKOUT.failures) s.locked = true
    commit()
    return true
  }
  const matches = (type: string): boolean => {
    const stored = s.types[type].code
    return stored !== null && stored.value === code && stored.attempts < MAX_ATTEMPTS
  }
  /** A right code, in the same write as its own effect: verified, and the counter reset. */
  const accept = (type: string): void => {
    (s.types[type].code as CodeState).verified = true
    s.failures = 0
    s.locked = false
  }
  /** A wrong code, after its admission: one more attempt on each of `types`' codes (another write). */
  const countAttempts = (types: string[]): string => {
    for (const type of types) {
      const stored = s.types[type].code
      if (stored !== null) stored.attempts++
    }
    commit()
    return '403 5901'
  }
  /** A code of one of `enabled` proves the request (the step-up rule); else 5900/5901. */
  const proveAny = (enabled: string[]): string | null => {
    if (code === '') return '403 5900'
    if (!admit()) return '403 5901'
    for (const type of enabled) {
      if (matches(type)) {
        accept(type)
        commit()
        return null
      }
    }
    return countAttempts(enabled)
  }
  const enabled = (): string[] => TYPES.filter((type) => s.types[type].status === 2)
  const newCode = (type: string): boolean => {
    if (issued === undefined) return false
    s.types[type].code = { value: issued, attempts: 0, verified: false }
    commit()
    return true
  }

  if (op.kind === 'list') return done(`200 ${TYPES.map((type) => `${type}=${s.types[type].status}`).join(',')}`)
  if (op.kind === 'write') {
    if (enabled().length === 0) return done('204')
    return done(proveAny(enabled()) ?? '204')
  }
  const type = op.type as string
  const record = s.types[type]
  switch (op.kind) {
    case 'activate': {
      if (record.status === 2) return done('400 5904')
      if (enabled().length > 0) {
        const denied = proveAny(enabled())
        if (denied !== null) return done(denied)
      }
      record.status = 1
      record.code = null
      commit()
      return done(newCode(type) ? '204' : 'no code was sent')
    }
    case 'verify': {
      if (code === '') return done('403 5900')
      if (record.status === 2) return done('400 5904')
      if (record.status !== 1) return done('400 5906')
      if (!admit()) return done('403 5901')
      if (!matches(type)) return done(countAttempts([type]))
      record.status = 2
      accept(type)
      commit()
      return done('204')
    }
    case 'deactivate': {
      if (code === '') return done('403 5900')
      if (record.status !== 2) return done('400 5906')
      if (!admit()) return done('403 5901')
      if (!matches(type)) return done(countAttempts([type]))
      accept(type)
      commit()
      record.status = 0
      record.code = null
      commit()
      return done('204')
    }
    case 'trigger': {
      if (record.status !== 2) return done('400 5906')
      return done(newCode(type) ? '204' : 'no code was sent')
    }
  }
}

/** What a store holds for one principal, as the model sees it (codes as their stored hashes). */
export interface Stored {
  types: Record<string, { status: number, hash: string | null, attempts: number | null, verified: boolean | null }>
  locked: boolean
}

export async function readStored (repository: MfaRepository, principal: string, now = Date.now()): Promise<Stored> {
  const records = await repository.getTypes(principal)
  const types: Stored['types'] = {}
  for (const type of TYPES) {
    const record = records.find((r) => r.type === type)
    types[type] = {
      status: record?.status ?? 0,
      hash: record?.code?.hash ?? null,
      attempts: record?.code?.attempts ?? null,
      verified: record?.code?.verified ?? null
    }
  }
  return { types, locked: await repository.lockedUntil(principal) > now }
}

export function project (keys: CodeKeys, principal: string, s: State): Stored {
  const types: Stored['types'] = {}
  for (const type of TYPES) {
    const { status, code } = s.types[type]
    types[type] = {
      status,
      hash: code === null ? null : keys.hash(principal, type, code.value),
      attempts: code?.attempts ?? null,
      verified: code?.verified ?? null
    }
  }
  return { types, locked: s.locked }
}

/** Human-readable model state, codes shown only as "code". */
export function describe (s: State | Stored): string {
  const types = Object.entries(s.types).map(([type, t]) => {
    const code = 'code' in t ? (t.code === null ? '-' : `a${t.code.attempts}${t.code.verified ? 'v' : ''}`) : (t.hash === null ? '-' : `a${t.attempts}${t.verified === true ? 'v' : ''}`)
    return `${type}:${t.status}/${code}`
  })
  return `${types.join(' ')}${s.locked ? ' locked' : ''}`
}

export interface Verdict {
  principal: string
  /** Empty when the principal's answers and its stored state fit a serial replay. */
  problems: string[]
  /** The model states the steps allow (more than one only after requests with no known answer). */
  candidates: State[]
  /** The candidate the stored state equals. */
  matched: State | null
}

/** At most this many orders are tried per step before the step counts as unexplained. */
const SEARCH_BUDGET = 200_000
const MAX_CANDIDATES = 512

/** True for requests whose effect is unknown: a 5xx, or no answer at all. */
export function unknownOutcome (op: Op): boolean {
  return op.status === undefined || op.status >= 500
}

/**
 * Replays one principal's steps through the model. Within a step (requests sent at once) any
 * order may be the real one: the check looks for one whose answers are the observed ones.
 * A request with an unknown outcome may have stopped after any of its writes.
 */
export function replay (principal: string, steps: Op[][], stored: Stored | null, keys: CodeKeys): Verdict {
  const problems: string[] = []
  let states: State[] = [initialState()]
  for (const [index, ops] of steps.entries()) {
    for (const op of ops) {
      if (op.issued !== undefined && op.issued.length > 1) problems.push(`step ${index}: ${op.kind} ${op.type} sent ${op.issued.length} codes`)
      if (op.issued !== undefined && op.issued.length > 0 && !unknownOutcome(op) && op.result !== '204') problems.push(`step ${index}: ${op.kind} ${op.type} answered ${op.result} but sent a code`)
    }
    const next = new Map<string, State>()
    let budget = SEARCH_BUDGET
    const seen = new Set<string>()
    const search = (s: State, remaining: Op[]): void => {
      if (budget-- <= 0) return
      const key = `${remaining.map((op) => op.id).join(',')}|${stateKey(s)}`
      if (seen.has(key)) return
      seen.add(key)
      if (remaining.length === 0) {
        next.set(stateKey(s), s)
        return
      }
      for (const [i, op] of remaining.entries()) {
        const rest = remaining.filter((_, j) => j !== i)
        const ran = step(s, op, op.issued?.[0])
        if (unknownOutcome(op)) {
          for (const after of ran.states) search(after, rest)
        } else if (ran.result === op.result) {
          search(ran.states[ran.states.length - 1], rest)
        }
      }
    }
    for (const s of states) search(s, ops)
    if (next.size === 0) {
      const seenAnswers = ops.map((op) => `${op.kind}${op.type === undefined ? '' : ` ${op.type}`}${op.code === undefined ? '' : op.code === WRONG ? ' wrong' : ' code'} → ${op.result ?? 'no answer'} (instance ${op.instance})`)
      problems.push(`step ${index}: no serial order explains [${seenAnswers.join('; ')}] from ${states.map(describe).join(' | ')}${budget <= 0 ? ' (search budget spent)' : ''}`)
      return { principal, problems, candidates: states, matched: null }
    }
    states = [...next.values()]
    if (states.length > MAX_CANDIDATES) {
      problems.push(`step ${index}: more than ${MAX_CANDIDATES} possible states`)
      return { principal, problems, candidates: states, matched: null }
    }
  }
  let matched: State | null = null
  if (stored !== null) {
    const want = JSON.stringify(stored)
    matched = states.find((s) => JSON.stringify(project(keys, principal, s)) === want) ?? null
    if (matched === null) problems.push(`stored ${describe(stored)}, but a serial replay gives ${states.map(describe).join(' or ')}`)
  }
  return { principal, problems, candidates: states, matched }
}
