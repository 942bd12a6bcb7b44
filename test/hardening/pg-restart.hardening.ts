// Faults: PostgreSQL stopped for a few seconds and started again while two instances are
// under load. Requests during the outage fail quickly with a JSON:API 500 (5903 on
// deactivate), nothing hangs or crashes, the pools reconnect by themselves, principals
// served after the outage behave exactly as without it, and the ones caught in it end in a
// state some serial order of their requests gives (a failed request applied or not).
import t from 'tap'
import { postgresRepository } from '../../lib/repositories/postgres.js'
import { freshPrefix, pgUrl, postgresAvailable } from '../repositories/pg.js'
import { checkRun, percentile, startCluster } from './cluster.js'
import type { Op } from './model.js'
import { ensureRunning, localCluster, pgCtl, safetyNet, waitReady } from './pgctl.js'
import { drive, tally } from './drive.js'
import { plans } from './scripts.js'
import { Workload } from './workload.js'

const BEFORE = 400
const AFTER = 300
/** How long the database stays down. */
const OUTAGE_MS = 3000
/** The repository's pool bounds (its defaults): no request may take longer than both together. */
const BOUND_MS = 5000 + 10_000
const SEED = Number(process.env.MFA_HARDENING_SEED ?? 20260101)

async function until (what: string, ms: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

if (await postgresAvailable(t, { embedded: false })) {
  const cluster = localCluster()
  if (typeof cluster === 'string') {
    if (process.env.MFA_REQUIRE_PG === '1') t.fail(`MFA_REQUIRE_PG=1 but this test cannot restart PostgreSQL: ${cluster}`)
    else t.plan(0, `PostgreSQL outage test not run: ${cluster}`)
  } else {
    t.test('PostgreSQL stopped and started during the load', async (t) => {
      // Whatever happens here, PostgreSQL is running again when this test ends; and if this
      // process dies, a detached process starts it 20 s after the stop.
      let endSafetyNet = (): void => {}
      t.teardown(async () => {
        const back = await ensureRunning(cluster)
        endSafetyNet()
        if (!back) throw new Error('PostgreSQL did not come back')
      })
      const tablePrefix = freshPrefix(t)
      const open = (instance: number) => postgresRepository({ connectionString: pgUrl({ application_name: `glue-mfa-outage-${instance}` }), tablePrefix })
      const servers = await startCluster(t, [open(0), open(1)])
      const reader = open(2)
      t.teardown(() => reader.close?.())

      const workload = new Workload(servers.outbox, servers.token, ['idle-0', 'idle-1', 'idle-2'])
      workload.hold() // runs on fillers between the two groups of principals
      workload.add(plans('before-', BEFORE, SEED))
      const { done, stop } = drive(workload, servers.urls, { connections: 12, maxSeconds: 60, timeoutSeconds: 30 })
      let stoppingAt = 0
      let stoppedAt = 0
      let startingAt = 0
      let readyAt = 0
      let resumedAt = 0
      try {
        await until('quarter of the load', 30_000, () => workload.answered > BEFORE * 3)
        endSafetyNet = safetyNet(cluster, 20)
        stoppingAt = Date.now()
        await pgCtl(cluster, 'stop')
        stoppedAt = Date.now()
        t.comment(`PostgreSQL stopped in ${stoppedAt - stoppingAt} ms, ${workload.answered} answers in`)
        await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS))
        startingAt = Date.now()
        await pgCtl(cluster, 'start')
        t.ok(await waitReady(cluster, 60_000), 'PostgreSQL is back')
        readyAt = Date.now()
        // Service resumes by itself: each instance answers a store-backed request again.
        const resumed = (instance: number): boolean => {
          for (let i = workload.fillers.length - 1; i >= 0 && workload.fillers[i].sentAt >= readyAt; i--) {
            const op = workload.fillers[i]
            if (op.instance === instance && op.status !== undefined && op.status < 500) return true
          }
          return false
        }
        await until('answer after the outage', 20_000, () => resumed(0) && resumed(1))
        resumedAt = Date.now()
        t.comment(`outage ${readyAt - stoppingAt} ms (stop issued to pg_isready), down ${startingAt - stoppedAt} ms; both instances served again ${resumedAt - readyAt} ms after`)
        workload.add(plans('after-', AFTER, SEED + 1))
        workload.release()
      } catch (err) {
        workload.release()
        stop()
        await done
        throw err
      }
      const { results, seconds, finished } = await done
      t.ok(finished, `every script ran to its end within the bound (${seconds} s)`)

      const { problems, ops, verdicts } = await checkRun(workload, reader)
      const fillers = workload.fillers.filter((op) => op.result !== undefined)
      const all: Op[] = [...ops, ...fillers]
      const inOutage = (op: Op): boolean => (op.doneAt as number) >= stoppingAt && op.sentAt <= resumedAt
      const failed = all.filter((op) => (op.status as number) >= 500)
      const duringOutage = all.filter((op) => op.sentAt >= stoppedAt && op.sentAt <= startingAt)
      const latencies = all.map((op) => (op.doneAt as number) - op.sentAt)
      t.comment(`${all.length} requests in ${seconds} s; ${failed.length} answered 5xx; max latency ${percentile(latencies, 1)} ms, ` +
        `during the outage ${percentile(duringOutage.map((op) => (op.doneAt as number) - op.sentAt), 1)} ms`)
      t.comment(`answers to the ${duringOutage.length} requests sent while PostgreSQL was down: ${JSON.stringify(tally(duringOutage.map((op) => `${op.kind} ${op.result}`)))}`)

      t.equal(ops.filter((op) => op.result === undefined).length, 0, 'every request answered (none hung)')
      for (const [i, result] of results.entries()) t.equal(result.timeouts, 0, `autocannon on instance ${i}: no timeout`)
      t.ok(percentile(latencies, 1) < BOUND_MS, `no request took longer than ${BOUND_MS} ms`)
      t.ok(duringOutage.length > 100, 'the load went on during the outage')
      t.same(tally(duringOutage.map((op) => op.status === 500 ? 'ok' : `${op.kind} ${op.result}`)), { ok: duringOutage.length }, 'every request during the outage: 500')
      t.same(failed.filter((op) => !(op.result === '500' || (op.kind === 'deactivate' && op.result === '500 5903'))).map((op) => `${op.kind} ${op.result}`), [],
        '5xx are "500 Internal server error." or, on deactivate, 5903')
      t.same(failed.filter((op) => op.shapeError !== undefined).map((op) => op.shapeError).slice(0, 3), [], 'every 5xx is a JSON:API error document')
      t.same(failed.filter((op) => !inOutage(op)).map((op) => `${op.kind} ${op.result} at ${op.sentAt - stoppedAt} ms`).slice(0, 5), [], 'no 5xx outside the outage')

      const after = verdicts.filter((v) => v.principal.startsWith('after-'))
      t.equal(after.length, AFTER, `${AFTER} principals served after the outage`)
      t.same(ops.filter((op) => op.principal.startsWith('after-') && (op.status as number) >= 500).length, 0, 'principals served after the outage: no 5xx')
      const caught = new Set(ops.filter((op) => (op.status as number) >= 500).map((op) => op.principal))
      t.ok(caught.size > 0, `${caught.size} principals had a request fail in the outage`)
      t.same(problems.slice(0, 10), [], `every principal fits a serial replay (${problems.length} problems)`)
      t.same(servers.watch.leaks.slice(0, 1), [], 'no code or token in a log line')
    })
  }
}
