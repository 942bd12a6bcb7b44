import { test } from 'tap'
import { emailProvider, memoryRepository, type MfaRepository } from '../lib/index.js'
import { buildApp, expectError, list, LogCapture, Outbox, post, statuses, type TestApp } from './helpers.js'
import { inspectMemory } from '../lib/repositories/memory.js'

const ACTIVATE = 'multi-factor-auth-type-activate'
const VERIFY = 'multi-factor-auth-type-verify'
const DEACTIVATE = 'multi-factor-auth-type-deactivate'
const TRIGGER = 'multi-factor-auth-trigger'
const COOLDOWN = 30_000

function snapshot (t: TestApp): string {
  return JSON.stringify([...inspectMemory(t.repository).records].map(([id, types]) => [id, [...types.values()]]))
}

/** Brings `customer-1` to a status: 0, 1 (code sent) or 2 (verified). */
async function at (status: 0 | 1 | 2, extra: Parameters<typeof buildApp>[0] = {}): Promise<TestApp & { tok: string }> {
  const t = await buildApp(extra)
  const tok = t.token('customer-1')
  if (status >= 1) await post(t.app, ACTIVATE, tok)
  if (status === 2) await post(t.app, VERIFY, tok, { code: t.outbox.last() })
  t.clock.advance(COOLDOWN)
  return { ...t, tok }
}

