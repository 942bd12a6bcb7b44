import { test } from 'tap'
import { randomInt } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { emailProvider, memoryRepository, type MfaRepository } from '../lib/index.js'
import { buildApp, LogCapture, Outbox, post } from './helpers.js'
import { inspectMemory } from '../lib/repositories/memory.js'

// An attacker holding one valid token submits 10,000 random codes at full speed against
// verify, deactivate and a protected route, with the default code rules.
const GUESSES = 10_000

// A real collection before each heap reading, so "memory flat" measures what is kept.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heap = (): number => { gc(); gc(); return process.memoryUsage().heapUsed }

test('10,000 random codes: zero successes, lockout engaged, every failure accounted for', async (t) => {
  const inner = memoryRepository()
  let admitted = 0
  let refusedWhileLocked = 0
  const repository: MfaRepository = {
    ...inner,
    admit: async (...args) => {
      const admission = await inner.admit(...args)
      if (admission.admitted) admitted++
      return admission
    }
  }
  const smsOutbox = new Outbox()
  // Events are counted, not kept: the heap check below measures the plugin, not this test's log.
  const counted = new Map<string, number>()
  const s = await buildApp({ repository, onEvent: (e) => { counted.set(e.name, (counted.get(e.name) ?? 0) + 1) }, providers: [emailProvider({ send: (m) => { s.outbox.messages.push(m) } }), emailProvider({ type: 'sms', send: smsOutbox.send })], protectedResources: ['carts'] }, (app) => {
    app.post('/carts', async () => ({ ok: true }))
  }, new LogCapture(false))
  t.teardown(() => s.app.close())
  const tok = s.token('victim')
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  await post(s.app, 'multi-factor-auth-type-verify', tok, { code: s.outbox.last() })
  await post(s.app, 'multi-factor-auth-type-activate', tok, { type: 'sms', code: s.outbox.last() })
  const emailCode = s.outbox.last()
  const smsCode = smsOutbox.last()
  const before = new Map(counted)
  const attack = (name: string): number => (counted.get(name) ?? 0) - (before.get(name) ?? 0)

  admitted = 0 // the owner's own checks above do not count
  const heapBefore = heap()
  const statuses = new Map<number, number>()
  for (let i = 0; i < GUESSES; i++) {
    if (i % 100 === 0) s.clock.advance(60_000) // one minute every 100 guesses: 100 minutes in all
    let guess = String(randomInt(100_000, 1_000_000))
    if (guess === emailCode || guess === smsCode) guess = emailCode === '100000' ? '100001' : '100000'
    const locked = await inner.lockedUntil('victim') > s.clock.now
    if (locked) refusedWhileLocked++
    const target = i % 3
    const res = target === 0
      ? await post(s.app, 'multi-factor-auth-type-verify', tok, { type: 'sms', code: guess })
      : target === 1
        ? await post(s.app, 'multi-factor-auth-type-deactivate', tok, { code: guess })
        : await s.app.inject({ method: 'POST', url: '/carts', headers: { authorization: `Bearer ${tok}`, 'x-mfa-code': guess } })
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
  }
  t.same([...statuses], [[403, GUESSES]], 'every guess answered 403 (5901), none succeeded')
  t.equal(admitted + refusedWhileLocked, GUESSES, 'each guess was either admitted (and counted) or refused by the lockout')
  t.equal(attack('code.rejected'), admitted, 'every admitted guess was compared and rejected')
  t.equal(attack('code.locked_out'), refusedWhileLocked, 'every other one refused unread')
  // 10 failures lock for 15 minutes, then one failure each time a lock ends: 30, then 60 minutes.
  t.equal(attack('principal.locked'), 3, 'locked 3 times in 100 minutes (at 0, 15 and 45)')
  t.equal(admitted, 12, `only ${admitted} of ${GUESSES} guesses were ever compared with a code`)
  t.ok(((await inner.getType('victim', 'email'))?.code?.attempts ?? 0) >= 3, 'the email code is blocked (maxAttempts)')

  t.equal(inspectMemory(inner).records.size, 1, 'the store holds one principal')
  t.equal(inspectMemory(inner).records.get('victim')?.size, 2, 'with two types: nothing grows per guess')
  const grown = (heap() - heapBefore) / 1024 / 1024
  t.ok(grown < 8, `heap grew ${grown.toFixed(1)} MiB over ${GUESSES} requests`)
})
