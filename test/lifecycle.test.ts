import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { emailProvider } from '../lib/index.js'
import { buildApp, expectError, list, LogCapture, post, statuses } from './helpers.js'
import { inspectMemory } from '../lib/repositories/memory.js'

function protectedRoutes (app: FastifyInstance): void {
  app.post('/carts', async () => ({ created: true }))
}

test('the whole lifecycle for one principal, with its events and clean logs', async (t) => {
  const logs = new LogCapture()
  const { app, token, outbox, events, clock, repository } = await buildApp({ protectedResources: ['carts'] }, protectedRoutes, logs)
  t.teardown(() => app.close())
  const tok = token('customer-1')
  const cart = async (code?: string): Promise<Awaited<ReturnType<typeof app.inject>>> => await app.inject({
    method: 'POST',
    url: '/carts',
    headers: { authorization: `Bearer ${tok}`, ...(code === undefined ? {} : { 'x-mfa-code': code }) }
  })

  t.same(statuses(await list(app, tok)), { email: 0 })
  t.equal((await post(app, 'multi-factor-auth-type-activate', tok)).statusCode, 204)
  t.same(statuses(await list(app, tok)), { email: 1 })
  const first = outbox.last()
  t.match(first, /^[1-9]\d{5}$/, 'six digits, first non-zero')
  t.equal((await post(app, 'multi-factor-auth-type-verify', tok, { code: first })).statusCode, 204)
  t.same(statuses(await list(app, tok)), { email: 2 })

  expectError(t, await cart(), 403, '5900', 'X-MFA-Code header is missing.')
  const wrong = first === '999999' ? '999998' : '999999'
  expectError(t, await cart(wrong), 403, '5901', 'X-MFA-Code is invalid.')
  t.equal((await cart(first)).statusCode, 200, 'the verified code passes again (grace)')

  clock.advance(30_000)
  t.equal((await post(app, 'multi-factor-auth-trigger', tok)).statusCode, 204)
  const second = outbox.last()
  t.not(second, first)
  expectError(t, await cart(first), 403, '5901', 'X-MFA-Code is invalid.') // superseded
  t.equal((await cart(second)).statusCode, 200, 'the new code passes')

  t.equal((await post(app, 'multi-factor-auth-type-deactivate', tok, { code: second })).statusCode, 204)
  t.same(statuses(await list(app, tok)), { email: 0 })
  t.equal((await cart()).statusCode, 200, 'no MFA: the write passes without a header')
  t.same(events.map((e) => e.name), [
    'type.pending', 'code.sent',
    'code.verified', 'type.enabled',
    'stepup.denied',
    'code.rejected', 'stepup.denied',
    'stepup.passed',
    'code.sent',
    'code.rejected', 'stepup.denied',
    'stepup.passed',
    'code.verified', 'type.disabled'
  ])
  t.ok(events.every((e) => e.principalId === 'customer-1' && (e.at === clock.now || e.at === clock.now - 30_000)), 'events carry principal and clock time')
  t.same(Object.keys(events[0]).sort(), ['at', 'name', 'principal', 'principalId', 'type'])
  t.same(events[0].principal, { id: 'customer-1' }, 'onEvent gets the principal as mapped')
  t.notOk(logs.lines.some((l) => l.includes('"mfaEvent"') && l.includes('"principal":')), 'the log lines name the principal by id only')

  const everything = JSON.stringify(events) + logs.lines.join('\n') + JSON.stringify([...inspectMemory(repository).records.values()].map((m) => [...m.values()]))
  for (const code of [first, second]) t.notOk(everything.includes(code), `code ${code} never in events, logs or the store`)
  t.notOk(everything.includes(tok), 'the token never in a log line')
  t.ok(logs.lines.some((l) => l.includes('"mfaEvent"') && l.includes('type.enabled')), 'events go to the request logger')
})

test('the leak check itself: a code in a log line fails the app at close', async (t) => {
  const logs = new LogCapture()
  const { app, token, outbox } = await buildApp({}, (app) => {
    app.post('/leaky', async (request) => { request.log.info({ code: outbox.last() }, 'oops'); return {} })
  }, logs)
  await post(app, 'multi-factor-auth-type-activate', token())
  await app.inject({ method: 'POST', url: '/leaky' })
  await t.rejects(app.close(), /a code, token or secret reached the log/)
})