test('every row of the state machine (docs/resources.md)', async (t) => {
  t.test('0 activate → 1, a code is sent', async (t) => {
    const s = await at(0)
    t.teardown(() => s.app.close())
    t.equal((await post(s.app, ACTIVATE, s.tok)).statusCode, 204)
    t.same(statuses(await list(s.app, s.tok)), { email: 1 })
    t.equal(s.outbox.messages.length, 1)
    t.same(s.outbox.messages[0].principal, { id: 'customer-1' })
    t.equal(s.outbox.messages[0].type, 'email')
  })
  t.test('1 activate → stays 1, a new code replaces the old one', async (t) => {
    const s = await at(1)
    t.teardown(() => s.app.close())
    const old = s.outbox.last()
    t.equal((await post(s.app, ACTIVATE, s.tok)).statusCode, 204)
    t.same(statuses(await list(s.app, s.tok)), { email: 1 })
    expectError(t, await post(s.app, VERIFY, s.tok, { code: old }), 403, '5901')
    t.equal((await post(s.app, VERIFY, s.tok, { code: s.outbox.last() })).statusCode, 204)
  })
  t.test('2 activate → 5904, unchanged', async (t) => {
    const s = await at(2)
    t.teardown(() => s.app.close())
    const before = snapshot(s)
    expectError(t, await post(s.app, ACTIVATE, s.tok, { code: s.outbox.last() }), 400, '5904', 'Multi-factor authentication type already activated.')
    t.equal(snapshot(s), before)
  })
  t.test('1 verify + right code → 2', async (t) => {
    const s = await at(1)
    t.teardown(() => s.app.close())
    t.equal((await post(s.app, VERIFY, s.tok, { code: s.outbox.last() })).statusCode, 204)
    t.same(statuses(await list(s.app, s.tok)), { email: 2 })
  })
  t.test('1 verify + wrong code → 5901, stays 1, one failed attempt counted', async (t) => {
    const s = await at(1)
    t.teardown(() => s.app.close())
    expectError(t, await post(s.app, VERIFY, s.tok, { code: '123' }), 403, '5901', 'X-MFA-Code is invalid.')
    t.same(statuses(await list(s.app, s.tok)), { email: 1 })
    t.equal((await s.repository.getType('customer-1', 'email'))?.code?.attempts, 1)
  })
  t.test('2 verify → 5904; 0 verify → 5906', async (t) => {
    const enabled = await at(2)
    t.teardown(() => enabled.app.close())
    const before = snapshot(enabled)
    expectError(t, await post(enabled.app, VERIFY, enabled.tok, { code: enabled.outbox.last() }), 400, '5904')
    t.equal(snapshot(enabled), before)
    const fresh = await at(0)
    t.teardown(() => fresh.app.close())
    expectError(t, await post(fresh.app, VERIFY, fresh.tok, { code: '123456' }), 400, '5906', 'Multi-factor authentication type is not found.')
    t.equal(snapshot(fresh), '[]')
  })
  t.test('2 deactivate + right code → 0, and every code of the type stops working', async (t) => {
    const s = await at(2, { protectedResources: ['carts'] })
    t.teardown(() => s.app.close())
    const code = s.outbox.last()
    t.equal((await post(s.app, DEACTIVATE, s.tok, { code })).statusCode, 204)
    t.same(statuses(await list(s.app, s.tok)), { email: 0 })
    t.same(await s.repository.getType('customer-1', 'email'), { type: 'email', status: 0, code: null, lastSentAt: s.clock.now - COOLDOWN, secret: null, lastStep: null })
    t.equal((await post(s.app, ACTIVATE, s.tok)).statusCode, 204, 're-activation starts over')
    expectError(t, await post(s.app, VERIFY, s.tok, { code }), 403, '5901') // the old code does not verify the new activation
  })
  t.test('0 or 1 deactivate → 5906, unchanged', async (t) => {
    for (const status of [0, 1] as const) {
      const s = await at(status)
      const before = snapshot(s)
      expectError(t, await post(s.app, DEACTIVATE, s.tok, { code: '123456' }), 400, '5906')
      t.equal(snapshot(s), before)
      await s.app.close()
    }
  })
  t.test('0 after 2 (enabled, then deactivated) verify → 5906: never compared, never counted', async (t) => {
    const s = await at(2, { principalLockout: { failures: 2, duration: 60_000 } })
    t.teardown(() => s.app.close())
    const code = s.outbox.last()
    t.equal((await post(s.app, DEACTIVATE, s.tok, { code })).statusCode, 204)
    const before = snapshot(s)
    const events = s.events.length
    for (let i = 0; i < 3; i++) expectError(t, await post(s.app, VERIFY, s.tok, { code }), 400, '5906', 'Multi-factor authentication type is not found.')
    t.equal(snapshot(s), before, 'nothing stored, nothing counted')
    t.equal(await s.repository.lockedUntil('customer-1'), 0, 'three answers past a lockout of two failures: not locked')
    t.same(s.events.slice(events), [], 'no event')
    t.equal((await post(s.app, ACTIVATE, s.tok)).statusCode, 204)
    t.equal((await post(s.app, VERIFY, s.tok, { code: s.outbox.last() })).statusCode, 204, 'the type can be enabled again at once')
  })
  t.test('2 trigger → a new code is sent', async (t) => {
    const s = await at(2)
    t.teardown(() => s.app.close())
    t.equal((await post(s.app, TRIGGER, s.tok)).statusCode, 204)
    t.equal(s.outbox.messages.length, 2)
  })
  t.test('0 or 1 trigger → 5906, unchanged', async (t) => {
    for (const status of [0, 1] as const) {
      const s = await at(status)
      const before = snapshot(s)
      expectError(t, await post(s.app, TRIGGER, s.tok), 400, '5906')
      t.equal(snapshot(s), before)
      await s.app.close()
    }
  })
  t.test('0 activate while another type is enabled needs a code of the enabled type', async (t) => {
    const smsOutbox = new Outbox()
    const s = await at(0, { providers: [emailProvider({ send: (m) => { s.outbox.messages.push(m) } }), emailProvider({ type: 'sms', send: smsOutbox.send })] })
    await post(s.app, ACTIVATE, s.tok)
    await post(s.app, VERIFY, s.tok, { code: s.outbox.last() })
    t.teardown(() => s.app.close())
    const before = snapshot(s)
    expectError(t, await post(s.app, ACTIVATE, s.tok, { type: 'sms' }), 403, '5900')
    t.equal(snapshot(s), before)
    expectError(t, await post(s.app, ACTIVATE, s.tok, { type: 'sms', code: '000000' }), 403, '5901')
    t.equal((await post(s.app, ACTIVATE, s.tok, { type: 'sms', code: s.outbox.last() })).statusCode, 204)
    t.same(statuses(await list(s.app, s.tok)), { email: 2, sms: 1 })
    expectError(t, await post(s.app, VERIFY, s.tok, { type: 'sms', code: s.outbox.last() }), 403, '5901') // an email code never verifies sms
    t.equal((await post(s.app, VERIFY, s.tok, { type: 'sms', code: smsOutbox.last() })).statusCode, 204)
  })
  t.test('0 activate with a header but nothing enabled: the header is ignored (unlike upstream Glue, see SECURITY.md)', async (t) => {
    const s = await at(0)
    t.teardown(() => s.app.close())
    t.equal((await post(s.app, ACTIVATE, s.tok, { code: '000000' })).statusCode, 204)
  })
})

