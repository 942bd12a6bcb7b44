import { test } from 'tap'
import { lockoutStep } from '../../lib/repositories/lockout.js'
import { inspectMemory, memoryRepository } from '../../lib/repositories/memory.js'
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
  const live = (principalId: string, type: string) => inspectMemory(inner).records.get(principalId)?.get(type)
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
      if (seen === null || seen.status !== options.requireStatus) return 'status-changed'
      const record = live(principalId, type)
      if (record === undefined) return 'status-changed'
      if ('hash' in proof) {
        const code = seen.code
        if (code === null || code.hash !== proof.hash || options.now >= code.expiresAt || code.attempts >= options.maxAttempts) return 'code-invalid'
        if (record.code !== null) record.code.verified = true
      } else if ('challenge' in proof) {
        const code = seen.code
        if (code === null || code.hash !== proof.challenge || options.now >= code.expiresAt || code.attempts >= options.maxAttempts) return 'code-invalid'
        record.code = null
        record.secret = proof.secret
      } else if ('step' in proof) {
        if (seen.lastStep !== null && proof.step <= seen.lastStep) return 'code-invalid'
        record.lastStep = proof.step
      } else {
        const hashes = (seen.secret ?? '').split(',')
        if (proof.spend === '' || !hashes.includes(proof.spend)) return 'code-invalid'
        record.secret = hashes.filter((h) => h !== proof.spend).join(',')
      }
      if (options.enable) record.status = 2
      const counters = inspectMemory(inner).lockouts.get(principalId)
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
      // Decided on a read of the locks as they were before yielding...
      const tokenLock = options.token === null ? 0 : inspectMemory(inner).lockouts.get(principalId)?.get(options.token.id)?.lockedUntil ?? 0
      const lockedUntil = Math.max(await inner.lockedUntil(principalId), tokenLock)
      await yieldNow()
      if (options.now < lockedUntil) return { admitted: false, lockedUntil }
      // ...then counted without looking again.
      const counters = inspectMemory(inner).lockouts.get(principalId) ?? new Map()
      inspectMemory(inner).lockouts.set(principalId, counters)
      const { locked, ...next } = lockoutStep(counters.get('') ?? { failures: 0, lockedUntil: 0, lastLock: 0 }, options.principal, options.now)
      counters.set('', next)
      if (options.token === null) return { admitted: true, locked }
      const own = lockoutStep(counters.get(options.token.id) ?? { failures: 0, lockedUntil: 0, lastLock: 0 }, options.token.rule, options.now)
      counters.set(options.token.id, { failures: own.failures, lockedUntil: own.lockedUntil, lastLock: own.lastLock })
      return { admitted: true, locked: locked || own.locked }
    }
  }
}

test('the suite catches a repository that is only correct one call at a time', async (t) => {
  const repository = racyRepository()
  const failed: string[] = []
  await repositoryConformance(async (name, fn) => { await fn().catch(() => failed.push(name)) }, () => repository)
  t.same(failed.sort(), [
    '20 simultaneous acceptCode of one challenge: exactly one accepted, its secret stored',
    '20 simultaneous acceptCode of one time step: exactly one accepted',
    '20 simultaneous acceptCode spending one hash of a set: exactly one accepted, the others kept',
    '20 simultaneous acceptCode(enable) of the right code: exactly one accepted',
    '20 simultaneous reserveSend within the cooldown: exactly one slot',
    '40 simultaneous admissions on two tokens: each token its own threshold, the principal the ceiling',
    '50 simultaneous admissions: exactly `failures` admitted, one of them locking',
    '50 simultaneous countAttempts count exactly 50'
  ])
})

