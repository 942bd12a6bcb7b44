// Load: two server instances on one PostgreSQL database, 1,000 principals running their
// scripts at once through autocannon. No 5xx, no lost request, every principal's answers
// and stored state fit a serial replay of its requests, no code or token in any log line.
import t from 'tap'
import { postgresRepository } from '../../lib/repositories/postgres.js'
import { freshPrefix, pgUrl, postgresAvailable } from '../repositories/pg.js'
import { checkRun, percentile, startCluster } from './cluster.js'
import { drive, tally } from './drive.js'
import { plans } from './scripts.js'
import { Workload } from './workload.js'

const PRINCIPALS = Number(process.env.MFA_HARDENING_PRINCIPALS ?? 1000)
const SEED = Number(process.env.MFA_HARDENING_SEED ?? 20260101)

if (await postgresAvailable(t)) {
  t.test(`two instances on one PostgreSQL database, ${PRINCIPALS} principals under autocannon`, async (t) => {
    const tablePrefix = freshPrefix(t)
    const open = (instance: number) => postgresRepository({ connectionString: pgUrl({ application_name: `glue-mfa-load-${instance}` }), tablePrefix })
    const cluster = await startCluster(t, [open(0), open(1)])
    const reader = open(2)
    t.teardown(() => reader.close?.())
    t.comment(`seed ${SEED} (MFA_HARDENING_SEED)`)

    const workload = new Workload(cluster.outbox, cluster.token, ['idle-0', 'idle-1', 'idle-2'])
    workload.add(plans('load-', PRINCIPALS, SEED))
    const { done } = drive(workload, cluster.urls, { connections: 16, maxSeconds: 60, timeoutSeconds: 20 })
    const { results, seconds, finished } = await done
    t.ok(finished, `every script ran to its end within the bound (${seconds} s)`)

    const { problems, ops } = await checkRun(workload, reader)
    const all = [...ops, ...workload.fillers.filter((op) => op.result !== undefined)]
    const fiveXx = all.filter((op) => (op.status as number) >= 500)
    const unanswered = ops.filter((op) => op.result === undefined)
    const latencies = all.map((op) => (op.doneAt as number) - op.sentAt)
    t.comment(`${all.length} requests (${ops.length} of scripts, ${all.length - ops.length} fillers) in ${seconds} s, ` +
      `${Math.round(all.length / seconds)} req/s; latency p50 ${percentile(latencies, 0.5)} ms, p99 ${percentile(latencies, 0.99)} ms, max ${percentile(latencies, 1)} ms`)
    t.comment(`answers: ${JSON.stringify(tally(ops.map((op) => `${op.kind} ${(op.result ?? 'none').replace(/ email=.*/, '')}`)))}`)
    t.comment(`scripts: ${JSON.stringify(tally([...workload.runs.values()].map((run) => run.plan.script)))}`)

    t.same(fiveXx.slice(0, 3).map((op) => `${op.kind} ${op.result}`), [], `no 5xx (${fiveXx.length})`)
    t.equal(unanswered.length, 0, 'every request answered')
    for (const [i, result] of results.entries()) {
      t.equal(result.errors + result.timeouts, 0, `autocannon on instance ${i}: no connection error or timeout`)
    }
    t.equal(workload.runs.size, PRINCIPALS, `${PRINCIPALS} principals checked`)
    t.same(problems.slice(0, 10), [], `every principal fits a serial replay (${problems.length} problems)`)

    const fillersWrong = workload.fillers.filter((op) => op.result !== undefined && op.result !== '204' && op.result !== '200 email=0,sms=0')
    t.same(fillersWrong.slice(0, 3).map((op) => op.result), [], 'idle principals always answer the same')

    // The load really went through both instances, and each principal's steps crossed them.
    const perInstance = tally(ops.map((op) => String(op.instance)))
    t.ok(Number(perInstance[0]) > ops.length / 4 && Number(perInstance[1]) > ops.length / 4, `both instances served: ${JSON.stringify(perInstance)}`)
    const served = new Map<string, Set<number>>()
    for (const op of ops) served.set(op.principal, (served.get(op.principal) ?? new Set()).add(op.instance))
    const crossed = [...served.values()].filter((instances) => instances.size === 2).length
    t.ok(crossed > PRINCIPALS * 0.9, `${crossed} principals were served by both instances`)
    t.ok(cluster.outbox.sent > PRINCIPALS * 1.5, `${cluster.outbox.sent} codes sent`)
    t.ok(cluster.watch.count > all.length, `${cluster.watch.count} log lines checked for codes and tokens`)
    t.same(cluster.watch.leaks.slice(0, 1), [], 'no code or token in a log line')
  })
}
