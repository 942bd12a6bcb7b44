// Server instances in this process for the hardening tests: real HTTP listeners on
// 127.0.0.1, built like every test app (test/helpers.ts), sharing one outbox, plus the
// replay check of a whole run against the store.
import type { Test } from 'tap'
import type { AddressInfo } from 'node:net'
import { CodeKeys } from '../../lib/codes.js'
import { emailProvider, type MfaRepository } from '../../lib/index.js'
import { buildApp, CODE_SECRET, LogCapture, type TestApp } from '../helpers.js'
import { HARDENING_OPTIONS, type Op, readStored, replay, type Verdict } from './model.js'
import { SharedOutbox } from './outbox.js'
import type { Workload } from './workload.js'

/**
 * Checks every log line for the run's codes and tokens as it is written, keeping none: the
 * helpers' check compares each line with every secret, too slow for tens of thousands.
 */
export class LeakWatch extends LogCapture {
  readonly secrets = new Set<string>()
  count = 0
  constructor () {
    super(false)
    this.stream = {
      write: (line: string): void => {
        this.count++
        for (const match of line.matchAll(/"(\d{6})"|(eyJ[\w-]+\.[\w-]+\.[\w-]+)/g)) {
          if (this.secrets.has(match[1] ?? match[2])) this.leaks.push(line)
        }
      }
    }
  }
}

export interface Cluster {
  apps: TestApp[]
  urls: string[]
  outbox: SharedOutbox
  watch: LeakWatch
  token: (principal: string) => string
}

/** One listening app per repository, all on one store; closed when `t` ends. */
export async function startCluster (t: Test, repositories: MfaRepository[]): Promise<Cluster> {
  const watch = new LeakWatch()
  const outbox = new SharedOutbox((code) => { watch.secrets.add(code) })
  const apps: TestApp[] = []
  for (const repository of repositories) {
    const built = await buildApp({
      ...HARDENING_OPTIONS,
      repository,
      providers: [emailProvider({ send: outbox.send }), emailProvider({ type: 'sms', send: outbox.send })],
      clock: Date.now,
      onEvent: () => {}
    }, (app) => {
      app.patch('/carts/:id', async (_request, reply) => await reply.code(204).send())
    }, watch)
    t.teardown(() => built.app.close())
    await built.app.listen({ host: '127.0.0.1', port: 0 })
    apps.push(built)
  }
  const tokens = new Map<string, string>()
  const token = (principal: string): string => {
    let signed = tokens.get(principal)
    if (signed === undefined) {
      signed = apps[0].app.jwt.sign({ sub: principal })
      watch.secrets.add(signed)
      tokens.set(principal, signed)
    }
    return signed
  }
  const urls = apps.map(({ app }) => `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`)
  return { apps, urls, outbox, watch, token }
}

export const codeKeys = new CodeKeys(CODE_SECRET)

export interface RunCheck {
  verdicts: Verdict[]
  /** Every problem found, prefixed by its principal. */
  problems: string[]
  /** The principals' requests that were sent. */
  ops: Op[]
}

/** The steps of a principal that were sent (a stopped run may leave some unsent). */
export function sentSteps (workload: Workload, principal: string): Op[][] {
  const run = workload.runs.get(principal)
  if (run === undefined) return []
  return run.steps.map((ops) => ops.filter((op) => op.sentAt !== 0)).filter((ops) => ops.length > 0)
}

/**
 * Replays every principal of `workload` (model.ts) against what `reader` holds now, and
 * checks that each code the outbox received belongs to exactly one request.
 */
export async function checkRun (workload: Workload, reader: MfaRepository, principals = [...workload.runs.keys()]): Promise<RunCheck> {
  workload.settle()
  const verdicts: Verdict[] = []
  const problems: string[] = []
  const ops: Op[] = []
  for (let i = 0; i < principals.length; i += 25) {
    await Promise.all(principals.slice(i, i + 25).map(async (principal) => {
      const steps = sentSteps(workload, principal)
      const verdict = replay(principal, steps, await readStored(reader, principal), codeKeys)
      for (const op of steps.flat()) {
        ops.push(op)
        if (op.shapeError !== undefined) verdict.problems.push(`${op.kind} answered ${op.status}: ${op.shapeError}`)
        if (op.issued !== undefined && op.issued.length > 0 && op.kind !== 'activate' && op.kind !== 'trigger') {
          verdict.problems.push(`${op.kind} ${op.type} sent a code`)
        }
      }
      for (const type of ['email', 'sms']) {
        const attributed = steps.flat().filter((op) => op.type === type).reduce((n, op) => n + (op.issued?.length ?? 0), 0)
        const sent = workload.outbox.codes(principal, type).length
        if (attributed !== sent) verdict.problems.push(`${sent} ${type} codes sent, ${attributed} of them by its requests`)
      }
      verdicts.push(verdict)
      problems.push(...verdict.problems.map((problem) => `${principal} (${workload.runs.get(principal)?.plan.script}): ${problem}`))
    }))
  }
  return { verdicts, problems, ops }
}

/** Percentile of `values` (ms), for reports. */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}