test('memoryRepository forgets what no longer matters: 100,000 principals who came and went leave nothing behind', async (t) => {
  const { setFlagsFromString } = await import('node:v8')
  const { runInNewContext } = await import('node:vm')
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const heap = (): number => { gc(); gc(); return process.memoryUsage().heapUsed }
  const repository = memoryRepository()
  const now = 1_767_225_600_000
  const before = heap()
  // Each one activated email (a code and a send slot), then deactivated it; one keeps email enabled.
  for (let i = 0; i < 100_000; i++) {
    const p = `gone-${i}`
    await repository.reserveSend(p, 'email', now, 30_000)
    await repository.beginActivation(p, 'email', null, { hash: 'a'.repeat(64), expiresAt: now + 1_800_000 })
    await repository.disable(p, 'email')
  }
  await repository.beginActivation('stays', 'email', null, { hash: 'b'.repeat(64), expiresAt: now + 1_800_000 })
  await repository.acceptCode('stays', 'email', { hash: 'b'.repeat(64) }, { now, maxAttempts: 3, requireStatus: 1, enable: true, tokenId: null })
  await repository.admit('locked-out', { now, principal: { failures: 5, duration: 1000, maxDuration: 1000 }, token: null })
  const full = heap()
  t.equal(inspectMemory(repository).records.size, 100_001)
  // A day later (send slots can last 24 h), the next write sweeps.
  await repository.admit('someone', { now: now + 24 * 3_600_000, principal: { failures: 5, duration: 1000, maxDuration: 1000 }, token: null })
  const swept = heap()
  t.same([...inspectMemory(repository).records.keys()], ['stays'], 'only the enabled type is kept')
  t.same([...inspectMemory(repository).lockouts.keys()].sort(), ['locked-out', 'someone'], 'and the lockout counts, which only an accepted code resets')
  t.comment(`heap: ${((full - before) / 1048576).toFixed(1)} MiB with 100,000 gone principals, ${((swept - before) / 1048576).toFixed(1)} MiB after the sweep`)
  t.ok(swept - before < (full - before) / 4, 'the heap is back near where it started')
})

test('inspectMemory reads only repositories made by memoryRepository()', async (t) => {
  t.throws(() => inspectMemory({ ...memoryRepository() }), /not a memoryRepository\(\)/)
  t.equal(inspectMemory(memoryRepository()).records.size, 0)
})

test('the sweep drops a disabled type 24 h after its last change, and keeps what still matters', async (t) => {
  const HOUR = 3_600_000
  const rule = { failures: 5, duration: 1000, maxDuration: 1000 }
  const now = 1_767_225_600_000
  const repository = memoryRepository()
  const records = inspectMemory(repository).records
  const types = (who: string): string[] => [...records.get(who)?.keys() ?? []].sort()
  // A write with `now` sweeps, at most once a minute.
  const sweepAt = async (at: number): Promise<void> => { await repository.admit('sweeper', { now: at, principal: rule, token: null }) }

  // Disabled with a send slot (activated, then deactivated at once).
  await repository.reserveSend('slot', 'email', now, 24 * HOUR)
  await repository.beginActivation('slot', 'email', null, { hash: 'a'.repeat(64), expiresAt: now + 1000 })
  await repository.disable('slot', 'email')
  // Pending and enabled types, untouched for days.
  await repository.beginActivation('pending', 'totp', 'sealed')
  await repository.beginActivation('enabled', 'totp', 'sealed')
  await repository.acceptCode('enabled', 'totp', { step: 1 }, { now, maxAttempts: 3, requireStatus: 1, enable: true, tokenId: null })
  // Disabled, but holding a code that is still live in two days.
  await repository.storeCode('live', 'email', { hash: 'b'.repeat(64), expiresAt: now + 48 * HOUR })
  // Changed later than `now` by a write that came with a later time...
  await repository.reserveSend('later', 'email', now + 10 * 60_000, 0)
  // ...then disabled by a call that came with an earlier one: the latest time seen stamps it.
  await repository.admit('later', { now, principal: rule, token: null })
  await repository.beginActivation('later', 'email', null)
  await repository.disable('later', 'email')

  await sweepAt(now + 24 * HOUR - 1)
  t.same(types('slot'), ['email'], '1 ms before 24 h: the disabled type is kept')
  t.equal((await repository.getType('slot', 'email'))?.lastSentAt, now, 'and so is its send slot')
  await sweepAt(now + 24 * HOUR + 59_998)
  t.same(types('slot'), ['email'], 'swept at most once a minute: not yet looked at again')
  await sweepAt(now + 24 * HOUR + 59_999)
  t.same(types('slot'), [], 'a minute after the last sweep, 24 h after its last change: dropped')
  t.notOk(records.has('slot'), 'and the principal left with nothing')
  t.same(types('later'), ['email'], 'changed at the latest time seen, 10 min after `now`: kept')
  await sweepAt(now + 24 * HOUR + 10 * 60_000)
  t.notOk(records.has('later'), '24 h after that: dropped')

  await sweepAt(now + 47 * HOUR)
  t.same(types('live'), ['email'], 'a disabled type with a live code is kept')
  await sweepAt(now + 48 * HOUR)
  t.notOk(records.has('live'), 'and dropped once the code expired')
  await sweepAt(now + 100 * HOUR)
  t.equal(records.get('pending')?.get('totp')?.status, 1, 'a pending type is kept')
  t.equal(records.get('enabled')?.get('totp')?.status, 2, 'an enabled type is kept')
})

