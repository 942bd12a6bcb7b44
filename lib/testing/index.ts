import assert from 'node:assert/strict'
import { createHash, randomUUID } from 'node:crypto'
import type { AcceptOptions, Admission, AdmitOptions, CodeProof, LockoutRule, MfaRepository, TypeRecord } from '../repositories/types.js'
import { MFA_STATUS } from '../status.js'

/** Registers one named async check, e.g. node:test's `test`, mocha's `it`. */
export type ConformanceTest = (name: string, fn: () => Promise<void>) => unknown

/**
 * Returns a repository on the store under test. Every call must answer a repository on the
 * SAME store (the checks use fresh principal ids, so the store need not be empty). Answer a
 * new instance per call, with its own connection or pool, so that the concurrency checks run
 * across two connections as two server instances would. After each check the suite calls
 * `close()` once on every distinct instance it was given.
 */
export type RepositoryFactory = () => MfaRepository | Promise<MfaRepository>

export interface ConformanceOptions {
  /** Start of every principal id the checks write [`conformance-`]. */
  principalPrefix?: string
}

interface Check {
  /** The first instance. */
  repo: MfaRepository
  /** Another instance on the same store (two connections); concurrent calls alternate. */
  pair: () => Promise<[MfaRepository, MfaRepository]>
  /** A principal id no other check uses. */
  principal: () => string
}

const { DISABLED, PENDING, ENABLED } = MFA_STATUS
/** 2026-01-01: epoch ms beyond 32 bits, to catch columns too narrow for them. */
const NOW = 1_767_225_600_000
const TTL = 1_800_000
const WINDOW = 900_000
const STEP = Math.floor(NOW / 30_000)

const hash = (label: string): string => createHash('sha256').update(label).digest('hex')
const rule = (failures: number, duration = WINDOW, maxDuration = 4 * WINDOW): LockoutRule => ({ failures, duration, maxDuration })
/** An admission with the default rules (10 failures, 15 min doubling to 1 h) and no token. */
const admitting = (o: Partial<AdmitOptions> = {}): AdmitOptions => ({ now: NOW, principal: rule(10), token: null, ...o })
const accept = (o: Partial<AcceptOptions> = {}): AcceptOptions =>
  ({ now: NOW, maxAttempts: 3, requireStatus: PENDING, enable: false, tokenId: null, ...o })
const admitted = (locked = false): Admission => ({ admitted: true, locked })
const refused = (lockedUntil: number): Admission => ({ admitted: false, lockedUntil })
const record = (type: string, o: Partial<TypeRecord> = {}): TypeRecord =>
  ({ type, status: DISABLED, code: null, lastSentAt: null, secret: null, lastStep: null, ...o })
const count = <T>(values: T[], value: T): number => values.filter((v) => v === value).length
const times = <T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> => Promise.all(Array.from({ length: n }, (_, i) => fn(i)))

/** A pending email type with one fresh code `h` (expiring at NOW + TTL). */
async function pendingWithCode (repo: MfaRepository, p: string, h: string, type = 'email'): Promise<void> {
  assert.equal(await repo.beginActivation(p, type, null), true)
  await repo.storeCode(p, type, { hash: h, expiresAt: NOW + TTL })
}

/**
 * The contract of `MfaRepository` (lib/repositories/types.ts) with the semantics of
 * `memoryRepository()`, for third-party repositories: one named check per rule, including
 * the races of concurrent requests. Assertions are node:assert, so any runner works: pass a tap or
 * node:test context (anything with `test(name, fn)`) or a bare `test`/`it` function.
 *
 * ```ts
 * import { test } from 'node:test'
 * import { repositoryConformance } from 'fastify-glue-mfa/testing'
 * test('my repository', (t) => repositoryConformance(t, () => myRepository({ url })))
 * ```
 */
