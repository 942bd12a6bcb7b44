// The admin API (`fastify.glueMfa`) as a back office uses it: a user who lost a factor, a user
// locked out, codes ended at sign-out; each surface with its own; events, and no secret anywhere.
import { test } from 'tap'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { generateSync } from 'otplib'
import glueMfa, { emailProvider, memoryRepository, recoveryCodesProvider, type GlueMfaAdmin, type MfaEvent, type MfaProvider } from '../lib/index.js'
import { totpProvider } from '../lib/providers/totp.js'
import { inspectMemory } from '../lib/repositories/memory.js'
import { buildApp, CODE_SECRET, expectError, handledSecrets, JWT_SECRET, list, LogCapture, Outbox, post, statuses, type TestApp } from './helpers.js'

const LOCKOUT = { failures: 3, duration: 60_000, maxDuration: 600_000 }

interface Customer extends TestApp {
  tok: string
  logs: LogCapture
  cart: (code?: string, tok?: string) => Promise<LightMyRequestResponse>
  /** A code that is not the one sent last. */
  wrong: () => string
  /** Enables email for customer-1 (its verifying code is then the newest). */
  enableEmail: (tok?: string) => Promise<void>
}

/** customer-1 on a storefront with email (then `more` types), a protected `carts` and a lockout at 3 failures. */
async function customer (overrides: Parameters<typeof buildApp>[0] = {}, more: MfaProvider[] = []): Promise<Customer> {
  const logs = new LogCapture()
  const outbox = new Outbox()
  const providers = [emailProvider({ send: outbox.send }), ...more]
  const built = await buildApp({ providers, protectedResources: ['carts'], principalLockout: LOCKOUT, maxAttempts: 10, ...overrides },
    (app) => { app.post('/carts', async () => ({ ok: true })) }, logs)
  const { app } = built
  const tok = built.token('customer-1', { jti: 'session-1' })
  const cart = async (code?: string, token = tok): Promise<LightMyRequestResponse> => await app.inject({
    method: 'POST', url: '/carts', headers: { authorization: `Bearer ${token}`, ...(code === undefined ? {} : { 'x-mfa-code': code }) }
  })
  const wrong = (): string => outbox.messages.at(-1)?.code === '999999' ? '999998' : '999999'
  return {
    ...built,
    outbox,
    tok,
    logs,
    cart,
    wrong,
    async enableEmail (token = tok) {
      const activated = await post(app, 'multi-factor-auth-type-activate', token)
      if (activated.statusCode !== 204) throw new Error(activated.body)
      const verified = await post(app, 'multi-factor-auth-type-verify', token, { code: outbox.last('customer-1') })
      if (verified.statusCode !== 204) throw new Error(verified.body)
    }
  }
}

test('reset after a lockout lets the owner in again, and clears every token\'s count and level', async (t) => {
  const c = await customer()
  const { app, events, outbox, tok } = c
  await c.enableEmail()
  const right = outbox.last()
  for (let i = 0; i < LOCKOUT.failures; i++) expectError(t, await c.cart(c.wrong()), 403, '5901')
  expectError(t, await c.cart(right), 403, '5901')
  t.equal(events.at(-2)?.name, 'code.locked_out', 'the right code is refused unread')

  t.same(await app.glueMfa.reset('customer-1'), ['email'])
  t.same(await app.glueMfa.status('customer-1'), [{ type: 'email', status: 0 }])
  t.equal((await c.cart()).statusCode, 200, 'no factor left: the write passes')
  t.same(inspectMemory(c.repository).lockouts.get('customer-1'), undefined, 'no counter left, principal-wide or per token')
  t.match(inspectMemory(c.repository).records.get('customer-1')?.get('email'), { status: 0, code: null, secret: null, lastStep: null }, 'the code is dropped')
  t.match(events.at(-1), { name: 'admin.reset', principalId: 'customer-1', type: null, at: c.clock.now })

  // The owner enrols again with the same token: its own counter starts from zero (verify is a
  // guessed code like any other, and the locked token would be refused).
  c.clock.advance(60_000)
  await c.enableEmail(tok)
  t.equal((await c.cart(outbox.last())).statusCode, 200)
  await app.close()
})

