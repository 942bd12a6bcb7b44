import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
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
