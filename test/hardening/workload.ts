// The load of the hardening tests: many principals at once, each running its script (scripts.ts)
// step after step, spread over the server instances by autocannon connections that pull the
// next ready request (drive.ts). Every request and its answer is recorded for the replay check
// (model.ts).
import { type Op, type OpSpec, WRONG } from './model.js'
import type { CodeSource } from './outbox.js'
import { classify } from './requests.js'
import type { Codes, Plan } from './scripts.js'

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