test('reset of one type keeps the others and clears the lockout; codes, secrets and TOTP steps go', async (t) => {
  const c = await customer({}, [totpProvider({ issuer: 'Test' })])
  const { app, tok, outbox: mail } = c
  // Email first, then TOTP added with an email code.
  await c.enableEmail()
  const totp = await post(app, 'multi-factor-auth-type-activate', tok, { type: 'totp', code: mail.last() })
  const secret: string = totp.json().data.attributes.secret
  const now = (): string => generateSync({ secret, epoch: Math.floor(c.clock.now / 1000) })
  t.equal((await post(app, 'multi-factor-auth-type-verify', tok, { type: 'totp', code: now() })).statusCode, 204)
  t.same(statuses(await list(app, tok)), { email: 2, totp: 2 })
  const stored = inspectMemory(c.repository).records.get('customer-1')
  t.ok(stored?.get('totp')?.secret !== null && stored?.get('totp')?.lastStep !== null)

  c.clock.advance(30_000)
  for (let i = 0; i < LOCKOUT.failures; i++) expectError(t, await c.cart('000000'), 403, '5901')
  expectError(t, await c.cart(now()), 403, '5901')
  t.same(await app.glueMfa.reset({ id: 'customer-1', email: 'c1@example.com' }, { type: 'totp' }), ['totp'])
  t.same(statuses(await list(app, tok)), { email: 2, totp: 0 })
  t.same(stored?.get('totp'), { type: 'totp', status: 0, code: null, lastSentAt: null, secret: null, lastStep: null }, 'secret and TOTP step dropped')
  t.match(c.events.at(-1), { name: 'admin.reset', principalId: 'customer-1', type: 'totp' })
  expectError(t, await c.cart(now()), 403, '5901', 'X-MFA-Code is invalid.')
  t.equal((await c.cart(mail.last())).statusCode, 200, 'the lockout is gone: the email code (grace) passes')
  t.same(await app.glueMfa.reset('customer-1', { type: 'totp' }), [], 'nothing left to disable')
  t.same(await app.glueMfa.reset('customer-1', {}), ['email'], 'no type: every type')
  await app.close()
})

test('unlock clears the lockout (count and level) and keeps types and codes', async (t) => {
  const c = await customer()
  const { app, outbox, events } = c
  await c.enableEmail()
  const right = outbox.last()
  for (let i = 0; i < LOCKOUT.failures; i++) expectError(t, await c.cart(c.wrong()), 403, '5901')
  expectError(t, await c.cart(right), 403, '5901')
  const before = structuredClone(inspectMemory(c.repository).records.get('customer-1'))

  t.equal(await app.glueMfa.unlock({ id: 'customer-1' }), undefined)
  t.match(events.at(-1), { name: 'admin.unlock', principalId: 'customer-1', type: null })
  t.same(inspectMemory(c.repository).records.get('customer-1'), before, 'types, codes and send slots as they were')
  t.same(await app.glueMfa.status('customer-1'), [{ type: 'email', status: 2 }])
  t.equal((await c.cart(right)).statusCode, 200, 'the owner\'s code passes at once')

  // The level went too: the next lock is a first one (duration), not twice the last.
  for (let i = 0; i < LOCKOUT.failures; i++) expectError(t, await c.cart(c.wrong()), 403, '5901')
  await app.glueMfa.unlock('customer-1')
  for (let i = 0; i < LOCKOUT.failures; i++) expectError(t, await c.cart(c.wrong()), 403, '5901')
  const counters = inspectMemory(c.repository).lockouts.get('customer-1')
  t.equal(counters?.get('session-1')?.lastLock, LOCKOUT.duration)
  t.equal(counters?.get('session-1')?.lockedUntil, c.clock.now + LOCKOUT.duration)
  await app.close()
})

test('revokeCodes: a used code in its grace reuse and an unused one fail with 5901; the cooldown stays', async (t) => {
  const c = await customer({ resendCooldown: 30_000 })
  const { app, outbox, events, tok } = c
  await c.enableEmail()
  const verifying = outbox.last()
  t.equal((await c.cart(verifying)).statusCode, 200, 'grace reuse before')
  await app.glueMfa.revokeCodes('customer-1')
  t.match(events.at(-1), { name: 'admin.codes_revoked', principalId: 'customer-1', type: null })
  expectError(t, await c.cart(verifying), 403, '5901', 'X-MFA-Code is invalid.')
  t.same(await app.glueMfa.status('customer-1'), [{ type: 'email', status: 2 }], 'the type stays enabled')

  c.clock.advance(30_000)
  t.equal((await post(app, 'multi-factor-auth-trigger', tok)).statusCode, 204)
  const unused = outbox.last()
  await app.glueMfa.revokeCodes({ id: 'customer-1' })
  expectError(t, await c.cart(unused), 403, '5901')
  expectError(t, await post(app, 'multi-factor-auth-trigger', tok), 429, '5911')
  c.clock.advance(30_000)
  t.equal((await post(app, 'multi-factor-auth-trigger', tok)).statusCode, 204)
  t.equal((await c.cart(outbox.last())).statusCode, 200, 'a code sent after the revocation passes')
  await app.close()
})