test('memoryRepository: edge cases of accept, reset and the counters', async (t) => {
  const rule = { failures: 5, duration: 1000, maxDuration: 1000 }
  const now = 1_767_225_600_000
  const accept = { now, maxAttempts: 3, requireStatus: 1 as const, enable: false, tokenId: null }
  const repository = memoryRepository()
  const { lockouts } = inspectMemory(repository)

  // Spending from a type that holds no set, or from a set already used up, finds nothing.
  await repository.beginActivation('p', 'email', null)
  t.equal(await repository.acceptCode('p', 'email', { spend: 'a'.repeat(64) }, accept), 'code-invalid', 'no set at all')
  await repository.beginActivation('p', 'recovery-codes', 'a'.repeat(64))
  t.equal(await repository.acceptCode('p', 'recovery-codes', { spend: 'a'.repeat(64) }, accept), 'accepted')
  t.equal((await repository.getType('p', 'recovery-codes'))?.secret, '')
  t.equal(await repository.acceptCode('p', 'recovery-codes', { spend: '' }, accept), 'code-invalid', 'an empty set holds no empty hash')

  // An accepted code resets the token it came with: its count starts again from zero.
  const withToken = { now, principal: rule, token: { id: 'jti-1', rule: { failures: 2, duration: 1000, maxDuration: 1000 } } }
  t.same(await repository.admit('p', withToken), { admitted: true, locked: false })
  await repository.beginActivation('p', 'totp', 'sealed')
  t.equal(await repository.acceptCode('p', 'totp', { step: 1 }, { ...accept, tokenId: 'jti-1' }), 'accepted')
  t.same(await repository.admit('p', withToken), { admitted: true, locked: false }, 'one failure after the reset: not the second')
  // Counters reset to nothing are not kept.
  t.equal(await repository.acceptCode('p', 'totp', { step: 2 }, { ...accept, tokenId: 'jti-1' }), 'accepted')
  t.notOk(lockouts.has('p'), 'a principal without counters leaves no entry')

  // Nothing stored is not time 0: a clock near the epoch gets its first send slot and its first step.
  t.equal(await repository.reserveSend('epoch', 'email', 0, 30_000), 0, 'a first send slot at time 0')
  await repository.beginActivation('epoch', 'totp', 'sealed')
  t.equal(await repository.acceptCode('epoch', 'totp', { step: 0 }, { ...accept, now: 0 }), 'accepted', 'step 0 as the first step')
  t.equal(await repository.acceptCode('epoch', 'totp', { step: 0 }, { ...accept, now: 0 }), 'code-invalid', 'and only once')

  // Principals never seen: nothing to change, no error.
  t.same(await repository.reset('nobody', null), [])
  await repository.revokeCodes('nobody')
  await repository.releaseSend('nobody', 'email', now, null)
  await repository.clearLockout('nobody')
  t.equal(inspectMemory(repository).records.has('nobody'), false, 'and nothing stored for them')
})
