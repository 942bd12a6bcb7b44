// Faults: a SQLite server process killed with SIGKILL under load. The file passes
// PRAGMA integrity_check, holds exactly what a serial replay of the answered requests gives
// (a request without an answer applied or not), and a server restarted on it keeps every
// enabled type enabled and every live code working, then serves a new load without a 5xx.
import t, { type Test } from 'tap'
import type { ChildProcess } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { sqliteRepository } from '../../lib/repositories/sqlite.js'
import { JWT_SECRET } from '../helpers.js'
import { checkRun, sentSteps } from './cluster.js'
import { issuesCode, MAX_ATTEMPTS, type Op, type OpSpec, TYPES } from './model.js'
import { startChildServer } from './child-server.js'
import { drive, tally } from './drive.js'
import { FileOutbox } from './outbox.js'
import { classify, toRequest } from './requests.js'
import { plans } from './scripts.js'
import { Workload } from './workload.js'

const PRINCIPALS = 400
const AGAIN = 100
const SEED = Number(process.env.MFA_HARDENING_SEED ?? 20260101)
const SERVER = fileURLToPath(new URL('./sqlite-server.ts', import.meta.url))

/** An HS256 token as @fastify/jwt signs them, for a server in another process. */
function token (sub: string): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub, iat: Math.floor(Date.now() / 1000) })}`
  return `${unsigned}.${createHmac('sha256', JWT_SECRET).update(unsigned).digest('base64url')}`
}

interface Server {
  child: ChildProcess
  url: string
  exited: Promise<[number | null, NodeJS.Signals | null]>
}

async function startServer (t: Test, filename: string, outbox: string): Promise<Server> {
  const { child, url } = await startChildServer(t, SERVER, { MFA_SQLITE_FILE: filename, MFA_OUTBOX_FILE: outbox })
  const exited = child.exitCode === null && child.signalCode === null
    ? once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    : Promise.resolve([child.exitCode, child.signalCode] as [number | null, NodeJS.Signals | null])
  return { child, url, exited }
}

function integrity (filename: string): string {
  const db = new Database(filename)
  try {
    return String(db.pragma('integrity_check', { simple: true }))
  } finally {
    db.close()
  }
}

/** One request of `spec` for `principal`, by fetch; answers "status glue-code" as the load records it. */
async function request (url: string, principal: string, spec: OpSpec): Promise<string> {
  const op = { ...spec, principal } as Op
  const { method, path, headers, body } = toRequest(op, token(principal))
  const res = await fetch(url + path, { method, headers, body, signal: AbortSignal.timeout(10_000) })
  return classify(spec, res.status, await res.text(), res.headers.get('content-type') ?? undefined).result
}

t.test('a SQLite server killed with SIGKILL under load', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'glue-mfa-kill-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const filename = join(dir, 'mfa.db')
  const outboxFile = join(dir, 'outbox.jsonl')
  const outbox = new FileOutbox(outboxFile)

  const first = await startServer(t, filename, outboxFile)
  const workload = new Workload(outbox, token, ['idle-0', 'idle-1'])
  workload.add(plans('crash-', PRINCIPALS, SEED))
  // The kill comes right after a request of a script went out (process.nextTick: once
  // autocannon has written it), when a third of the load is done.
  let stop = (): void => {}
  let killedAfter = -1
  const take = workload.take.bind(workload)
  workload.take = (instance) => {
    const op = take(instance)
    if (killedAfter < 0 && op.step >= 0 && workload.answered >= PRINCIPALS * 5) {
      killedAfter = workload.answered
      process.nextTick(() => {
        first.child.kill('SIGKILL')
        workload.freeze()
        stop()
      })
    }
    return op
  }
  const load = drive(workload, [first.url], { connections: 32, maxSeconds: 30, timeoutSeconds: 10 })
  stop = load.stop
  await load.done
  const [, signal] = await first.exited
  t.equal(signal, 'SIGKILL', `killed after ${killedAfter} answers`)
  t.notOk(workload.finished, 'while the load was running')
  workload.settle()
  const ops = workload.ops.filter((op) => op.sentAt !== 0)
  const unanswered = ops.filter((op) => op.result === undefined)
  t.ok(unanswered.length > 0, `${unanswered.length} requests were in flight at the kill: ${JSON.stringify(tally(unanswered.map((op) => op.kind)))}`)
  t.equal(ops.filter((op) => (op.status as number) >= 500).length, 0, 'no 5xx before the kill')

  // The file as the kill left it (its WAL not checkpointed).
  const wal = existsSync(`${filename}-wal`) ? statSync(`${filename}-wal`).size : 0
  t.ok(wal > 0, `a WAL of ${wal} bytes was left`)
  t.equal(integrity(filename), 'ok', 'PRAGMA integrity_check after the kill')
  const reader = sqliteRepository({ filename })
  const { verdicts, problems } = await checkRun(workload, reader)
  await reader.close?.()
  t.same(problems.slice(0, 10), [], `every principal's stored state fits a serial replay of its requests (${problems.length} problems)`)

  // Restarted on the same file: what was enabled is, and each live code still works.
  const second = await startServer(t, filename, outboxFile)
  let enabledSeen = 0
  let lists = 0
  let stepUps = 0
  let verifies = 0
  const wrong: string[] = []
  const check = async (principal: string): Promise<void> => {
    const state = verdicts.find((v) => v.principal === principal)?.matched
    if (state === undefined || state === null) return
    const answered = sentSteps(workload, principal).flat()
    // Every type whose verify answered 204, with no deactivate sent after it, is listed enabled.
    const listed = await request(second.url, principal, { kind: 'list' })
    lists++
    const want = `200 ${TYPES.map((type) => `${type}=${state.types[type].status}`).join(',')}`
    if (listed !== want) wrong.push(`${principal}: listed ${listed}, stored state says ${want}`)
    for (const type of TYPES) {
      const enabledAt = answered.map((op) => op.kind === 'verify' && op.type === type && op.result === '204').lastIndexOf(true)
      if (enabledAt >= 0 && !answered.slice(enabledAt).some((op) => op.kind === 'deactivate' && op.type === type)) {
        enabledSeen++
        if (!listed.includes(`${type}=2`)) wrong.push(`${principal}: ${type} was enabled (verify 204), now ${listed}`)
      }
    }
    for (const type of TYPES) {
      const { status, code } = state.types[type]
      if (code === null || code.attempts >= MAX_ATTEMPTS || state.locked) continue
      // The newest code a request answered 2xx for is the live one, unless a request that
      // created a code got no answer.
      const issuers = answered.filter((op) => issuesCode(op.kind) && op.type === type)
      const last = issuers.at(-1)
      if (last?.result === '204' && last.issued?.[0] !== code.value) wrong.push(`${principal}: the live ${type} code is not the last one sent`)
      if (status === 2) {
        stepUps++
        const res = await request(second.url, principal, { kind: 'write', code: code.value })
        if (res !== '204') wrong.push(`${principal}: step-up with the live ${type} code answered ${res}`)
      } else if (status === 1) {
        verifies++
        const res = await request(second.url, principal, { kind: 'verify', type, code: code.value })
        if (res !== '204') wrong.push(`${principal}: verify with the live ${type} code answered ${res}`)
      }
    }
  }
  const principals = [...workload.runs.keys()]
  for (let i = 0; i < principals.length; i += 16) await Promise.all(principals.slice(i, i + 16).map(check))
  t.same(wrong.slice(0, 10), [], `after the restart: ${lists} lists, ${enabledSeen} types enabled by a 204 verify still enabled, ` +
    `${stepUps} live codes passed step-up, ${verifies} pending types verified with their live code (${wrong.length} problems)`)
  t.ok(stepUps > PRINCIPALS / 10 && lists === verdicts.filter((v) => v.matched !== null).length, 'the checks covered the principals')

  // And it serves a new load.
  const again = new Workload(outbox, token, ['idle-0'])
  again.add(plans('again-', AGAIN, SEED + 2))
  const run = await drive(again, [second.url], { connections: 8, maxSeconds: 20, timeoutSeconds: 10 }).done
  t.ok(run.finished, `a new load of ${AGAIN} principals ran in ${run.seconds} s`)
  const checkReader = sqliteRepository({ filename })
  const after = await checkRun(again, checkReader)
  await checkReader.close?.()
  t.equal(after.ops.filter((op) => op.result === undefined || (op.status as number) >= 500).length, 0, 'no 5xx, no lost request')
  t.same(after.problems.slice(0, 10), [], `every new principal fits a serial replay (${after.problems.length} problems)`)

  second.child.kill('SIGTERM')
  const [code] = await second.exited
  t.equal(code, 0, 'the restarted server shut down cleanly')
  t.equal(integrity(filename), 'ok', 'PRAGMA integrity_check at the end')
})
