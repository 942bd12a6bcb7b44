// The load of the hardening tests: per principal a fixed script of steps (a step is one
// request, or a few sent at once), many principals at once, spread over the server instances
// by autocannon connections that pull the next ready request. Every request and its answer is
// recorded for the replay check (model.ts).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { CodeMessage } from '../../lib/providers/types.js'
import { type Kind, type Op, type OpSpec, WRONG } from './model.js'

/** Where the codes the servers sent can be read: one list per principal and type, oldest first. */
export interface CodeSource {
  codes: (principal: string, type: string) => string[]
  /** Reads what arrived since the last call (a file source); in-process sources are always current. */
  refresh: () => void
}

/** The email/sms providers' outbox when the servers run in this process. */
export class SharedOutbox implements CodeSource {
  readonly #codes = new Map<string, string[]>()
  sent = 0
  /** Called with every code, e.g. to watch the logs for it. */
  constructor (private readonly onCode: (code: string) => void = () => {}) {}
  send = async ({ principal, type, code }: CodeMessage): Promise<void> => {
    this.onCode(code)
    this.sent++
    const key = `${principal.id}\u0000${type}`
    const list = this.#codes.get(key)
    if (list === undefined) this.#codes.set(key, [code])
    else list.push(code)
  }

  codes (principal: string, type: string): string[] {
    return this.#codes.get(`${principal}\u0000${type}`) ?? []
  }

  refresh (): void {}
}

/** The outbox of a server in another process: JSON lines it appends (synchronously) before answering. */
export class FileOutbox implements CodeSource {
  readonly #codes = new Map<string, string[]>()
  #offset = 0
  #partial = ''
  sent = 0
  constructor (private readonly file: string) {}

  codes (principal: string, type: string): string[] {
    return this.#codes.get(`${principal}\u0000${type}`) ?? []
  }