export async function repositoryConformance (runner: { test: ConformanceTest } | ConformanceTest, factory: RepositoryFactory, options: ConformanceOptions = {}): Promise<void> {
  const register: ConformanceTest = typeof runner === 'function' ? runner : (name, fn) => runner.test(name, fn)
  const prefix = options.principalPrefix ?? 'conformance-'
  // What the runner answered for each check: node:test ends a parent that does not await them.
  const registered: unknown[] = []

  function check (name: string, fn: (c: Check) => Promise<void>): void {
    registered.push(register(name, async () => {
      const instances: MfaRepository[] = []
      const get = async (): Promise<MfaRepository> => {
        const repo = await factory()
        if (!instances.includes(repo)) instances.push(repo)
        return repo
      }
      try {
        const repo = await get()
        await fn({ repo, pair: async () => [repo, await get()], principal: () => `${prefix}${randomUUID()}` })
      } finally {
        for (const repo of instances) await repo.close?.()
      }
    }))
  }

  check('ready (optional) resolves on a working store, and again when called twice', async ({ repo }) => {
    if (repo.ready === undefined) return
    await repo.ready()
    await repo.ready()
  })

  check('an untouched principal has nothing stored', async ({ repo, principal }) => {
    const p = principal()
    assert.deepEqual(await repo.getTypes(p), [])
    assert.equal(await repo.getType(p, 'email'), null)
    assert.equal(await repo.lockedUntil(p), 0)
  })

  check('getTypes answers every stored type of the principal, with numbers as numbers', async ({ repo, principal }) => {
    const p = principal()
    await pendingWithCode(repo, p, hash('a'))
    assert.equal(await repo.reserveSend(p, 'email', NOW, 30_000), 0)
    assert.equal(await repo.beginActivation(p, 'totp', 'sealed.secret'), true)
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP }, accept()), 'accepted')
    await repo.storeCode(p, 'sms', { hash: hash('b'), expiresAt: NOW + TTL })
    const email = record('email', { status: PENDING, code: { hash: hash('a'), expiresAt: NOW + TTL, attempts: 0, verified: false }, lastSentAt: NOW })
    const sms = record('sms', { code: { hash: hash('b'), expiresAt: NOW + TTL, attempts: 0, verified: false } })
    const totp = record('totp', { status: PENDING, secret: 'sealed.secret', lastStep: STEP })
    const sorted = (await repo.getTypes(p)).sort((a, b) => (a.type < b.type ? -1 : 1))
    assert.deepEqual(sorted, [email, sms, totp])
    assert.deepEqual(await repo.getType(p, 'totp'), totp)
  })

  check('getStatuses (optional) answers the type and status of every stored type, as getTypes does', async ({ repo, principal }) => {
    if (repo.getStatuses === undefined) return // the list then reads getTypes, checked above
    const p = principal()
    assert.deepEqual(await repo.getStatuses(p), [])
    await pendingWithCode(repo, p, hash('a'))
    assert.equal(await repo.beginActivation(p, 'totp', 'sealed.secret'), true)
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP }, accept({ enable: true })), 'accepted')
    await repo.storeCode(p, 'sms', { hash: hash('b'), expiresAt: NOW + TTL })
    const byType = (a: { type: string }, b: { type: string }): number => (a.type < b.type ? -1 : 1)
    const statuses = (await repo.getStatuses(p)).sort(byType)
    assert.deepEqual(statuses, [{ type: 'email', status: PENDING }, { type: 'sms', status: DISABLED }, { type: 'totp', status: ENABLED }])
    assert.deepEqual(statuses, (await repo.getTypes(p)).map(({ type, status }) => ({ type, status })).sort(byType))
    assert.deepEqual(await repo.getStatuses(principal()), [], 'another principal sees none of them')
  })

  check('beginActivation: disabled or pending → pending with the new secret, no code, no last step', async ({ repo, principal }) => {
    const p = principal()
    assert.equal(await repo.beginActivation(p, 'totp', 'secret-1'), true)
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP }, accept()), 'accepted')
    assert.equal(await repo.beginActivation(p, 'totp', 'secret-2'), true)
    assert.deepEqual(await repo.getType(p, 'totp'), record('totp', { status: PENDING, secret: 'secret-2' }))

    await pendingWithCode(repo, p, hash('a'))
    assert.equal(await repo.reserveSend(p, 'email', NOW, 30_000), 0)
    assert.equal(await repo.beginActivation(p, 'email', null), true)
    // The send slot is not the activation's business: it survives.
    assert.deepEqual(await repo.getType(p, 'email'), record('email', { status: PENDING, lastSentAt: NOW }))

    assert.equal(await repo.disable(p, 'email'), true)
    assert.equal(await repo.beginActivation(p, 'email', null), true)
    assert.equal((await repo.getType(p, 'email'))?.status, PENDING)
  })

  check('beginActivation with a code: pending with that code as the newest, in one step', async ({ repo, principal }) => {
    const p = principal()
    assert.equal(await repo.beginActivation(p, 'email', null, { hash: hash('a'), expiresAt: NOW + TTL }), true)
    assert.deepEqual(await repo.getType(p, 'email'), record('email', { status: PENDING, code: { hash: hash('a'), expiresAt: NOW + TTL, attempts: 0, verified: false } }))
    await repo.countAttempts(p, ['email'], 3)
    assert.equal(await repo.beginActivation(p, 'email', null, { hash: hash('b'), expiresAt: NOW + 2 * TTL }), true)
    assert.deepEqual((await repo.getType(p, 'email'))?.code, { hash: hash('b'), expiresAt: NOW + 2 * TTL, attempts: 0, verified: false })
    assert.equal(await repo.beginActivation(p, 'email', null, null), true)
    assert.equal((await repo.getType(p, 'email'))?.code, null)
  })

  check('beginActivation refuses an enabled type and changes nothing', async ({ repo, principal }) => {
    const p = principal()
    await pendingWithCode(repo, p, hash('a'))
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('a') }, accept({ enable: true })), 'accepted')
    const before = await repo.getType(p, 'email')
    assert.equal(before?.status, ENABLED)
    assert.equal(await repo.beginActivation(p, 'email', 'other'), false)
    assert.deepEqual(await repo.getType(p, 'email'), before)
  })

  check('reserveSend and releaseSend: the cooldown arithmetic', async ({ repo, principal }) => {
    const p = principal()
    assert.equal(await repo.reserveSend(p, 'email', NOW, 30_000), 0)
    assert.deepEqual(await repo.getType(p, 'email'), record('email', { lastSentAt: NOW }))
    assert.equal(await repo.reserveSend(p, 'email', NOW + 29_999, 30_000), NOW + 30_000)
    assert.equal((await repo.getType(p, 'email'))?.lastSentAt, NOW)
    assert.equal(await repo.reserveSend(p, 'email', NOW + 30_000, 30_000), 0)
    // Only the newest reservation can be given back; lastSentAt returns to `previous`.
    await repo.releaseSend(p, 'email', NOW, null)
    assert.equal((await repo.getType(p, 'email'))?.lastSentAt, NOW + 30_000)
    await repo.releaseSend(p, 'email', NOW + 30_000, NOW)
    assert.equal((await repo.getType(p, 'email'))?.lastSentAt, NOW)
    assert.equal(await repo.reserveSend(p, 'email', NOW + 29_999, 30_000), NOW + 30_000)
    await repo.releaseSend(p, 'email', NOW, null)
    assert.equal((await repo.getType(p, 'email'))?.lastSentAt, null)
    assert.equal(await repo.reserveSend(p, 'email', NOW + 1, 30_000), 0)
    assert.equal(await repo.reserveSend(p, 'email', NOW + 1, 0), 0)
    await repo.releaseSend(p, 'sms', NOW, null)
    assert.equal(await repo.getType(p, 'sms'), null)
  })

  check('storeCode makes the newest code: attempts 0, not verified, superseding the old one', async ({ repo, principal }) => {
    const p = principal()
    await repo.storeCode(p, 'email', { hash: hash('a'), expiresAt: NOW + TTL })
    assert.deepEqual(await repo.getType(p, 'email'), record('email', { code: { hash: hash('a'), expiresAt: NOW + TTL, attempts: 0, verified: false } }))
    await pendingWithCode(repo, p, hash('b'))
    assert.deepEqual(await repo.countAttempts(p, ['email'], 3), [])
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('b') }, accept()), 'accepted')
    assert.deepEqual((await repo.getType(p, 'email'))?.code, { hash: hash('b'), expiresAt: NOW + TTL, attempts: 1, verified: true })
    await repo.storeCode(p, 'email', { hash: hash('c'), expiresAt: NOW + 2 * TTL })
    assert.deepEqual((await repo.getType(p, 'email'))?.code, { hash: hash('c'), expiresAt: NOW + 2 * TTL, attempts: 0, verified: false })
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('b') }, accept()), 'code-invalid')
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('c') }, accept()), 'accepted')
  })

  check('acceptCode by hash: state first, then code, expiry and attempts; enable moves 1 → 2', async ({ repo, principal }) => {
    const p = principal()
    const h = hash('a')
    assert.equal(await repo.acceptCode(p, 'email', { hash: h }, accept()), 'status-changed')
    assert.equal(await repo.beginActivation(p, 'email', null), true)
    assert.equal(await repo.acceptCode(p, 'email', { hash: h }, accept()), 'code-invalid')
    await repo.storeCode(p, 'email', { hash: h, expiresAt: NOW + TTL })
    assert.equal(await repo.acceptCode(p, 'email', { hash: h }, accept({ requireStatus: ENABLED })), 'status-changed')
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('b') }, accept({ requireStatus: ENABLED })), 'status-changed')
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('b') }, accept()), 'code-invalid')
    assert.equal(await repo.acceptCode(p, 'email', { hash: h }, accept({ now: NOW + TTL })), 'code-invalid')
    assert.deepEqual((await repo.getType(p, 'email'))?.code, { hash: h, expiresAt: NOW + TTL, attempts: 0, verified: false })

    await repo.countAttempts(p, ['email'], 3)
    await repo.countAttempts(p, ['email'], 3)
    assert.equal(await repo.acceptCode(p, 'email', { hash: h }, accept({ maxAttempts: 2 })), 'code-invalid')
    assert.equal(await repo.acceptCode(p, 'email', { hash: h }, accept({ now: NOW + TTL - 1 })), 'accepted')
    assert.deepEqual(await repo.getType(p, 'email'), record('email', { status: PENDING, code: { hash: h, expiresAt: NOW + TTL, attempts: 2, verified: true } }))

    assert.equal(await repo.acceptCode(p, 'email', { hash: h }, accept({ enable: true })), 'accepted')
    assert.equal((await repo.getType(p, 'email'))?.status, ENABLED)
    // Grace: the verified code keeps working for the enabled type.
    assert.equal(await repo.acceptCode(p, 'email', { hash: h }, accept({ requireStatus: ENABLED })), 'accepted')
    assert.equal(await repo.acceptCode(p, 'email', { hash: h }, accept()), 'status-changed')
    assert.equal((await repo.getType(p, 'email'))?.status, ENABLED)
  })

  check('acceptCode by time step: each step once, increasing only; enable moves 1 → 2', async ({ repo, principal }) => {
    const p = principal()
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP }, accept()), 'status-changed')
    assert.equal(await repo.beginActivation(p, 'totp', 'secret'), true)
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP }, accept()), 'accepted')
    assert.equal((await repo.getType(p, 'totp'))?.lastStep, STEP)
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP }, accept()), 'code-invalid')
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP - 1 }, accept()), 'code-invalid')
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP + 1 }, accept({ requireStatus: ENABLED })), 'status-changed')
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP + 1 }, accept({ enable: true })), 'accepted')
    assert.deepEqual(await repo.getType(p, 'totp'), record('totp', { status: ENABLED, secret: 'secret', lastStep: STEP + 1 }))
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP + 2 }, accept()), 'status-changed')
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP + 2 }, accept({ requireStatus: ENABLED })), 'accepted')
  })

  check('acceptCode by spend: each hash of the set once, the others kept in order; enable moves 1 → 2', async ({ repo, principal }) => {
    const p = principal()
    const set = [hash('r1'), hash('r2'), hash('r3')]
    assert.equal(await repo.acceptCode(p, 'recovery-codes', { spend: set[1] }, accept()), 'status-changed')
    assert.equal(await repo.beginActivation(p, 'recovery-codes', set.join(',')), true)
    assert.equal(await repo.acceptCode(p, 'recovery-codes', { spend: hash('other') }, accept()), 'code-invalid')
    // A part of a hash, or two hashes, are not a hash of the set.
    assert.equal(await repo.acceptCode(p, 'recovery-codes', { spend: set[1].slice(0, 32) }, accept()), 'code-invalid')
    assert.equal(await repo.acceptCode(p, 'recovery-codes', { spend: `${set[0]},${set[1]}` }, accept()), 'code-invalid')
    assert.equal(await repo.acceptCode(p, 'recovery-codes', { spend: set[1] }, accept({ requireStatus: ENABLED })), 'status-changed')
    assert.equal(await repo.acceptCode(p, 'recovery-codes', { spend: set[1] }, accept({ enable: true })), 'accepted')
    assert.deepEqual(await repo.getType(p, 'recovery-codes'), record('recovery-codes', { status: ENABLED, secret: `${set[0]},${set[2]}` }))
    assert.equal(await repo.acceptCode(p, 'recovery-codes', { spend: set[1] }, accept({ requireStatus: ENABLED })), 'code-invalid')
    assert.equal(await repo.acceptCode(p, 'recovery-codes', { spend: set[2] }, accept({ requireStatus: ENABLED })), 'accepted')
    assert.equal(await repo.acceptCode(p, 'recovery-codes', { spend: set[0] }, accept({ requireStatus: ENABLED })), 'accepted')
    assert.equal((await repo.getType(p, 'recovery-codes'))?.secret, '')
    assert.equal(await repo.acceptCode(p, 'recovery-codes', { spend: set[0] }, accept({ requireStatus: ENABLED })), 'code-invalid')
    // An empty hash is no hash of the set, of an empty one neither.
    assert.equal(await repo.acceptCode(p, 'recovery-codes', { spend: '' }, accept({ requireStatus: ENABLED })), 'code-invalid')
  })

  check('acceptCode by spend resets the counters like any accepted code', async ({ repo, principal }) => {
    const p = principal()
    assert.equal(await repo.beginActivation(p, 'recovery-codes', [hash('r1'), hash('r2')].join(',')), true)
    for (let i = 0; i < 9; i++) assert.deepEqual(await repo.admit(p, admitting()), admitted())
    assert.equal(await repo.acceptCode(p, 'recovery-codes', { spend: hash('r2') }, accept()), 'accepted')
    for (let i = 0; i < 9; i++) assert.deepEqual(await repo.admit(p, admitting()), admitted())
    assert.deepEqual(await repo.admit(p, admitting()), admitted(true))
  })

  check('acceptCode by challenge: the newest code once (dropped), the proof\'s secret stored; enable moves 1 → 2', async ({ repo, principal }) => {
    const p = principal()
    const h = hash('challenge')
    const code = { hash: h, expiresAt: NOW + TTL }
    const proof = (secret: string): CodeProof => ({ challenge: h, secret })
    assert.equal(await repo.acceptCode(p, 'passkey', proof('s1'), accept()), 'status-changed')
    assert.equal(await repo.beginActivation(p, 'passkey', null, code), true)
    assert.equal(await repo.acceptCode(p, 'passkey', { challenge: hash('other'), secret: 's1' }, accept()), 'code-invalid')
    assert.equal(await repo.acceptCode(p, 'passkey', proof('s1'), accept({ now: NOW + TTL })), 'code-invalid')
    await repo.countAttempts(p, ['passkey'], 3)
    await repo.countAttempts(p, ['passkey'], 3)
    assert.equal(await repo.acceptCode(p, 'passkey', proof('s1'), accept({ maxAttempts: 2 })), 'code-invalid')
    assert.equal(await repo.acceptCode(p, 'passkey', proof('s1'), accept({ requireStatus: ENABLED })), 'status-changed')
    // Nothing changed by the refusals but the two counted attempts.
    assert.deepEqual(await repo.getType(p, 'passkey'), record('passkey', { status: PENDING, code: { hash: h, expiresAt: NOW + TTL, attempts: 2, verified: false } }))
    assert.equal(await repo.acceptCode(p, 'passkey', proof('s1'), accept({ enable: true, now: NOW + TTL - 1 })), 'accepted')
    assert.deepEqual(await repo.getType(p, 'passkey'), record('passkey', { status: ENABLED, secret: 's1' }))
    // Used once: the same challenge never passes again, in any status.
    assert.equal(await repo.acceptCode(p, 'passkey', proof('s2'), accept({ requireStatus: ENABLED })), 'code-invalid')
    await repo.storeCode(p, 'passkey', { hash: hash('next'), expiresAt: NOW + TTL })
    assert.equal(await repo.acceptCode(p, 'passkey', { challenge: hash('next'), secret: 's2' }, accept({ requireStatus: ENABLED })), 'accepted')
    assert.deepEqual(await repo.getType(p, 'passkey'), record('passkey', { status: ENABLED, secret: 's2' }))
  })

  check('acceptCode by challenge resets the counters like any accepted code', async ({ repo, principal }) => {
    const p = principal()
    assert.equal(await repo.beginActivation(p, 'passkey', null, { hash: hash('c'), expiresAt: NOW + TTL }), true)
    for (let i = 0; i < 9; i++) assert.deepEqual(await repo.admit(p, admitting()), admitted())
    assert.equal(await repo.acceptCode(p, 'passkey', { challenge: hash('c'), secret: 's' }, accept()), 'accepted')
    for (let i = 0; i < 9; i++) assert.deepEqual(await repo.admit(p, admitting()), admitted())
    assert.deepEqual(await repo.admit(p, admitting()), admitted(true))
  })

  check('countAttempts counts against each newest code and reports those reaching maxAttempts', async ({ repo, principal }) => {
    const p = principal()
    await pendingWithCode(repo, p, hash('a'), 'email')
    await pendingWithCode(repo, p, hash('b'), 'sms')
    assert.equal(await repo.beginActivation(p, 'totp', 'secret'), true)
    const all = ['sms', 'email', 'totp', 'push']
    assert.deepEqual(await repo.countAttempts(p, all, 3), [])
    assert.deepEqual(await repo.countAttempts(p, all, 3), [])
    assert.deepEqual(await repo.countAttempts(p, all, 3), ['sms', 'email'])
    assert.deepEqual(await repo.countAttempts(p, all, 3), [])
    assert.equal((await repo.getType(p, 'email'))?.code?.attempts, 4)
    // Types without a code, or never touched, are left as they are.
    assert.deepEqual(await repo.getType(p, 'totp'), record('totp', { status: PENDING, secret: 'secret' }))
    assert.equal(await repo.getType(p, 'push'), null)
    await repo.storeCode(p, 'email', { hash: hash('c'), expiresAt: NOW + TTL })
    assert.deepEqual(await repo.countAttempts(p, ['email'], 1), ['email'])
    assert.equal((await repo.getType(p, 'sms'))?.code?.attempts, 4)
  })

  check('admit: the escalating lockout (lock at the threshold, each further failure doubles the lock up to the cap)', async ({ repo, principal }) => {
    const p = principal()
    const at = (now: number): AdmitOptions => admitting({ now, principal: rule(3, 60_000, 200_000) })
    assert.deepEqual(await repo.admit(p, at(NOW)), admitted())
    assert.deepEqual(await repo.admit(p, at(NOW + 1)), admitted())
    assert.equal(await repo.lockedUntil(p), 0)
    assert.deepEqual(await repo.admit(p, at(NOW + 2)), admitted(true))
    assert.equal(await repo.lockedUntil(p), NOW + 60_002)
    // Refused while locked: neither counted nor extending the lock.
    assert.deepEqual(await repo.admit(p, at(NOW + 3)), refused(NOW + 60_002))
    assert.deepEqual(await repo.admit(p, at(NOW + 60_001)), refused(NOW + 60_002))
    assert.equal(await repo.lockedUntil(p), NOW + 60_002)
    // Once a lock ends, the next failure locks again for twice as long, up to the cap.
    assert.deepEqual(await repo.admit(p, at(NOW + 60_002)), admitted(true))
    assert.equal(await repo.lockedUntil(p), NOW + 60_002 + 120_000)
    let now = NOW + 180_002
    assert.deepEqual(await repo.admit(p, at(now)), admitted(true))
    assert.equal(await repo.lockedUntil(p), now + 200_000)
    now += 200_000
    assert.deepEqual(await repo.admit(p, at(now)), admitted(true))
    assert.equal(await repo.lockedUntil(p), now + 200_000)
    // Time alone forgives nothing: long after the lock, the next failure still locks at the cap.
    now += 10 * 200_000
    assert.deepEqual(await repo.admit(p, at(now)), admitted(true))
    assert.equal(await repo.lockedUntil(p), now + 200_000)

    const q = principal()
    assert.deepEqual(await repo.admit(q, admitting({ principal: rule(1) })), admitted(true))
    assert.equal(await repo.lockedUntil(q), NOW + WINDOW)
  })

  check('an accepted code resets the count and the level; a refused one changes nothing', async ({ repo, principal }) => {
    const p = principal()
    await pendingWithCode(repo, p, hash('a'))
    const lock = admitting({ principal: rule(1) })
    assert.deepEqual(await repo.admit(p, lock), admitted(true))
    assert.deepEqual(await repo.admit(p, lock), refused(NOW + WINDOW))
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('x') }, accept()), 'code-invalid')
    assert.equal(await repo.lockedUntil(p), NOW + WINDOW, 'a refused accept resets nothing')
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('a') }, accept()), 'accepted')
    assert.equal(await repo.lockedUntil(p), 0)
    // The next lock is a first one again: `duration`, not twice the last.
    assert.deepEqual(await repo.admit(p, admitting({ now: NOW + 5, principal: rule(1) })), admitted(true))
    assert.equal(await repo.lockedUntil(p), NOW + 5 + WINDOW)
  })

  check('admit with a token: the token locks at its rule, the principal-wide counter at its own', async ({ repo, principal }) => {
    const p = principal()
    const withToken = (id: string, now = NOW): AdmitOptions => admitting({ now, principal: rule(5), token: { id, rule: rule(2) } })
    assert.deepEqual(await repo.admit(p, withToken('thief')), admitted())
    assert.deepEqual(await repo.admit(p, withToken('thief')), admitted(true))
    assert.deepEqual(await repo.admit(p, withToken('thief')), refused(NOW + WINDOW))
    // The owner's token goes on; the principal-wide counter is not locked (2 of 5).
    assert.equal(await repo.lockedUntil(p), 0)
    assert.deepEqual(await repo.admit(p, withToken('owner')), admitted())
    // The owner's right code resets the owner's token and the principal, not the thief's token.
    assert.equal(await repo.beginActivation(p, 'totp', 'secret'), true)
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP }, accept({ tokenId: 'owner' })), 'accepted')
    assert.deepEqual(await repo.admit(p, withToken('thief')), refused(NOW + WINDOW))
    // Many tokens: the principal-wide counter is the ceiling.
    for (const id of ['t1', 't1', 't2', 't2']) assert.equal((await repo.admit(p, withToken(id))).admitted, true)
    assert.deepEqual(await repo.admit(p, withToken('t3')), admitted(true))
    assert.equal(await repo.lockedUntil(p), NOW + WINDOW)
    assert.deepEqual(await repo.admit(p, withToken('t4')), refused(NOW + WINDOW))
    assert.deepEqual(await repo.admit(p, admitting({ principal: rule(5) })), refused(NOW + WINDOW))
  })

  check('disable: pending or enabled → disabled, clearing code, secret and last step', async ({ repo, principal }) => {
    const p = principal()
    assert.equal(await repo.disable(p, 'email'), false)
    assert.equal(await repo.getType(p, 'email'), null)

    assert.equal(await repo.beginActivation(p, 'totp', 'secret'), true)
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP }, accept()), 'accepted')
    assert.equal(await repo.disable(p, 'totp'), true)
    assert.deepEqual(await repo.getType(p, 'totp'), record('totp'))

    await pendingWithCode(repo, p, hash('a'))
    assert.equal(await repo.reserveSend(p, 'email', NOW, 30_000), 0)
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('a') }, accept({ enable: true })), 'accepted')
    assert.equal(await repo.disable(p, 'email'), true)
    assert.deepEqual(await repo.getType(p, 'email'), record('email', { lastSentAt: NOW }))
    assert.equal(await repo.disable(p, 'email'), false)
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('a') }, accept({ requireStatus: ENABLED })), 'status-changed')
  })

  check('principals do not share codes, counters or lockouts', async ({ repo, principal }) => {
    const [p, q] = [principal(), principal()]
    const h = hash('same')
    await pendingWithCode(repo, p, h)
    await pendingWithCode(repo, q, h)
    const lock = admitting({ principal: rule(2), token: { id: 'same-jti', rule: rule(2) } })
    await repo.admit(p, lock)
    await repo.countAttempts(p, ['email'], 3)
    assert.deepEqual(await repo.admit(p, lock), admitted(true))
    assert.equal(await repo.lockedUntil(q), 0)
    assert.deepEqual(await repo.admit(q, lock), admitted())
    assert.equal((await repo.getType(q, 'email'))?.code?.attempts, 0)
    assert.equal(await repo.acceptCode(q, 'email', { hash: h }, accept({ enable: true, tokenId: 'same-jti' })), 'accepted')
    assert.equal((await repo.admit(p, lock)).admitted, false)
    assert.equal((await repo.getType(p, 'email'))?.status, PENDING)
    assert.equal(await repo.disable(p, 'email'), true)
    assert.equal((await repo.getType(q, 'email'))?.status, ENABLED)
    assert.deepEqual((await repo.getTypes(p)).map((r) => r.type), ['email'])
  })

  check('50 simultaneous admissions: exactly `failures` admitted, one of them locking', async ({ pair, principal }) => {
    const [a, b] = await pair()
    const p = principal()
    const results = await times(50, (i) => (i % 2 === 0 ? a : b).admit(p, admitting({ principal: rule(10) })))
    assert.equal(count(results.map((r) => r.admitted), true), 10)
    assert.equal(results.filter((r) => r.admitted && r.locked).length, 1)
    assert.equal(await a.lockedUntil(p), NOW + WINDOW)
  })

  check('50 simultaneous countAttempts count exactly 50', async ({ pair, principal }) => {
    const [a, b] = await pair()
    const p = principal()
    await pendingWithCode(a, p, hash('a'))
    const results = await times(50, (i) => (i % 2 === 0 ? a : b).countAttempts(p, ['email'], 50))
    assert.equal(results.filter((r) => r.length > 0).length, 1)
    assert.equal((await b.getType(p, 'email'))?.code?.attempts, 50)
  })

  check('40 simultaneous admissions on two tokens: each token its own threshold, the principal the ceiling', async ({ pair, principal }) => {
    const [a, b] = await pair()
    const p = principal()
    const options = (id: string): AdmitOptions => admitting({ principal: rule(12), token: { id, rule: rule(5) } })
    const results = await times(40, (i) => (i % 2 === 0 ? a : b).admit(p, options(i < 20 ? 'one' : 'two')))
    assert.equal(results.slice(0, 20).filter((r) => r.admitted).length, 5)
    assert.equal(results.slice(20).filter((r) => r.admitted).length, 5)
    assert.equal(await a.lockedUntil(p), 0)
    const more = await times(20, (i) => (i % 2 === 0 ? a : b).admit(p, options(`t${i}`)))
    assert.equal(more.filter((r) => r.admitted).length, 2)
    assert.equal(await b.lockedUntil(p), NOW + WINDOW)
  })

  check('20 simultaneous acceptCode(enable) of the right code: exactly one accepted', async ({ pair, principal }) => {
    const [a, b] = await pair()
    const p = principal()
    await pendingWithCode(a, p, hash('a'))
    const results = await times(20, (i) => (i % 2 === 0 ? a : b).acceptCode(p, 'email', { hash: hash('a') }, accept({ enable: true })))
    assert.equal(count(results, 'accepted'), 1)
    assert.equal(count(results, 'status-changed'), 19)
    assert.equal((await b.getType(p, 'email'))?.status, ENABLED)
  })

  check('20 simultaneous acceptCode of one time step: exactly one accepted', async ({ pair, principal }) => {
    const [a, b] = await pair()
    const p = principal()
    assert.equal(await a.beginActivation(p, 'totp', 'secret'), true)
    const results = await times(20, (i) => (i % 2 === 0 ? a : b).acceptCode(p, 'totp', { step: STEP }, accept()))
    assert.equal(count(results, 'accepted'), 1)
    assert.equal(count(results, 'code-invalid'), 19)
  })

  check('20 simultaneous acceptCode spending one hash of a set: exactly one accepted, the others kept', async ({ pair, principal }) => {
    const [a, b] = await pair()
    const p = principal()
    assert.equal(await a.beginActivation(p, 'recovery-codes', [hash('r1'), hash('r2'), hash('r3')].join(',')), true)
    const results = await times(20, (i) => (i % 2 === 0 ? a : b).acceptCode(p, 'recovery-codes', { spend: hash('r2') }, accept()))
    assert.equal(count(results, 'accepted'), 1)
    assert.equal(count(results, 'code-invalid'), 19)
    assert.equal((await b.getType(p, 'recovery-codes'))?.secret, `${hash('r1')},${hash('r3')}`)
  })

  check('20 simultaneous acceptCode of one challenge: exactly one accepted, its secret stored', async ({ pair, principal }) => {
    const [a, b] = await pair()
    const p = principal()
    assert.equal(await a.beginActivation(p, 'passkey', 'before', { hash: hash('c'), expiresAt: NOW + TTL }), true)
    const results = await times(20, (i) => (i % 2 === 0 ? a : b).acceptCode(p, 'passkey', { challenge: hash('c'), secret: `after-${i}` }, accept()))
    assert.equal(count(results, 'accepted'), 1)
    assert.equal(count(results, 'code-invalid'), 19)
    const stored = await b.getType(p, 'passkey')
    assert.equal(stored?.code, null)
    assert.equal(stored?.secret, `after-${results.indexOf('accepted')}`)
  })

  check('20 simultaneous reserveSend within the cooldown: exactly one slot', async ({ pair, principal }) => {
    const [a, b] = await pair()
    const p = principal()
    for (const now of [NOW, NOW + 30_000]) {
      const results = await times(20, (i) => (i % 2 === 0 ? a : b).reserveSend(p, 'email', now, 30_000))
      assert.equal(count(results, 0), 1)
      assert.equal(count(results, now + 30_000), 19)
    }
  })

  /**
   * Ten rounds of `disable` (or another way to disable an enabled email type) racing
   * `beginActivation` on two instances, issued in both orders from both instances, so a store
   * that runs calls in order sees both: disabling first leaves the type pending, activation
   * first is refused and the type ends disabled.
   */
  async function raceWithActivation (c: Check, disable: (repo: MfaRepository, p: string) => Promise<unknown>, disabled: unknown): Promise<void> {
    const [a, b] = await c.pair()
    for (let round = 0; round < 10; round++) {
      const p = c.principal()
      await pendingWithCode(a, p, hash('a'))
      assert.equal(await a.acceptCode(p, 'email', { hash: hash('a') }, accept({ enable: true })), 'accepted')
      const [x, y] = round % 2 === 0 ? [a, b] : [b, a]
      let answer: unknown, begun: boolean
      if (round % 4 < 2) [answer, begun] = await Promise.all([disable(x, p), y.beginActivation(p, 'email', 'secret')])
      else [begun, answer] = await Promise.all([y.beginActivation(p, 'email', 'secret'), disable(x, p)])
      assert.deepEqual(answer, disabled)
      const expected = begun ? record('email', { status: PENDING, secret: 'secret' }) : record('email')
      assert.deepEqual(await a.getType(p, 'email'), expected)
    }
  }

  check('beginActivation racing disable ends in a serial-order state', async (c) => {
    await raceWithActivation(c, async (repo, p) => await repo.disable(p, 'email'), true)
  })

  // The admin operations (reset, clearLockout, revokeCodes).

  /** Locks `p` and its token `jti` at the second level (a doubled lock); answers when the last lock ends. */
  async function lockTwice (repo: MfaRepository, p: string): Promise<number> {
    const at = (now: number): AdmitOptions => admitting({ now, principal: rule(1, 60_000, 200_000), token: { id: 'jti', rule: rule(1, 60_000, 200_000) } })
    assert.deepEqual(await repo.admit(p, at(NOW)), admitted(true))
    assert.deepEqual(await repo.admit(p, at(NOW + 60_000)), admitted(true))
    assert.equal(await repo.lockedUntil(p), NOW + 180_000)
    return NOW + 180_000
  }

  /** After the counters were cleared: the next failures count from zero, and the next lock is a first one. */
  async function countsFromZero (repo: MfaRepository, p: string, now: number): Promise<void> {
    assert.equal(await repo.lockedUntil(p), 0)
    const at = admitting({ now, principal: rule(2, 60_000, 200_000), token: { id: 'jti', rule: rule(2, 60_000, 200_000) } })
    assert.deepEqual(await repo.admit(p, at), admitted(), 'the count starts again')
    assert.deepEqual(await repo.admit(p, at), admitted(true))
    assert.equal(await repo.lockedUntil(p), now + 60_000, 'a first lock again: `duration`, not twice the last')
  }

  /** Email enabled by its (verified) code with a send slot, TOTP enabled with a last step, SMS pending with a code. */
  async function threeTypes (repo: MfaRepository, p: string): Promise<void> {
    await pendingWithCode(repo, p, hash('email'))
    assert.equal(await repo.reserveSend(p, 'email', NOW, 30_000), 0)
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('email') }, accept({ enable: true })), 'accepted')
    assert.equal(await repo.beginActivation(p, 'totp', 'sealed.secret'), true)
    assert.equal(await repo.acceptCode(p, 'totp', { step: STEP }, accept({ enable: true })), 'accepted')
    await pendingWithCode(repo, p, hash('sms'), 'sms')
  }

  check('reset(null): every type → disabled, dropping codes, secrets and last steps; send slots stay; every counter cleared', async ({ repo, principal }) => {
    const [p, q] = [principal(), principal()]
    await threeTypes(repo, p)
    await threeTypes(repo, q)
    const until = await lockTwice(repo, p)
    await lockTwice(repo, q)
    assert.deepEqual((await repo.reset(p, null)).sort(), ['email', 'sms', 'totp'])
    const types = (await repo.getTypes(p)).sort((a, b) => (a.type < b.type ? -1 : 1))
    assert.deepEqual(types, [record('email', { lastSentAt: NOW }), record('sms'), record('totp')])
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('email') }, accept({ requireStatus: ENABLED })), 'status-changed')
    await countsFromZero(repo, p, NOW + 60_001)
    // Another principal keeps everything.
    assert.equal(await repo.lockedUntil(q), until)
    assert.deepEqual((await repo.getTypes(q)).map((r) => r.status).sort(), [PENDING, ENABLED, ENABLED])
    assert.deepEqual(await repo.reset(p, null), [], 'nothing left to disable')
  })

  check('reset(type): that type alone → disabled, and every counter of the principal cleared', async ({ repo, principal }) => {
    const p = principal()
    await threeTypes(repo, p)
    await lockTwice(repo, p)
    const email = await repo.getType(p, 'email')
    assert.deepEqual(await repo.reset(p, 'totp'), ['totp'])
    assert.deepEqual(await repo.getType(p, 'totp'), record('totp'))
    assert.deepEqual(await repo.getType(p, 'email'), email)
    assert.equal((await repo.getType(p, 'sms'))?.status, PENDING)
    await countsFromZero(repo, p, NOW + 60_001)

    // A type already disabled, or never touched: nothing disabled (and nothing created), counters still cleared.
    await lockTwice(repo, principal())
    const q = principal()
    await lockTwice(repo, q)
    assert.deepEqual(await repo.reset(q, 'email'), [])
    assert.equal(await repo.getType(q, 'email'), null)
    await countsFromZero(repo, q, NOW + 60_001)
    assert.deepEqual(await repo.reset(p, 'totp'), [])
  })

  check('clearLockout: every counter of the principal (count and level), and nothing else', async ({ repo, principal }) => {
    const [p, q] = [principal(), principal()]
    await threeTypes(repo, p)
    const until = await lockTwice(repo, p)
    await lockTwice(repo, q)
    const before = await repo.getTypes(p)
    await repo.clearLockout(p)
    assert.deepEqual(await repo.getTypes(p), before, 'types, codes, secrets and send slots stay')
    await countsFromZero(repo, p, NOW + 60_001)
    assert.equal(await repo.lockedUntil(q), until, 'another principal stays locked')
    // A count below the threshold is cleared too.
    const r = principal()
    const at = admitting({ principal: rule(2) })
    assert.deepEqual(await repo.admit(r, at), admitted())
    await repo.clearLockout(r)
    assert.deepEqual(await repo.admit(r, at), admitted())
    // An untouched principal: nothing to clear, nothing created.
    const s = principal()
    await repo.clearLockout(s)
    assert.deepEqual(await repo.getTypes(s), [])
    assert.equal(await repo.lockedUntil(s), 0)
  })

  check('revokeCodes: no stored code passes any more, a used one in its grace reuse included; the rest stays', async ({ repo, principal }) => {
    const [p, q] = [principal(), principal()]
    await threeTypes(repo, p)
    await threeTypes(repo, q)
    await repo.storeCode(p, 'push', { hash: hash('push'), expiresAt: NOW + TTL })
    const until = await lockTwice(repo, p)
    const totp = await repo.getType(p, 'totp')
    await repo.revokeCodes(p)
    assert.deepEqual(await repo.getType(p, 'email'), record('email', { status: ENABLED, lastSentAt: NOW }))
    assert.deepEqual(await repo.getType(p, 'sms'), record('sms', { status: PENDING }))
    assert.deepEqual(await repo.getType(p, 'push'), record('push'))
    assert.deepEqual(await repo.getType(p, 'totp'), totp, 'secret and last step stay')
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('email') }, accept({ requireStatus: ENABLED })), 'code-invalid')
    assert.equal(await repo.acceptCode(p, 'sms', { hash: hash('sms') }, accept()), 'code-invalid')
    assert.equal(await repo.lockedUntil(p), until, 'the counters stay')
    assert.equal(await repo.reserveSend(p, 'email', NOW + 1, 30_000), NOW + 30_000, 'the send slot stays')
    // Another principal's codes still pass; a new code after the revocation passes too.
    assert.equal(await repo.acceptCode(q, 'email', { hash: hash('email') }, accept({ requireStatus: ENABLED })), 'accepted')
    await repo.storeCode(p, 'email', { hash: hash('new'), expiresAt: NOW + TTL })
    assert.equal(await repo.acceptCode(p, 'email', { hash: hash('new') }, accept({ requireStatus: ENABLED })), 'accepted')
    const s = principal()
    await repo.revokeCodes(s)
    assert.deepEqual(await repo.getTypes(s), [], 'an untouched principal: nothing created')
  })

  check('the admin operations on one instance are seen by the other', async ({ pair, principal }) => {
    const [a, b] = await pair()
    const p = principal()
    await threeTypes(a, p)
    await lockTwice(a, p)
    await b.clearLockout(p)
    assert.equal(await a.lockedUntil(p), 0)
    await b.revokeCodes(p)
    assert.equal(await a.acceptCode(p, 'sms', { hash: hash('sms') }, accept()), 'code-invalid')
    await lockTwice(a, p)
    assert.deepEqual((await b.reset(p, null)).sort(), ['email', 'sms', 'totp'])
    await countsFromZero(a, p, NOW + 60_001)
    assert.deepEqual((await a.getTypes(p)).map((r) => r.status), [DISABLED, DISABLED, DISABLED])
  })

  check('20 simultaneous resets on two instances: each type disabled by exactly one', async ({ pair, principal }) => {
    const [a, b] = await pair()
    const p = principal()
    await threeTypes(a, p)
    const results = await times(20, (i) => (i % 2 === 0 ? a : b).reset(p, i % 4 === 1 ? 'totp' : null))
    assert.deepEqual(results.flat().sort(), ['email', 'sms', 'totp'])
  })

  check('reset racing beginActivation ends in a serial-order state', async (c) => {
    await raceWithActivation(c, async (repo, p) => await repo.reset(p, null), ['email'])
  })

  await Promise.all(registered)
}
