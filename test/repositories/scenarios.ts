// The persistence scenarios, run through the HTTP API against a real store: restart
// durability, two server instances racing on one store, and a code crossing instances.
// test/persistence-*.test.ts run them on SQLite and PostgreSQL.
import type { Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import type { GlueMfaOptions, MfaEvent, MfaEventName, MfaRepository } from '../../lib/index.js'
import { buildApp, list, post, statuses, TestClock, type TestApp } from '../helpers.js'

/** The store under test: each call opens another repository (connection, pool) on it. */
export type OpenRepository = () => MfaRepository

/** Never a valid code: issued codes have 6 digits. */
export const WRONG = '0000000'
const COOLDOWN = 30_000
const MINUTE = 60_000

/** One server instance on the store, closed (with its repository) when `t` ends. */
export async function instance (t: Test, open: OpenRepository, clock: TestClock, overrides: Partial<GlueMfaOptions> = {}): Promise<TestApp> {
  const built = await buildApp({ repository: open(), clock: clock.read, ...overrides })
  t.teardown(() => built.app.close())
  return built
}

/** A repository to look at the store directly, closed when `t` ends. */
export function reader (t: Test, open: OpenRepository): MfaRepository {
  const repository = open()
  t.teardown(() => repository.close?.())
  return repository
}

export const activate = (s: TestApp, who: string, code?: string): Promise<LightMyRequestResponse> =>
  post(s.app, 'multi-factor-auth-type-activate', s.token(who), code === undefined ? {} : { code })
export const verify = (s: TestApp, who: string, code: string): Promise<LightMyRequestResponse> =>
  post(s.app, 'multi-factor-auth-type-verify', s.token(who), { code })
export const deactivate = (s: TestApp, who: string, code: string): Promise<LightMyRequestResponse> =>
  post(s.app, 'multi-factor-auth-type-deactivate', s.token(who), { code })
export const trigger = (s: TestApp, who: string): Promise<LightMyRequestResponse> =>
  post(s.app, 'multi-factor-auth-trigger', s.token(who))

/** Activates and verifies email for `who`; answers the verified code. */
export async function enable (t: Test, s: TestApp, who: string): Promise<string> {
  t.equal((await activate(s, who)).statusCode, 204, `${who} activates`)
  const code = s.outbox.last(who)
  t.equal((await verify(s, who, code)).statusCode, 204, `${who} verifies`)
  return code
}

/** "status glue-code" of a response, e.g. "403 5901", or "204". */
const glue = (res: LightMyRequestResponse): string => res.body === '' ? String(res.statusCode) : `${res.statusCode} ${res.json().errors[0].code}`
const tally = (values: string[]): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1
  return counts
}
const eventsOf = (apps: TestApp[], who: string): MfaEvent[] => apps.flatMap((s) => s.events).filter((e) => e.principalId === who)
const countEvents = (apps: TestApp[], who: string, name: MfaEventName): number => eventsOf(apps, who).filter((e) => e.name === name).length
const sentTo = (apps: TestApp[], who: string): number => apps.flatMap((s) => s.outbox.messages).filter((m) => m.principal.id === who).length

export async function restartDurability (t: Test, open: OpenRepository): Promise<void> {
  const clock = new TestClock()
  const options = { principalLockout: { failures: 5, duration: 15 * MINUTE } }
  const snapshot = async (): Promise<unknown> => {
    const repository = open()
    const state = await Promise.all(['alice', 'bob', 'carol'].map(async (who) =>
      ({ who, types: await repository.getTypes(who), lockedUntil: await repository.lockedUntil(who) })))
    await repository.close?.()
    return state
  }

  const before = await buildApp({ repository: open(), clock: clock.read, ...options })
  await enable(t, before, 'alice')
  clock.advance(COOLDOWN + 1000)
  t.equal((await trigger(before, 'alice')).statusCode, 204, 'alice gets a live code')
  const live = before.outbox.last('alice')
  t.equal((await activate(before, 'bob')).statusCode, 204)
  for (let i = 0; i < 3; i++) t.equal(glue(await verify(before, 'bob', WRONG)), '403 5901')
  t.equal(countEvents([before], 'bob', 'code.blocked'), 1, "bob's code is blocked")
  t.equal((await activate(before, 'carol')).statusCode, 204)
  for (let i = 0; i < 5; i++) t.equal(glue(await verify(before, 'carol', WRONG)), '403 5901')
  t.equal(countEvents([before], 'carol', 'principal.locked'), 1, 'carol is locked out')
  const stored = await snapshot()
  await before.app.close()

  const after = await instance(t, open, clock, options)
  t.same(await snapshot(), stored, 'statuses, codes, attempts, send times and lockouts survive the restart')
  t.same(statuses(await list(after.app, after.token('alice'))), { email: 2 })
  t.same(statuses(await list(after.app, after.token('bob'))), { email: 1 })
  t.equal(glue(await verify(after, 'bob', before.outbox.last('bob'))), '403 5901', 'the blocked code stays blocked')
  t.equal(glue(await verify(after, 'carol', before.outbox.last('carol'))), '403 5901', 'the lockout holds')
  t.equal((await deactivate(after, 'alice', live)).statusCode, 204, 'the live code still works')
  t.same(statuses(await list(after.app, after.token('alice'))), { email: 0 })
}