test('the events of each operation: names, types and order, and none outside it', async (t) => {
  const sms: string[] = []
  const s = await buildApp({
    protectedResources: ['carts'],
    maxAttempts: 3,
    principalLockout: { failures: 2, duration: 60_000 },
    providers: [
      emailProvider({ send: (m) => { s.outbox.messages.push(m) } }),
      emailProvider({ type: 'sms', send: (m) => { if (m.principal.id === 'fail') throw new Error('down'); sms.push(m.code) } })
    ]
  }, protectedRoutes)
  t.teardown(() => s.app.close())
  const tok = s.token('customer-1')
  let seen = 0
  const next = (): Array<[string, string | null]> => {
    const fresh = s.events.slice(seen).map((e): [string, string | null] => [e.name, e.type])
    seen = s.events.length
    return fresh
  }
  const cart = async (code?: string): Promise<number> => (await s.app.inject({
    method: 'POST',
    url: '/carts',
    headers: { authorization: `Bearer ${tok}`, ...(code === undefined ? {} : { 'x-mfa-code': code }) }
  })).statusCode

  await post(s.app, 'multi-factor-auth-type-activate', tok)
  t.same(next(), [['type.pending', 'email'], ['code.sent', 'email']], 'activate: pending, then sent')
  s.clock.advance(30_000)
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  t.same(next(), [['code.sent', 'email']], 'activate again while pending: a new code, no second type.pending')
  await post(s.app, 'multi-factor-auth-type-verify', tok, { code: '1' })
  t.same(next(), [['code.rejected', 'email']], 'verify, wrong: rejected, naming the type')
  await post(s.app, 'multi-factor-auth-type-verify', tok, { code: s.outbox.last() })
  t.same(next(), [['code.verified', 'email'], ['type.enabled', 'email']], 'verify, right')

  await post(s.app, 'multi-factor-auth-type-activate', tok, { type: 'sms', code: '1' })
  t.same(next(), [['code.rejected', null]], 'activating a second type with a wrong code: rejected, any type, no step-up event')
  await post(s.app, 'multi-factor-auth-type-activate', tok, { type: 'sms' })
  t.same(next(), [], 'without a code: nothing compared, no event')
  await post(s.app, 'multi-factor-auth-type-activate', tok, { type: 'sms', code: s.outbox.last() })
  t.same(next(), [['type.pending', 'sms'], ['code.sent', 'sms']], 'with a code: no step-up event either')
  await post(s.app, 'multi-factor-auth-type-verify', tok, { type: 'sms', code: sms.at(-1) })
  t.same(next(), [['code.verified', 'sms'], ['type.enabled', 'sms']])

  t.equal(await cart(), 403)
  t.same(next(), [['stepup.denied', null]], 'step-up without a code')
  t.equal(await cart('1'), 403)
  t.same(next(), [['code.rejected', null], ['code.blocked', 'email'], ['stepup.denied', null]], 'step-up, wrong: rejected, the email code blocked at its third wrong try, denied')
  s.clock.advance(30_000)
  await post(s.app, 'multi-factor-auth-trigger', tok)
  t.same(next(), [['code.sent', 'email']], 'trigger')
  t.equal(await cart(s.outbox.last()), 200)
  t.same(next(), [['stepup.passed', 'email']], 'step-up, right: passed with the type')

  await post(s.app, 'multi-factor-auth-type-deactivate', tok, { type: 'sms', code: '1' })
  t.same(next(), [['code.rejected', 'sms']], 'deactivate, wrong: rejected, naming the type')
  await post(s.app, 'multi-factor-auth-type-deactivate', tok, { type: 'sms', code: sms.at(-1) })
  t.same(next(), [['code.verified', 'sms'], ['type.disabled', 'sms']], 'deactivate, right')

  for (let i = 0; i < 2; i++) await post(s.app, 'multi-factor-auth-type-verify', tok, { type: 'sms', code: '1' })
  t.same(next(), [], 'verify of a disabled type: 5906, no event')
  for (let i = 0; i < 2; i++) await cart('1')
  t.same(next(), [['code.rejected', null], ['stepup.denied', null], ['code.rejected', null], ['principal.locked', null], ['stepup.denied', null]], 'the second failure in a row locks the principal')
  await cart(s.outbox.last())
  t.same(next(), [['code.locked_out', null], ['stepup.denied', null]], 'locked out: refused unread')

  const fail = s.token('fail')
  await post(s.app, 'multi-factor-auth-type-activate', fail, { type: 'sms' })
  t.same(next(), [['type.pending', 'sms'], ['code.send_failed', 'sms']], 'a failed delivery')
})