test('status: list order, orphans as the list shows them, an untouched principal', async (t) => {
  const c = await customer({}, [totpProvider({ issuer: 'Test' })])
  const { app, repository } = c
  t.same(await app.glueMfa.status('nobody'), [{ type: 'email', status: 0 }, { type: 'totp', status: 0 }])
  await c.enableEmail()
  // Types whose provider is gone: an enabled and a pending one show (by name), a disabled one does not.
  const accept = { now: c.clock.now, maxAttempts: 3, requireStatus: 1 as const, tokenId: null }
  for (const type of ['zeta', 'alpha', 'gone']) await repository.beginActivation('customer-1', type, 'sealed')
  await repository.acceptCode('customer-1', 'zeta', { step: 1 }, { ...accept, enable: true })
  await repository.disable('customer-1', 'gone')
  const expected = [{ type: 'email', status: 2 }, { type: 'totp', status: 0 }, { type: 'alpha', status: 1 }, { type: 'zeta', status: 2 }]
  t.same(await app.glueMfa.status('customer-1'), expected)
  t.same(await app.glueMfa.status({ id: 'customer-1' }), expected)
  t.same(statuses(await list(app, c.tok)), { email: 2, totp: 0, alpha: 1, zeta: 2 }, 'as the list endpoint answers')
  for (const entry of await app.glueMfa.status('customer-1')) t.same(Object.keys(entry), ['type', 'status'])

  // reset answers the types it disabled in the same order: registered ones first, then by name.
  await repository.beginActivation('customer-1', 'totp', 'sealed')
  t.same(await app.glueMfa.reset('customer-1'), ['email', 'totp', 'alpha', 'zeta'])
  t.same(await app.glueMfa.status('customer-1'), [{ type: 'email', status: 0 }, { type: 'totp', status: 0 }])
  await app.close()
})

test('bad arguments: a TypeError naming the argument, nothing changed, nothing emitted', async (t) => {
  const c = await customer()
  const { app, events } = c
  await c.enableEmail()
  for (let i = 0; i < LOCKOUT.failures; i++) expectError(t, await c.cart(c.wrong()), 403, '5901')
  const emitted = events.length
  const admin: GlueMfaAdmin = app.glueMfa
  const badPrincipals: unknown[] = [undefined, null, '', 42, true, {}, { id: '' }, { id: 7 }, { sub: 'customer-1' }, ['customer-1']]
  for (const method of ['status', 'reset', 'unlock', 'revokeCodes'] as const) {
    for (const bad of badPrincipals) {
      await t.rejects((admin[method] as (p: unknown) => Promise<unknown>)(bad), {
        name: 'TypeError',
        message: `glueMfa.${method}: "principal" must be a principal object with a non-empty string "id", or a non-empty id string`
      }, `${method}(${JSON.stringify(bad)})`)
    }
  }
  for (const bad of [null, 'email', 5]) {
    await t.rejects(admin.reset('customer-1', bad as never), { name: 'TypeError', message: /glueMfa\.reset: "options" must be an object/ })
  }
  for (const bad of ['', 5, null, ['email']]) {
    await t.rejects(admin.reset('customer-1', { type: bad } as never), { name: 'TypeError', message: /glueMfa\.reset: "options\.type" must be a non-empty string/ })
  }
  t.equal(events.length, emitted, 'nothing emitted')
  t.same(await admin.status('customer-1'), [{ type: 'email', status: 2 }], 'nothing changed')
  t.ok(inspectMemory(c.repository).lockouts.get('customer-1')?.get('')?.failures === LOCKOUT.failures)
  await app.close()
})