/** Two server instances on one store, sharing a clock, as two processes behind a balancer. */
async function twoInstances (t: Test, open: OpenRepository, overrides: Partial<GlueMfaOptions> = {}): Promise<[TestApp, TestApp, TestClock]> {
  const clock = new TestClock()
  return [await instance(t, open, clock, overrides), await instance(t, open, clock, overrides), clock]
}

export function concurrency (t: Test, open: OpenRepository): void {
  t.test('50 simultaneous wrong codes: 50 failures counted, never a success, blocked after maxAttempts', async (t) => {
    const [a, b, clock] = await twoInstances(t, open, { principalLockout: { failures: 50, duration: 15 * MINUTE } })
    t.equal((await activate(a, 'dave')).statusCode, 204)
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => verify(i % 2 === 0 ? a : b, 'dave', WRONG)))
    t.same(tally(responses.map(glue)), { '403 5901': 50 })
    t.equal(countEvents([a, b], 'dave', 'code.rejected'), 50)
    t.equal(countEvents([a, b], 'dave', 'code.blocked'), 1, 'blocked once, at maxAttempts')
    t.equal(countEvents([a, b], 'dave', 'principal.locked'), 1, 'the 50th failure locks: none was lost')
    const store = reader(t, open)
    const stored = await store.getType('dave', 'email')
    t.equal(stored?.code?.attempts, 50)
    t.equal(stored?.status, 1)
    t.ok(await store.lockedUntil('dave') > clock.now)
    t.equal(glue(await verify(b, 'dave', a.outbox.last('dave'))), '403 5901', 'the right code is refused now')
  })

  t.test('20 simultaneous verifies of the right code: the status moves once', async (t) => {
    const [a, b] = await twoInstances(t, open)
    t.equal((await activate(a, 'frank')).statusCode, 204)
    const code = a.outbox.last('frank')
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => verify(i % 2 === 0 ? a : b, 'frank', code)))
    t.same(tally(responses.map(glue)), { 204: 1, '400 5904': 19 })
    t.equal(countEvents([a, b], 'frank', 'type.enabled'), 1)
    t.equal(countEvents([a, b], 'frank', 'code.rejected'), 0)
    t.same(statuses(await list(b.app, b.token('frank'))), { email: 2 })
  })

  t.test('activate racing deactivate ends in a serial-order state', async (t) => {
    const [a, b, clock] = await twoInstances(t, open)
    // Activate starts a little later each round, so it lands before, inside and after deactivate.
    const delays = [0, 0, 1, 2, 3, 5, 8, 13]
    for (const [round, delay] of delays.entries()) {
      const who = `gina-${round}`
      const code = await enable(t, a, who)
      clock.advance(COOLDOWN + 1000)
      const sent = sentTo([a, b], who)
      const [x, y] = round % 2 === 0 ? [a, b] : [b, a]
      const later = async (): Promise<LightMyRequestResponse> => {
        await new Promise((resolve) => setTimeout(resolve, delay))
        return await activate(x, who)
      }
      const [activated, deactivated] = await Promise.all([later(), deactivate(y, who, code)])
      t.equal(deactivated.statusCode, 204, 'deactivate always wins its own race')
      const status = statuses(await list(a.app, a.token(who))).email
      // deactivate → activate: pending with a new code; activate (5904) → deactivate: disabled.
      if (activated.statusCode === 204) {
        t.equal(status, 1)
        t.equal(sentTo([a, b], who), sent + 1)
      } else {
        t.equal(glue(activated), '400 5904')
        t.equal(status, 0)
        t.equal(sentTo([a, b], who), sent)
      }
    }
  })

  t.test('20 simultaneous triggers within the cooldown: exactly one code is sent', async (t) => {
    const [a, b, clock] = await twoInstances(t, open)
    await enable(t, a, 'hank')
    clock.advance(COOLDOWN + 1000)
    const sent = sentTo([a, b], 'hank')
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => trigger(i % 2 === 0 ? a : b, 'hank')))
    t.same(tally(responses.map(glue)), { 204: 1, '429 5911': 19 })
    t.equal(sentTo([a, b], 'hank'), sent + 1)
  })

  t.test('a code sent through one instance verifies through the other', async (t) => {
    const [a, b, clock] = await twoInstances(t, open)
    t.equal((await activate(a, 'ivy')).statusCode, 204)
    t.equal((await verify(b, 'ivy', a.outbox.last('ivy'))).statusCode, 204)
    t.same(statuses(await list(a.app, a.token('ivy'))), { email: 2 })
    clock.advance(COOLDOWN + 1000)
    t.equal((await trigger(b, 'ivy')).statusCode, 204)
    t.equal((await deactivate(a, 'ivy', b.outbox.last('ivy'))).statusCode, 204)
    t.same(statuses(await list(b.app, b.token('ivy'))), { email: 0 })
  })
}