test('delivery failure (5910)', async (t) => {
  t.test('on activate: the type is pending with no usable code, and a retry is not held back', async (t) => {
    const s = await at(0)
    t.teardown(() => s.app.close())
    s.outbox.failNext = 1
    expectError(t, await post(s.app, ACTIVATE, s.tok), 400, '5910', 'Something went wrong while sending your code. Please try again later or contact the system administrator.')
    t.same(statuses(await list(s.app, s.tok)), { email: 1 })
    t.equal((await s.repository.getType('customer-1', 'email'))?.code, null)
    t.same(s.events.map((e) => e.name), ['type.pending', 'code.send_failed'])
    t.equal((await post(s.app, ACTIVATE, s.tok)).statusCode, 204, 'no cooldown after a failed send')
  })
  t.test('on activate while pending: the old code is gone too', async (t) => {
    const s = await at(1)
    t.teardown(() => s.app.close())
    const old = s.outbox.last()
    s.outbox.failNext = 1
    expectError(t, await post(s.app, ACTIVATE, s.tok), 400, '5910')
    expectError(t, await post(s.app, VERIFY, s.tok, { code: old }), 403, '5901')
  })
  t.test('on trigger: nothing changes, the previous code still works', async (t) => {
    const s = await at(2, { protectedResources: ['carts'] })
    t.teardown(() => s.app.close())
    const before = snapshot(s)
    s.outbox.failNext = 1
    expectError(t, await post(s.app, TRIGGER, s.tok), 400, '5910')
    t.equal(snapshot(s), before)
    t.equal((await post(s.app, TRIGGER, s.tok)).statusCode, 204, 'no cooldown after a failed send')
  })
  t.test('a provider that throws synchronously is handled the same', async (t) => {
    const s = await at(0, { providers: [emailProvider({ send: () => { throw new Error('no mailer') } })] })
    t.teardown(() => s.app.close())
    expectError(t, await post(s.app, ACTIVATE, s.tok), 400, '5910')
  })
})

test('repository failures: 500, and 5903 on deactivate, with nothing half-written', async (t) => {
  const inner = memoryRepository()
  let failing: string | null = null
  const repository = Object.fromEntries(Object.entries(inner).map(([name, fn]) => [name, async (...args: unknown[]) => {
    if (failing === name) throw new Error('disk full')
    return await (fn as (...a: unknown[]) => unknown)(...args)
  }])) as unknown as MfaRepository
  const logs = new LogCapture()
  const s = await buildApp({ repository }, undefined, logs)
  t.teardown(() => s.app.close())
  const tok = s.token()
  failing = 'getStatuses' // what the list reads
  expectError(t, await list(s.app, tok), 500, undefined, 'Internal server error.')
  failing = null
  await post(s.app, ACTIVATE, tok)
  await post(s.app, VERIFY, tok, { code: s.outbox.last() })
  failing = 'disable'
  const res = await post(s.app, DEACTIVATE, tok, { code: s.outbox.last() })
  expectError(t, res, 500, '5903', 'Failed to deactivate multi-factor authentication.')
  t.notMatch(res.body, /disk full/)
  const logged = logs.lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'fastify-glue-mfa: repository failed while deactivating')
  t.same(logged.map((l) => [l.level, l.err?.message]), [[50, 'disk full']], 'the store\'s error is logged once, at error level')
  failing = null
  t.same(statuses(await list(s.app, tok)), { email: 2 }, 'still enabled')
  t.equal((await post(s.app, DEACTIVATE, tok, { code: s.outbox.last() })).statusCode, 204, 'works once the store recovers')
})