test('events: the admin names through onEvent and the instance logger; no code or secret in events, logs or answers', async (t) => {
  const c = await customer({}, [totpProvider({ issuer: 'Test' })])
  const { app, events, tok, logs, outbox: mail } = c
  await c.enableEmail()
  const totp = await post(app, 'multi-factor-auth-type-activate', tok, { type: 'totp', code: mail.last() })
  handledSecrets.add(totp.json().data.attributes.secret)
  const start = events.length
  const answers = [
    await app.glueMfa.status('customer-1'),
    await app.glueMfa.revokeCodes('customer-1'),
    await app.glueMfa.unlock('customer-1'),
    await app.glueMfa.reset('customer-1', { type: 'email' }),
    await app.glueMfa.reset('customer-1')
  ]
  t.same(events.slice(start).map((e) => [e.name, e.type]), [
    ['admin.codes_revoked', null], ['admin.unlock', null], ['admin.reset', 'email'], ['admin.reset', null]
  ])
  const logged = logs.lines.map((line) => JSON.parse(line)).filter((l) => l.mfaEvent?.name?.startsWith('admin.'))
  t.same(logged.map((l) => [l.level, l.msg]), [[30, 'mfa admin.codes_revoked'], [30, 'mfa admin.unlock'], [30, 'mfa admin.reset'], [30, 'mfa admin.reset']])
  t.notOk(logged.some((l) => 'reqId' in l), 'the instance logger: there is no request')
  const seen = JSON.stringify([answers, events, logs.lines])
  for (const secret of handledSecrets) t.notOk(seen.includes(secret), 'no handled code, token or secret')
  t.same(answers, [[{ type: 'email', status: 2 }, { type: 'totp', status: 1 }], undefined, undefined, ['email'], ['totp']])
  await app.close() // fails if any log line carried a handled secret
})

test('recovery codes back up nothing: resetting the last other factor resets them too', async (t) => {
  const c = await customer({}, [totpProvider({ issuer: 'Test' }), recoveryCodesProvider({ count: 2 })])
  const { app, tok, outbox } = c
  await c.enableEmail()
  const recovery = await post(app, 'multi-factor-auth-type-activate', tok, { type: 'recovery-codes', code: outbox.last() })
  const codes: string[] = recovery.json().data.attributes.codes
  codes.forEach((code) => handledSecrets.add(code))
  t.equal((await post(app, 'multi-factor-auth-type-verify', tok, { type: 'recovery-codes', code: codes[0] })).statusCode, 204)
  t.same(await app.glueMfa.status('customer-1'), [{ type: 'email', status: 2 }, { type: 'totp', status: 0 }, { type: 'recovery-codes', status: 2, remaining: 1 }], 'one code left: the other verified the type')

  // Another primary factor is still enabled: the recovery codes stay.
  await c.repository.beginActivation('customer-1', 'totp', 'sealed')
  await c.repository.acceptCode('customer-1', 'totp', { step: 1 }, { now: c.clock.now, maxAttempts: 3, requireStatus: 1, enable: true, tokenId: null })
  t.same(await app.glueMfa.reset('customer-1', { type: 'totp' }), ['totp'])
  // The last one goes (a lost phone and lost codes): the codes go with it, and the owner is in.
  t.same(await app.glueMfa.reset('customer-1', { type: 'email' }), ['email', 'recovery-codes'])
  t.same(await app.glueMfa.status('customer-1'), [{ type: 'email', status: 0 }, { type: 'totp', status: 0 }, { type: 'recovery-codes', status: 0, remaining: 0 }])
  t.same(await app.glueMfa.status('someone-else'), [{ type: 'email', status: 0 }, { type: 'totp', status: 0 }, { type: 'recovery-codes', status: 0, remaining: 0 }], 'never touched')
  t.equal((await c.cart()).statusCode, 200)
  t.equal(inspectMemory(c.repository).records.get('customer-1')?.get('recovery-codes')?.secret, null, 'the stored hashes are dropped')
  t.same(c.events.filter((e) => e.name === 'admin.reset').map((e) => e.type), ['totp', 'email'], 'one event per call')

  // Resetting the recovery codes alone leaves the other factors, and a primary type left enabled keeps them.
  c.clock.advance(60_000)
  await c.enableEmail()
  await c.repository.beginActivation('customer-1', 'recovery-codes', 'hashes')
  await c.repository.acceptCode('customer-1', 'recovery-codes', { step: 1 }, { now: c.clock.now, maxAttempts: 3, requireStatus: 1, enable: true, tokenId: null })
  t.same(await app.glueMfa.reset('customer-1', { type: 'recovery-codes' }), ['recovery-codes'])
  t.same(await app.glueMfa.reset('customer-1', { type: 'totp' }), [])
  t.same(await app.glueMfa.status('customer-1'), [{ type: 'email', status: 2 }, { type: 'totp', status: 0 }, { type: 'recovery-codes', status: 0, remaining: 0 }])
  t.same(await app.glueMfa.reset('customer-1', { type: 'email' }), ['email'], 'recovery codes already disabled')
  await app.close()
})

