import { test } from 'tap'
import { memoryRepository } from '../../lib/repositories/memory.js'
import type { MfaRepository } from '../../lib/repositories/types.js'
import { repositoryConformance } from '../../lib/testing/index.js'

test('memoryRepository conforms', async (t) => {
  // One instance is the whole store, so the "second instance" is the same object; the
  // bare-function runner form is used here, the `{ test }` form by the other stores.
  const repository = memoryRepository()
  await repositoryConformance((name, fn) => t.test(name, fn), () => repository)
})

test('getStatuses is optional: a repository without it conforms', async (t) => {
  const { getStatuses, ...withoutStatuses } = memoryRepository()
  t.type(getStatuses, 'function')
  const failed: string[] = []
  await repositoryConformance(async (name, fn) => { await fn().catch(() => failed.push(name)) }, () => withoutStatuses)
  t.same(failed, [])
})

test('the suite catches a getStatuses that disagrees with getTypes', async (t) => {
  const inner = memoryRepository()
  const failed: string[] = []
  const wrong: MfaRepository = {
    ...inner,
    // Typical slip: the status column read back as text.
    getStatuses: async (principalId) => (await inner.getTypes(principalId)).map(({ type, status }) => ({ type, status: String(status) as any }))
  }
  await repositoryConformance(async (name, fn) => { await fn().catch(() => failed.push(name)) }, () => wrong)
  t.same(failed, ['getStatuses (optional) answers the type and status of every stored type, as getTypes does'])
})

/**
 * The memory repository with the classic mistake: decide on a read, yield, then write. Run
 * one call at a time it is correct; run concurrently it loses counts and double-spends.
 */
function racyRepository (): MfaRepository {
  const inner = memoryRepository()
  const live = (principalId: string, type: string) => inner.inspect().get(principalId)?.get(type)
  const yieldNow = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
  return {
    ...inner,
    async reserveSend (principalId, type, now, cooldown) {
      const seen = (await inner.getType(principalId, type))?.lastSentAt ?? null
      await yieldNow()
      if (seen !== null && now < seen + cooldown) return seen + cooldown
      return await inner.reserveSend(principalId, type, now, 0)
    },
    async acceptCode (principalId, type, proof, options) {
      const seen = await inner.getType(principalId, type)
      await yieldNow()
      if (seen === null || seen.status !== options.requireStatus) return 'state'
      const record = live(principalId, type)
      if (record === undefined) return 'state'
      if ('hash' in proof) {
        const code = seen.code
        if (code === null || code.hash !== proof.hash || options.now >= code.expiresAt || code.attempts >= options.maxAttempts) return 'code'
        if (record.code !== null) record.code.verified = true
      } else {
        if (seen.lastStep !== null && proof.step <= seen.lastStep) return 'code'
        record.lastStep = proof.step
      }
      if (options.enable) record.status = 2
      const counters = inner.inspectLockouts().get(principalId)
      counters?.delete('')
      if (options.tokenId !== null) counters?.delete(options.tokenId)
      return 'accepted'
    },
    async countAttempts (principalId, types, maxAttempts) {
      const seen = await Promise.all(types.map(async (type) => (await inner.getType(principalId, type))?.code?.attempts))
      await yieldNow()
      const blocked: string[] = []
      types.forEach((type, i) => {
        const code = live(principalId, type)?.code
        if (code === null || code === undefined) return
        code.attempts = (seen[i] as number) + 1
        if (code.attempts === maxAttempts) blocked.push(type)
      })
      return blocked
    },
    async admit (principalId, options) {
      // Decided on a read of the lock as it was before yielding...
      const lockedUntil = await inner.lockedUntil(principalId)
      await yieldNow()
      if (options.now < lockedUntil) return { admitted: false, lockedUntil }
      // ...then counted without looking again: a `now` moved past the current lock gets through
      // the inner store's own check (run one call at a time, nothing moves).
      return await inner.admit(principalId, { ...options, now: Math.max(options.now, await inner.lockedUntil(principalId)) })
    }
  }
}

test('the suite catches a repository that is only correct one call at a time', async (t) => {
  const repository = racyRepository()
  const failed: string[] = []
  await repositoryConformance(async (name, fn) => { await fn().catch(() => failed.push(name)) }, () => repository)
  t.same(failed.sort(), [
    '20 simultaneous acceptCode of one time step: exactly one accepted',
    '20 simultaneous acceptCode(enable) of the right code: exactly one accepted',
    '20 simultaneous reserveSend within the cooldown: exactly one slot',
    '40 simultaneous admissions on two tokens: each token its own threshold, the principal the ceiling',
    '50 simultaneous admissions: exactly `failures` admitted, one of them locking',
    '50 simultaneous countAttempts count exactly 50'
  ])
})
