// The replay check can fail: the same load through two instances on one in-process store,
// once correct and once with a store that loses failure counts or decides on stale reads.
import t, { type Test } from 'tap'
import { memoryRepository, type MfaRepository } from '../../lib/index.js'
import { checkRun, startCluster } from './cluster.js'
import { drive } from './drive.js'
import { plans } from './scripts.js'
import { Workload } from './workload.js'

const PRINCIPALS = 200
const SEED = Number(process.env.MFA_HARDENING_SEED ?? 20260101)

async function run (t: Test, repository: MfaRepository): Promise<string[]> {
  const cluster = await startCluster(t, [repository, repository])
  const workload = new Workload(cluster.outbox, cluster.token, ['idle-0', 'idle-1'])
  workload.add(plans('p', PRINCIPALS, SEED))
  const { done } = drive(workload, cluster.urls, { connections: 8, maxSeconds: 25, timeoutSeconds: 10 })
  const { finished } = await done
  t.ok(finished, 'every script ran to its end')
  const { problems, ops } = await checkRun(workload, repository)
  t.ok(ops.length > PRINCIPALS * 5, `${ops.length} requests`)
  return problems
}

t.test('a correct store: every principal fits a serial replay', async (t) => {
  const problems = await run(t, memoryRepository())
  t.same(problems.slice(0, 10), [], `${problems.length} problems`)
})

t.test('a store that loses every third admission count: caught', async (t) => {
  const inner = memoryRepository()
  let calls = 0
  const lossy: MfaRepository = {
    ...inner,
    async admit (principalId, options) {
      if (++calls % 3 === 0 && options.now >= await inner.lockedUntil(principalId)) return { admitted: true, locked: false }
      return await inner.admit(principalId, options)
    }
  }
  const problems = await run(t, lossy)
  t.ok(problems.length > 0, `${problems.length} principals' problems found, e.g. ${problems[0]}`)
  t.ok(problems.some((p) => /lockout|blocked/.test(p)), 'among them a lockout or blocked-code script')
})

t.test('a store that accepts a code on a stale read (check, then act): caught', async (t) => {
  const inner = memoryRepository()
  const racy: MfaRepository = {
    ...inner,
    async acceptCode (principalId, type, proof, options) {
      const before = await inner.getType(principalId, type)
      await new Promise((resolve) => setTimeout(resolve, 2))
      const result = await inner.acceptCode(principalId, type, proof, options)
      return result === 'status-changed' && before?.status === options.requireStatus ? 'accepted' : result
    }
  }
  const problems = await run(t, racy)
  t.ok(problems.some((p) => /no serial order explains/.test(p)), `a double enable is found, e.g. ${problems.find((p) => /no serial order/.test(p))}`)
})