test('a stored type whose provider is gone can still be removed', async (t) => {
  const s = await at(2)
  t.teardown(() => s.app.close())
  await s.repository.beginActivation('customer-1', 'legacy', null)
  t.same(statuses(await list(s.app, s.tok)), { email: 2, legacy: 1 })
  expectError(t, await post(s.app, DEACTIVATE, s.tok, { type: 'legacy', code: '000000' }), 403, '5901') // needs a code of an enabled type
  t.equal((await post(s.app, DEACTIVATE, s.tok, { type: 'legacy', code: s.outbox.last() })).statusCode, 204)
  t.same(statuses(await list(s.app, s.tok)), { email: 2 })
  expectError(t, await post(s.app, DEACTIVATE, s.tok, { type: 'legacy', code: s.outbox.last() }), 400, '5906') // already gone
  const rejected = s.events.filter((e) => e.name === 'code.rejected').length
  const attempts = (await s.repository.getType('customer-1', 'email'))?.code?.attempts
  expectError(t, await post(s.app, DEACTIVATE, s.tok, { type: 'legacy', code: '000000' }), 400, '5906', 'Multi-factor authentication type is not found.') // gone (disabled): no code is asked for
  expectError(t, await post(s.app, DEACTIVATE, s.tok, { type: 'never-stored', code: '000000' }), 400, '5906', 'Multi-factor authentication type is not found.') // neither registered nor stored
  t.equal(s.events.filter((e) => e.name === 'code.rejected').length, rejected, 'neither compared a code')
  t.equal((await s.repository.getType('customer-1', 'email'))?.code?.attempts, attempts, 'nor counted one')

  const lone = await at(0)
  t.teardown(() => lone.app.close())
  await lone.repository.beginActivation('customer-1', 'legacy', null)
  t.equal((await post(lone.app, DEACTIVATE, lone.tok, { type: 'legacy', code: 'anything' })).statusCode, 204, 'with nothing enabled, the header suffices')
})

test('an enabled orphan beside an enabled type goes with a code of that type, and no removal is a step-up', async (t) => {
  const s = await at(2)
  t.teardown(() => s.app.close())
  await s.repository.beginActivation('customer-1', 'legacy', null)
  await s.repository.acceptCode('customer-1', 'legacy', { step: 1 }, { now: 0, requireStatus: 1, enable: true, maxAttempts: 3, tokenId: null })
  t.same(statuses(await list(s.app, s.tok)), { email: 2, legacy: 2 })
  const before = s.events.length
  expectError(t, await post(s.app, DEACTIVATE, s.tok, { type: 'legacy' }), 403, '5900')
  expectError(t, await post(s.app, DEACTIVATE, s.tok, { type: 'legacy', code: '000000' }), 403, '5901')
  t.equal((await post(s.app, DEACTIVATE, s.tok, { type: 'legacy', code: s.outbox.last() })).statusCode, 204)
  t.same(statuses(await list(s.app, s.tok)), { email: 2 }, 'the orphan is gone, email stays')
  const names = s.events.slice(before).map((e) => [e.name, e.type])
  t.same(names, [['code.rejected', null], ['type.disabled', 'legacy']], 'a code of any enabled type is checked (docs/events.md); no code.verified, as it was not the removed type\'s')
  t.notOk(s.events.some((e) => e.name.startsWith('stepup.')), 'no stepup.* event at all')
})

