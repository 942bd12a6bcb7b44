import { test } from 'tap'
import { randomInt } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { emailProvider, memoryRepository, type MfaRepository } from '../lib/index.js'
import { buildApp, LogCapture, Outbox, post } from './helpers.js'

// An attacker holding one valid token submits 10,000 random codes at full speed against
// verify, deactivate and a protected route, with the default code rules.
const GUESSES = 10_000

// A real collection before each heap reading, so "memory flat" measures what is kept.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heap = (): number => { gc(); gc(); return process.memoryUsage().heapUsed }

test('10,000 random codes: zero successes, lockout engaged, every failure accounted for', async (t) => {
  const inner = memoryRepository()
  let recorded = 0
  let refusedWhileLocked = 0
  const repository: MfaRepository = {
    ...inner,
    recordFailure: async (...args) => { recorded++; return await inner.recordFailure(...args) }
  }
  const smsOutbox = new Outbox()
  const s = await buildApp({ repository, providers: [emailProvider({ send: (m) => { s.outbox.messages.push(m) } }), emailProvider({ type: 'sms', send: smsOutbox.send })], protectedResources: ['carts'] }, (app) => {
    app.post('/carts', async () => ({ ok: true }))
  }, new LogCapture(false))
  t.teardown(() => s.app.close())
  const tok = s.token('victim')
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  await post(s.app, 'multi-factor-auth-type-verify', tok, { code: s.outbox.last() })
  await post(s.app, 'multi-factor-auth-type-activate', tok, { type: 'sms', code: s.outbox.last() })
  const emailCode = s.outbox.last()
  const smsCode = smsOutbox.last()
  const events = s.events.length

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
  t.equal(recorded + refusedWhileLocked, GUESSES, 'each guess was either counted or refused by the lockout')
  const locks = s.events.slice(events).filter((e) => e.name === 'principal.locked').length
  t.ok(locks >= 6 && locks <= 7, `locked ${locks} times in 100 minutes (10 failures, then 15 minutes)`)
  t.equal(recorded, locks * 10 + (recorded % 10), 'ten counted failures per lockout')
  t.ok(recorded <= 80, `only ${recorded} of ${GUESSES} guesses were ever checked against a code`)
  t.ok(((await inner.getType('victim', 'email'))?.code?.attempts ?? 0) >= 3, 'the email code is blocked (maxAttempts)')

  t.equal(inner.inspect().size, 1, 'the store holds one principal')
  t.equal(inner.inspect().get('victim')?.size, 2, 'with two types: nothing grows per guess')
  const grown = (heap() - heapBefore) / 1024 / 1024
  t.ok(grown < 8, `heap grew ${grown.toFixed(1)} MiB over ${GUESSES} requests`)
})