test('events carry the principal object when the call was given one, and its id alone in the log', async (t) => {
  const c = await customer()
  const { app, events, logs } = c
  const principal = { id: 'customer-1', email: 'c1@example.com' }
  await app.glueMfa.unlock(principal)
  await app.glueMfa.revokeCodes('customer-1')
  await app.glueMfa.reset(principal)
  t.same(events.map((e) => e.principal), [principal, undefined, principal])
  t.same(events.map((e) => e.principalId), ['customer-1', 'customer-1', 'customer-1'])
  t.notOk(logs.lines.some((line) => line.includes('c1@example.com')), 'the email stays out of the log')
  await app.close()
})

test('an onEvent that throws does not fail the admin call', async (t) => {
  const logs = new LogCapture()
  const { app } = await buildApp({ onEvent: () => { throw new Error('audit sink down') } }, undefined, logs)
  t.same(await app.glueMfa.reset('customer-1'), [])
  t.ok(logs.lines.some((line) => /onEvent failed/.test(line)))
  await app.close()
})

test('each surface has its own glueMfa, on its own store', async (t) => {
  const app = Fastify()
  const storefrontRepository = memoryRepository()
  const backendRepository = memoryRepository()
  const events: MfaEvent[] = []
  const onEvent = (e: MfaEvent): void => { events.push(e) }
  const send = async (): Promise<void> => {}
  let storefront: FastifyInstance | undefined
  let backend: FastifyInstance | undefined
  await app.register(async (scope) => {
    await scope.register(fastifyJwt, { secret: JWT_SECRET })
    await scope.register(glueMfa, { providers: [emailProvider({ send })], repository: storefrontRepository, codeSecret: CODE_SECRET, onEvent })
    storefront = scope
  })
  await app.register(async (scope) => {
    await scope.register(fastifyJwt, { secret: JWT_SECRET })
    await scope.register(glueMfa, { surface: 'backend', prefix: '/backend', providers: [emailProvider({ send, type: 'mail' })], repository: backendRepository, codeSecret: CODE_SECRET, onEvent })
    backend = scope
  })
  await app.ready()
  t.equal(app.hasDecorator('glueMfa'), false, 'the root has none')
  const shop = (storefront as FastifyInstance).glueMfa
  const office = (backend as FastifyInstance).glueMfa
  t.not(shop, office)
  // The same id on both surfaces: a customer and a back-office user.
  for (const repository of [storefrontRepository, backendRepository]) {
    const type = repository === storefrontRepository ? 'email' : 'mail'
    await repository.beginActivation('42', type, null, { hash: 'a'.repeat(64), expiresAt: Date.now() + 60_000 })
  }
  t.same(await office.reset('42'), ['mail'])
  t.same(await office.status('42'), [{ type: 'mail', status: 0 }])
  t.same(await shop.status('42'), [{ type: 'email', status: 1 }], 'the storefront customer 42 is untouched')
  t.same(events.map((e) => e.name), ['admin.reset'])
  await app.close()
})

test('the admin API on the SQL stores: reset a locked-out owner, unlock, revoke codes, status', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { sqliteRepository, postgresRepository } = await import('../lib/index.js')
  const { freshPrefix, pgUrl, postgresAvailable } = await import('./repositories/pg.js')
  const dir = mkdtempSync(join(tmpdir(), 'glue-mfa-admin-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const stores: Array<[string, () => import('../lib/index.js').MfaRepository]> = [['sqlite', () => sqliteRepository({ filename: join(dir, 'mfa.db') })]]
  if (await postgresAvailable(t)) stores.push(['postgres', () => postgresRepository({ connectionString: pgUrl(), tablePrefix: freshPrefix(t) })])
  for (const [name, make] of stores) {
    await t.test(name, async (t) => {
      const c = await customer({ repository: make() })
      const { app, outbox } = c
      await c.enableEmail()
      const right = outbox.last()
      for (let i = 0; i < LOCKOUT.failures; i++) expectError(t, await c.cart(c.wrong()), 403, '5901')
      expectError(t, await c.cart(right), 403, '5901')
      await app.glueMfa.unlock('customer-1')
      t.equal((await c.cart(right)).statusCode, 200, 'unlocked: the right code passes, the type stays')
      await app.glueMfa.revokeCodes('customer-1')
      expectError(t, await c.cart(right), 403, '5901')
      t.same(await app.glueMfa.status('customer-1'), [{ type: 'email', status: 2 }])
      t.same(await app.glueMfa.reset('customer-1'), ['email'])
      t.same(await app.glueMfa.status('customer-1'), [{ type: 'email', status: 0 }])
      t.equal((await c.cart()).statusCode, 200, 'reset: no factor left')
      await app.close()
    })
  }
})