test('an enabled type whose provider is gone fails closed: step-up needs a code, no junk code removes it', async (t) => {
  // The app of yesterday had totp; today's configuration has only email (a deploy, a flag).
  const repository = memoryRepository()
  await repository.beginActivation('customer-1', 'totp', 'sealed-by-yesterday')
  await repository.acceptCode('customer-1', 'totp', { step: 1 }, { now: 0, requireStatus: 1, enable: true, maxAttempts: 3, tokenId: null })
  const s = await buildApp({ repository, protectedResources: ['carts'] }, (app) => { app.post('/carts', async () => ({ ok: true })) })
  t.teardown(() => s.app.close())
  const tok = s.token('customer-1')
  const cart = async (code?: string): Promise<number> => (await s.app.inject({
    method: 'POST', url: '/carts', headers: { authorization: `Bearer ${tok}`, ...(code === undefined ? {} : { 'x-mfa-code': code }) }
  })).statusCode
  t.equal(await cart(), 403, 'no code: 5900, not a free pass')
  t.equal(await cart('123456'), 403, 'no code can match it')
  expectError(t, await post(s.app, DEACTIVATE, tok, { type: 'totp', code: '123456' }), 403, '5901')
  t.same(statuses(await list(s.app, tok)), { email: 0, totp: 2 }, 'still listed, still enabled')
  t.same(s.events.filter((e) => e.name === 'code.rejected').length, 2, 'each junk code was counted')
  // Adding a factor (which could then remove the orphan) needs a code of it too.
  expectError(t, await post(s.app, ACTIVATE, tok), 403, '5900')
  expectError(t, await post(s.app, ACTIVATE, tok, { code: '123456' }), 403, '5901')
})

test('the order of checks on every POST (docs/errors.md)', async (t) => {
  const s = await at(0)
  t.teardown(() => s.app.close())
  expectError(t, await post(s.app, VERIFY, null, { payload: {} }), 403, '002') // token before body
  expectError(t, await post(s.app, VERIFY, s.token(null), { type: 'pigeon' }), 400, '5905') // identifier before header and type
  expectError(t, await post(s.app, VERIFY, s.tok, { type: null }), 403, '5900') // header before type
  expectError(t, await post(s.app, DEACTIVATE, s.tok, { type: 'pigeon', code: '   ' }), 403, '5900') // a blank header is a missing header
  expectError(t, await post(s.app, VERIFY, s.tok, { type: null, code: '1' }), 400, '5902') // type before state
  expectError(t, await post(s.app, VERIFY, s.tok, { type: 'pigeon', code: '1' }), 400, '5906')
})

test('activate racing a verify that enabled the type answers 5904 and gives the send slot back', async (t) => {
  const inner = memoryRepository()
  const s = await buildApp({ repository: { ...inner, beginActivation: async () => false } })
  t.teardown(() => s.app.close())
  expectError(t, await post(s.app, ACTIVATE, s.token()), 400, '5904')
  t.equal(s.outbox.messages.length, 1, 'the code goes out before the one atomic write that makes the type pending with it')
  t.equal((await inner.getType('customer-1', 'email'))?.lastSentAt, null, 'the slot is free again')
})

test('a store failing while activating leaves the type as it was and gives the send slot back', async (t) => {
  const inner = memoryRepository()
  let failing = false
  const s = await buildApp({ repository: { ...inner, beginActivation: async (...args) => { if (failing) throw new Error('disk full'); return await inner.beginActivation(...args) } } })
  t.teardown(() => s.app.close())
  const tok = s.token()
  failing = true
  expectError(t, await post(s.app, ACTIVATE, tok), 500, undefined, 'Internal server error.')
  t.same(statuses(await list(s.app, tok)), { email: 0 }, 'a disabled type stays disabled')
  t.equal((await inner.getType('customer-1', 'email'))?.lastSentAt, null, 'the slot is free again')
  failing = false
  t.equal((await post(s.app, ACTIVATE, tok)).statusCode, 204, 'asking again works at once')
  const first = s.outbox.last()
  s.clock.advance(COOLDOWN)
  failing = true
  expectError(t, await post(s.app, ACTIVATE, tok), 500, undefined, 'Internal server error.')
  failing = false
  t.equal((await post(s.app, VERIFY, tok, { code: first })).statusCode, 204, 'a pending type keeps its code: the failed activation changed nothing')
})