  refresh (): void {
    let fd: number
    try {
      fd = openSync(this.file, 'r')
    } catch {
      return // nothing sent yet
    }
    try {
      const size = fstatSync(fd).size
      if (size <= this.#offset) return
      const buffer = Buffer.alloc(size - this.#offset)
      const read = readSync(fd, buffer, 0, buffer.length, this.#offset)
      this.#offset += read
      const lines = (this.#partial + buffer.subarray(0, read).toString('utf8')).split('\n')
      this.#partial = lines.pop() as string
      for (const line of lines) {
        if (line === '') continue
        const { principal, type, code } = JSON.parse(line) as { principal: string, type: string, code: string }
        const key = `${principal}\u0000${type}`
        const list = this.#codes.get(key)
        if (list === undefined) this.#codes.set(key, [code])
        else list.push(code)
        this.sent++
      }
    } finally {
      closeSync(fd)
    }
  }
}

/** What a step can ask for when it is built: the codes the principal has received so far. */
export interface Codes {
  /** The newest code of `type` (WRONG if none arrived). */
  last: (type: string) => string
  /** The code before the newest one (WRONG if none). */
  previous: (type: string) => string
}
export type Step = (codes: Codes) => OpSpec[]
export interface Plan {
  principal: string
  script: string
  steps: Step[]
}

/** Small deterministic PRNG (mulberry32), so a run can be repeated from its seed. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const list = (): OpSpec => ({ kind: 'list' })
const write = (code?: string): OpSpec => ({ kind: 'write', code })
const activate = (type: string, code?: string): OpSpec => ({ kind: 'activate', type, code })
const verify = (type: string, code: string): OpSpec => ({ kind: 'verify', type, code })
const deactivate = (type: string, code: string): OpSpec => ({ kind: 'deactivate', type, code })
const trigger = (type: string): OpSpec => ({ kind: 'trigger', type })
const times = (n: number, spec: OpSpec): OpSpec[] => Array.from({ length: n }, () => ({ ...spec }))

/**
 * The scripts. Each principal runs one, step after step; the requests of one step go out at
 * once (and usually through both instances), which is where a lost failure count, a double
 * enable or a double disable would show. No step has two requests that create a code, so the
 * code each one sent is known; no step crosses the lockout limit with concurrent requests.
 */
export function scriptFor (principal: string, random: () => number): Plan {
  const pick = random()
  const n = (max: number): number => Math.floor(random() * (max + 1))
  if (pick < 0.5) {
    // activate → wrong codes → verify (a race of right codes) → step-up with, without, wrong,
    // grace reuse → trigger → the old code refused → the new one works → maybe deactivate
    const wrongs = n(2)
    const rights = 1 + n(2)
    const reuse = 1 + n(2)
    const off = random() < 0.35
    const steps: Step[] = [
      () => [list()],
      () => [write()],
      () => [activate('email')],
      ...(wrongs > 0 ? [() => times(wrongs, verify('email', WRONG))] : []),
      () => [list()],
      (c) => [...times(rights, verify('email', c.last('email'))), ...(random() < 0.5 ? [list()] : [])],
      () => [write()],
      (c) => times(reuse, write(c.last('email'))),
      () => [write(WRONG)],
      () => [trigger('email')],
      (c) => [write(c.previous('email'))],
      (c) => [write(c.last('email'))],
      ...(off ? [(c: Codes) => [deactivate('email', c.last('email'))], () => [list()], () => [write()]] : []),
      () => [list()]
    ]
    return { principal, script: off ? 'standard+off' : 'standard', steps }
  }
  if (pick < 0.7) {
    // two factors: adding the second needs a code of the first; step-up takes either
    return {
      principal,
      script: 'two-factors',
      steps: [
        () => [activate('email')],
        (c) => [verify('email', c.last('email'))],
        () => [activate('sms')],
        () => [activate('sms', WRONG)],
        (c) => [activate('sms', c.last('email'))],
        (c) => [verify('sms', c.last('sms'))],
        () => [list()],
        (c) => [write(c.last('email')), write(c.last('sms'))],
        () => [trigger('sms')],
        () => [write(WRONG)],
        (c) => [deactivate('email', c.last('email'))],
        (c) => [write(c.last('sms')), list()],
        () => [list()]
      ]
    }
  }
  if (pick < 0.85) {
    // a code blocked by concurrent wrong guesses stays blocked; a new activation starts over
    return {
      principal,
      script: 'blocked',
      steps: [
        () => [activate('email')],
        () => times(3, verify('email', WRONG)),
        (c) => [verify('email', c.last('email'))],
        () => [list()],
        () => [activate('email')],
        (c) => [verify('email', c.last('email'))],
        (c) => times(3, write(c.last('email'))),
        () => [list()]
      ]
    }
  }
  if (pick < 0.95) {
    // the principal lockout: the 8th failure locks, then even the right code is refused
    return {
      principal,
      script: 'lockout',
      steps: [
        () => [activate('email')],
        () => times(4, verify('email', WRONG)),
        () => [activate('email')],
        () => times(3, verify('email', WRONG)),
        () => [verify('email', WRONG)],
        (c) => [verify('email', c.last('email'))],
        () => [list()]
      ]
    }
  }
  // two deactivations at once: one wins, the other finds nothing to deactivate
  return {
    principal,
    script: 'double-deactivate',
    steps: [
      () => [activate('email')],
      (c) => [verify('email', c.last('email'))],
      (c) => [deactivate('email', c.last('email')), deactivate('email', c.last('email')), list()],
      () => [list()],
      () => [write()]
    ]
  }
}

export function plans (prefix: string, count: number, seed: number): Plan[] {
  const random = prng(seed)
  return Array.from({ length: count }, (_, i) => scriptFor(`${prefix}${i}`, random))
}

const RESOURCE: Record<Exclude<Kind, 'list' | 'write'>, string> = {
  activate: 'multi-factor-auth-type-activate',
  verify: 'multi-factor-auth-type-verify',
  deactivate: 'multi-factor-auth-type-deactivate',
  trigger: 'multi-factor-auth-trigger'
}

export interface HttpRequest {
  method: string
  path: string
  headers: Record<string, string>
  body?: string
}

/** The request a client sends for one op; `write` is a protected write (PATCH /carts/:id). */
export function toRequest (op: Op, token: string): HttpRequest {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` }
  if (op.code !== undefined) headers['x-mfa-code'] = op.code
  if (op.kind === 'list') return { method: 'GET', path: '/multi-factor-auth-types', headers }
  if (op.kind === 'write') {
    return { method: 'PATCH', path: `/carts/${op.principal}`, headers: { ...headers, 'content-type': 'application/json' }, body: '{}' }
  }
  const resource = RESOURCE[op.kind]
  return {
    method: 'POST',
    path: `/${resource}`,
    headers: { ...headers, 'content-type': 'application/vnd.api+json' },
    body: JSON.stringify({ data: { type: resource, attributes: { type: op.type } } })
  }
}

/**
 * "status glue-code" of an answer, and what is wrong with its shape if it is an error: every
 * error must be a JSON:API error document.
 */
export function classify (op: OpSpec, status: number, body: string, contentType: string | undefined): { result: string, shapeError?: string } {
  if (status < 300) {
    if (op.kind !== 'list') return { result: String(status) }
    try {
      const data = JSON.parse(body).data as Array<{ id: string, attributes: { status: number } }>
      return { result: `${status} ${data.map((d) => `${d.id}=${d.attributes.status}`).join(',')}` }
    } catch {
      return { result: `${status} unreadable list`, shapeError: `list body ${body.slice(0, 200)}` }
    }
  }
  let code = '?'
  let shapeError: string | undefined
  try {
    const doc = JSON.parse(body)
    const error = doc.errors?.[0]
    code = error?.code ?? '-'
    if (Object.keys(doc).join() !== 'errors' || doc.errors.length !== 1 || error.status !== status || typeof error.detail !== 'string') {
      shapeError = `not a JSON:API error document: ${body.slice(0, 200)}`
    } else if (status >= 500 && !(error.detail === 'Internal server error.' || error.code === '5903')) {
      shapeError = `unexpected 5xx detail: ${body.slice(0, 200)}`
    }
  } catch {
    shapeError = `not JSON: ${body.slice(0, 200)}`
  }
  if (shapeError === undefined && !/^application\/vnd\.api\+json/.test(contentType ?? '')) shapeError = `content type ${contentType}`
  return { result: code === '-' ? String(status) : `${status} ${code}`, shapeError }
}

interface Run {
  plan: Plan
  index: number
  steps: Op[][]
  pending: number
  done: boolean
}

/**
 * Hands out requests: the ready requests of the principals' current steps first, else a
 * filler (a list or an unprotected write of an idle principal, whose answers never change).
 * A principal's next step is built when every request of its step has answered; after a
 * step with a 5xx the principal stops (its later steps would start from an unknown state).
 */
export class Workload {
  readonly runs = new Map<string, Run>()
  readonly fillers: Op[] = []
  /** Answers received so far (fillers included). */
  answered = 0
  readonly #ready: Op[] = []
  #readyAt = 0
  #nextId = 0
  #open = 0
  #frozen = false
  #idle: string[]
  /** Called once no principal has a request left to send or to wait for. */
  onFinished: () => void = () => {}

  constructor (readonly outbox: CodeSource, readonly token: (principal: string) => string, idle: string[]) {
    this.#idle = idle
  }

  add (plans: Plan[]): void {
    for (const plan of plans) {
      const run: Run = { plan, index: -1, steps: [], pending: 0, done: false }
      this.runs.set(plan.principal, run)
      this.#open++
      this.#advance(run)
    }
  }

  get finished (): boolean {
    return this.#open === 0
  }

  /** Keeps the run going (on fillers) until `release()`, e.g. while waiting to add more principals. */
  hold (): void {
    this.#open++
  }

  release (): void {
    if (--this.#open === 0) this.onFinished()
  }

  /** From now on only fillers go out (the server under test is gone). */
  freeze (): void {
    this.#frozen = true
  }

  /** Requests of principals' scripts (not fillers), in the order they were handed out. */
  get ops (): Op[] {
    return [...this.runs.values()].flatMap((run) => run.steps.flat())
  }

  take (instance: number): Op {
    const op = !this.#frozen && this.#readyAt < this.#ready.length ? this.#ready[this.#readyAt++] : this.#filler()
    if (this.#readyAt > 4096 && this.#readyAt * 2 > this.#ready.length) {
      this.#ready.splice(0, this.#readyAt)
      this.#readyAt = 0
    }
    op.instance = instance
    op.sentAt = Date.now()
    if (op.type !== undefined) op.codesBefore = this.outbox.codes(op.principal, op.type).length
    return op
  }

  complete (op: Op, status: number, body: string, contentType: string | undefined): void {
    if (op.result !== undefined) return
    this.answered++
    const { result, shapeError } = classify(op, status, body, contentType)
    op.status = status
    op.result = result
    op.doneAt = Date.now()
    if (shapeError !== undefined) op.shapeError = shapeError
    if (op.type !== undefined && op.kind !== 'list' && op.kind !== 'write') {
      this.outbox.refresh()
      op.issued = this.outbox.codes(op.principal, op.type).slice(op.codesBefore)
    }
    if (op.step < 0) return
    const run = this.runs.get(op.principal) as Run
    if (--run.pending > 0) return
    if (run.steps[run.index].some((o) => (o.status as number) >= 500)) this.#finish(run)
    else this.#advance(run)
  }

  /** After a run ends: the codes that requests with no answer sent (read from the outbox at the end). */
  settle (): void {
    this.outbox.refresh()
    for (const op of this.ops) {
      if (op.result === undefined && op.type !== undefined && op.sentAt !== 0) {
        op.issued = this.outbox.codes(op.principal, op.type).slice(op.codesBefore)
      }
    }
  }

  #advance (run: Run): void {
    for (;;) {
      run.index++
      if (run.index >= run.plan.steps.length) {
        this.#finish(run)
        return
      }
      this.outbox.refresh()
      const { principal } = run.plan
      const codes: Codes = {
        last: (type) => this.outbox.codes(principal, type).at(-1) ?? WRONG,
        previous: (type) => this.outbox.codes(principal, type).at(-2) ?? WRONG
      }
      const specs = run.plan.steps[run.index](codes)
      const ops = specs.map((spec) => this.#op(principal, run.index, spec))
      run.steps.push(ops)
      if (ops.length === 0) continue
      run.pending = ops.length
      this.#ready.push(...ops)
      return
    }
  }

  #finish (run: Run): void {
    if (run.done) return
    run.done = true
    this.release()
  }

  #op (principal: string, step: number, spec: OpSpec): Op {
    return { ...spec, id: this.#nextId++, principal, step, instance: -1, sentAt: 0, codesBefore: 0 }
  }

  #filler (): Op {
    const principal = this.#idle[this.#nextId % this.#idle.length]
    const op = this.#op(principal, -1, this.#nextId % 2 === 0 ? { kind: 'list' } : { kind: 'write' })
    this.fillers.push(op)
    return op
  }
}

/** The part of autocannon 9 used here (it ships no types). */
interface AutocannonRequest {
  setupRequest: (request: Record<string, unknown>, context: Record<string, unknown>) => Record<string, unknown>
  onResponse: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string | string[]>) => void
}
interface AutocannonResult {
  errors: number
  timeouts: number
  non2xx: number
  duration: number
  statusCodeStats: Record<string, { count: number }>
}
interface AutocannonInstance {
  stop: () => void
}
type Autocannon = (options: {
  url: string
  connections: number
  duration: number
  timeout: number
  requests: AutocannonRequest[]
}, callback: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon

export interface DriveOptions {
  /** autocannon connections per target. */
  connections: number
  /** Hard bound of the run (s); it normally ends as soon as the workload is finished. */
  maxSeconds: number
  /** autocannon's per-request timeout (s): a request still unanswered then is given up. */
  timeoutSeconds: number
}

export interface DriveResult {
  results: AutocannonResult[]
  seconds: number
  /** Whether the workload finished before maxSeconds. */
  finished: boolean
}

/** One autocannon per target URL, all pulling from `workload`; `stop` ends them early (at their next 1 s tick). */
export function drive (workload: Workload, urls: string[], options: DriveOptions): { done: Promise<DriveResult>, stop: () => void } {
  const started = Date.now()
  const instances: AutocannonInstance[] = []
  const stop = (): void => { for (const instance of instances) instance.stop() }
  const done = Promise.all(urls.map((url, target) => new Promise<AutocannonResult>((resolve, reject) => {
    instances.push(autocannon({
      url,
      connections: options.connections,
      duration: options.maxSeconds,
      timeout: options.timeoutSeconds,
      requests: [{
        setupRequest: (request, context) => {
          const op = workload.take(target)
          context.op = op
          const { method, path, headers, body } = toRequest(op, workload.token(op.principal))
          return { ...request, method, path, headers, body }
        },
        onResponse: (status, body, context, headers) => {
          const contentType = headers['content-type'] ?? headers['Content-Type']
          workload.complete(context.op as Op, status, body, Array.isArray(contentType) ? contentType[0] : contentType)
        }
      }]
    }, (err, result) => { if (err !== null) reject(err); else resolve(result) }))
  }))).then((results) => ({ results, seconds: (Date.now() - started) / 1000, finished: workload.finished }))
  workload.onFinished = stop
  if (workload.finished) stop()
  return { done, stop }
}

/** Counts of `values`, for messages. */
export function tally (values: Iterable<string>): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1
  return counts
}