test('an onEvent sink that throws is logged and changes nothing', async (t) => {
  const logs = new LogCapture()
  const s = await buildApp({ onEvent: () => { throw new Error('audit sink down') } }, undefined, logs)
  t.teardown(() => s.app.close())
  t.equal((await post(s.app, ACTIVATE, s.token())).statusCode, 204)
  t.ok(logs.lines.some((l) => l.includes('onEvent failed') && l.includes('"level":50')), 'logged at error level')
})

test('a code sent but not stored (store failure) answers 500 and gives the send slot back', async (t) => {
  const inner = memoryRepository()
  let failStore = false
  const s = await buildApp({ repository: { ...inner, storeCode: async (...args) => { if (failStore) throw new Error('disk full'); await inner.storeCode(...args) } } })
  t.teardown(() => s.app.close())
  const tok = s.token()
  await post(s.app, ACTIVATE, tok)
  await post(s.app, VERIFY, tok, { code: s.outbox.last() })
  s.clock.advance(COOLDOWN)
  const before = (await inner.getType('customer-1', 'email'))?.lastSentAt
  failStore = true
  expectError(t, await post(s.app, TRIGGER, tok), 500, undefined, 'Internal server error.')
  t.equal((await inner.getType('customer-1', 'email'))?.lastSentAt, before, 'the slot is as it was')
  failStore = false
  t.equal((await post(s.app, TRIGGER, tok)).statusCode, 204, 'asking again works at once')
})

test('a provider error is logged by name and code only: its message may quote the code in any spelling', async (t) => {
  const logs = new LogCapture()
  let spaced = ''
  const send = ({ code }: { code: string }): void => {
    spaced = code.split('').join(' ')
    throw Object.assign(new TypeError(`relay refused message with ${spaced}`), { code: 'EENVELOPE' })
  }
  const s = await buildApp({ providers: [emailProvider({ send }), emailProvider({ type: 'sms', send: () => { throw 'a bare string' } })] }, undefined, logs) // eslint-disable-line no-throw-literal
  t.teardown(() => s.app.close())
  expectError(t, await post(s.app, ACTIVATE, s.token()), 400, '5910')
  expectError(t, await post(s.app, ACTIVATE, s.token(), { type: 'sms' }), 400, '5910')
  const failures = logs.lines.filter((l) => l.includes('code delivery failed')).map((l) => JSON.parse(l).err)
  t.same(failures, [{ name: 'TypeError', code: 'EENVELOPE' }, { name: 'string' }])
  t.notOk(logs.lines.some((l) => l.includes(spaced) || l.includes('relay refused')), 'no message, no spaced-out code')
})

test('what is logged of odd provider errors: null, a numeric code, a code that is an object', async (t) => {
  const logs = new LogCapture()
  const thrown: unknown[] = [null, Object.assign(new Error('x'), { code: 550 }), { name: 'SmtpError', code: { reply: 550 } }]
  const s = await buildApp({ providers: [emailProvider({ send: () => { throw thrown.shift() } })] }, undefined, logs)
  t.teardown(() => s.app.close())
  for (let i = 0; i < 3; i++) {
    expectError(t, await post(s.app, ACTIVATE, s.token()), 400, '5910')
    s.clock.advance(COOLDOWN)
  }
  const failures = logs.lines.filter((l) => l.includes('code delivery failed')).map((l) => JSON.parse(l).err)
  t.same(failures, [{ name: 'object' }, { name: 'Error', code: '550' }, { name: 'SmtpError' }], 'a numeric code as a string; anything else is left out')
})
