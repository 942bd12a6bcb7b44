// The verification service's own rules where a store or a concurrent request answers something
// unusual: what the client gets, what is counted, and what the store is asked to do. Found
// unpinned by mutation testing (lib/service.ts).
import { test } from 'tap'
import { generateSync } from 'otplib'
import { emailProvider, memoryRepository, recoveryCodesProvider, totpProvider, type GlueMfaOptions, type MfaRepository } from '../lib/index.js'
import { buildApp, expectError, Outbox, post, type TestApp } from './helpers.js'

const ACTIVATE = 'multi-factor-auth-type-activate'
const VERIFY = 'multi-factor-auth-type-verify'
const DEACTIVATE = 'multi-factor-auth-type-deactivate'
const RECOVERY = 'recovery-codes'

/** A store that records what it is asked and can be told to answer otherwise, one method at a time. */
function spyStore (): { inner: MfaRepository, repository: MfaRepository, calls: Array<[string, unknown[]]>, override: Partial<MfaRepository> } {
  const inner = memoryRepository()
  const calls: Array<[string, unknown[]]> = []
  const override: Partial<MfaRepository> = {}
  const repository = Object.fromEntries(Object.entries(inner).map(([name, fn]) => [name, async (...args: unknown[]) => {
    calls.push([name, args])
    const replaced = (override as Record<string, (...a: unknown[]) => unknown>)[name]
    return await (replaced ?? (fn as (...a: unknown[]) => unknown))(...args)
  }])) as unknown as MfaRepository
  return { inner, repository, calls, override }
}

async function withEmail (repository: MfaRepository, providers: GlueMfaOptions['providers'] = [emailProvider({ send: mail.send })]): Promise<TestApp & { tok: string }> {
  const s = await buildApp({ repository, providers, protectedResources: ['carts'] }, (app) => { app.post('/carts', async () => ({ ok: true })) })
  const tok = s.token('customer-1')
  await post(s.app, ACTIVATE, tok)
  await post(s.app, VERIFY, tok, { code: mail.last() })
  s.clock.advance(30_000)
  return { ...s, tok }
}
const mail = new Outbox()

/** Recovery codes activated with the last email code and verified with the first: answers the codes. */
async function withRecovery (s: TestApp & { tok: string }): Promise<string[]> {
  const codes = (await post(s.app, ACTIVATE, s.tok, { type: RECOVERY, code: mail.last() })).json().data.attributes.codes
  const verified = await post(s.app, VERIFY, s.tok, { type: RECOVERY, code: codes[0] })
  if (verified.statusCode !== 204) throw new Error(verified.body)
  return codes
}

async function cart (s: TestApp & { tok: string }, code: string): Promise<number> {
  return (await s.app.inject({ method: 'POST', url: '/carts', headers: { authorization: `Bearer ${s.tok}`, 'x-mfa-code': code }, payload: {} })).statusCode
}

test('a token with no sign-in time cannot enrol a first factor, whatever the clock reads', async (t) => {
  // A clock a minute after 1970: "now minus no sign-in time" must not read as a fresh sign-in.
  const s = await buildApp({ clock: () => 60_000, providers: [emailProvider({ send: mail.send })] })
  t.teardown(() => s.app.close())
  const noTime = s.app.jwt.sign({ sub: 'customer-1' }, { noTimestamp: true })
  expectError(t, await post(s.app, ACTIVATE, noTime), 403, '5912')
})

test('a store refusing a right code (its own re-check) answers 5901, not as if the type had changed', async (t) => {
  const spy = spyStore()
  const s = await withEmail(spy.repository)
  t.teardown(() => s.app.close())
  await post(s.app, 'multi-factor-auth-trigger', s.tok)
  spy.override.acceptCode = async () => 'code-invalid'
  expectError(t, await post(s.app, DEACTIVATE, s.tok, { code: mail.last() }), 403, '5901')

  const pending = await buildApp({ repository: spy.repository, providers: [emailProvider({ send: mail.send })] })
  t.teardown(() => pending.app.close())
  const tok = pending.token('customer-2')
  delete spy.override.acceptCode
  await post(pending.app, ACTIVATE, tok)
  spy.override.acceptCode = async () => 'code-invalid'
  expectError(t, await post(pending.app, VERIFY, tok, { code: mail.last('customer-2') }), 403, '5901')
  t.same(pending.events.map((e) => e.name), ['type.pending', 'code.sent', 'code.rejected'])
})

test('deactivating a type that a concurrent request disabled answers 5906, even with recovery codes beside it', async (t) => {
  const spy = spyStore()
  const s = await withEmail(spy.repository, [emailProvider({ send: mail.send }), recoveryCodesProvider({ count: 2 })])
  t.teardown(() => s.app.close())
  await withRecovery(s)
  s.clock.advance(30_000)
  await post(s.app, 'multi-factor-auth-trigger', s.tok)
  spy.override.acceptCode = async (_id, type) => type === 'email' ? 'status-changed' : 'code-invalid'
  const before = s.events.length
  expectError(t, await post(s.app, DEACTIVATE, s.tok, { code: mail.last() }), 400, '5906')
  t.same(s.events.slice(before).map((e) => e.name), [], 'nothing rejected, nothing disabled')
})

test('a step-up whose one type lost its status meanwhile is refused without counting a failure', async (t) => {
  const spy = spyStore()
  const s = await withEmail(spy.repository)
  t.teardown(() => s.app.close())
  await post(s.app, 'multi-factor-auth-trigger', s.tok)
  spy.override.acceptCode = async () => 'status-changed'
  spy.calls.length = 0
  const before = s.events.length
  t.equal(await cart(s, mail.last()), 403)
  t.same(s.events.slice(before).map((e) => [e.name, e.type]), [['stepup.denied', null]], 'no code.rejected: the code was right')
  t.notOk(spy.calls.some(([name]) => name === 'countAttempts'), 'no attempt counted on the code')
})

test('the store is asked to count attempts only on the codes that count them, and to enable nothing outside verify', async (t) => {
  const spy = spyStore()
  const s = await withEmail(spy.repository, [emailProvider({ send: mail.send }), totpProvider({ issuer: 'Shop' })])
  t.teardown(() => s.app.close())
  const secret = (await post(s.app, ACTIVATE, s.tok, { type: 'totp', code: mail.last() })).json().data.attributes.secret
  t.equal((await post(s.app, VERIFY, s.tok, { type: 'totp', code: generateSync({ secret, epoch: Math.floor(s.clock.now / 1000) }) })).statusCode, 204)
  s.clock.advance(60_000)
  const counted = (): unknown[] => spy.calls.filter(([name]) => name === 'countAttempts').map(([, args]) => args[1])

  // email's last code was used (kept for its grace period): a wrong code counts on it, not on TOTP.
  spy.calls.length = 0
  t.equal(await cart(s, '000000'), 403)
  t.same(counted(), [['email']])
  // With TOTP alone, nothing counts a wrong code but the lockout: the store is not asked.
  s.clock.advance(30_000)
  await post(s.app, 'multi-factor-auth-trigger', s.tok)
  t.equal((await post(s.app, DEACTIVATE, s.tok, { code: mail.last() })).statusCode, 204)
  spy.calls.length = 0
  t.equal(await cart(s, '000000'), 403)
  t.same(counted(), [], 'countAttempts not called')
  const enables = spy.calls.filter(([name]) => name === 'acceptCode').map(([, args]) => (args[3] as { enable: boolean }).enable)
  spy.calls.length = 0
  t.equal(await cart(s, generateSync({ secret, epoch: Math.floor(s.clock.now / 1000) })), 200)
  t.same(spy.calls.filter(([name]) => name === 'acceptCode').map(([, args]) => (args[3] as { enable: boolean }).enable), [false], 'step-up accepts with enable: false')
  t.same(enables, [], 'wrong codes reach no acceptCode')
  s.clock.advance(60_000)
  spy.calls.length = 0
  t.equal((await post(s.app, DEACTIVATE, s.tok, { type: 'totp', code: generateSync({ secret, epoch: Math.floor(s.clock.now / 1000) }) })).statusCode, 204)
  t.same(spy.calls.filter(([name]) => name === 'acceptCode').map(([, args]) => (args[3] as { enable: boolean }).enable), [false], 'deactivate accepts with enable: false')
})

test('a locked request whose type vanished meanwhile answers 5906, not a store failure', async (t) => {
  const spy = spyStore()
  const s = await withEmail(spy.repository)
  t.teardown(() => s.app.close())
  spy.override.admit = async () => ({ admitted: false, lockedUntil: s.clock.now + 60_000 })
  // deactivate reads the list (getTypes); only a refused admission reads the one type again.
  spy.override.getType = async () => null
  expectError(t, await post(s.app, DEACTIVATE, s.tok, { code: '123456' }), 400, '5906')
})

test('admin status: a disabled set of recovery codes has none left, whatever its store kept', async (t) => {
  const spy = spyStore()
  const s = await withEmail(spy.repository, [emailProvider({ send: mail.send }), recoveryCodesProvider({ count: 3 })])
  t.teardown(() => s.app.close())
  await withRecovery(s)
  t.same(await s.app.glueMfa.status('customer-1'), [{ type: 'email', status: 2 }, { type: RECOVERY, status: 2, remaining: 2 }])
  t.same(await s.app.glueMfa.status('nobody'), [{ type: 'email', status: 0 }, { type: RECOVERY, status: 0, remaining: 0 }], 'never stored: none')
  // A store that disables by status alone and keeps the hashes.
  spy.override.getTypes = async (id) => (await spy.inner.getTypes(id)).map((r) => r.type === RECOVERY ? { ...r, status: 0 } : r)
  t.same(await s.app.glueMfa.status('customer-1'), [{ type: 'email', status: 2 }, { type: RECOVERY, status: 0, remaining: 0 }])
})

test('with no type left that can check a code, a pending orphan goes with the header alone, beside an enabled one', async (t) => {
  const repository = memoryRepository()
  const s = await buildApp({ repository, providers: [emailProvider({ send: mail.send })] })
  t.teardown(() => s.app.close())
  const tok = s.token('customer-1')
  await repository.beginActivation('customer-1', 'legacy', null)
  await repository.acceptCode('customer-1', 'legacy', { step: 1 }, { now: 0, requireStatus: 1, enable: true, maxAttempts: 3, tokenId: null })
  await repository.beginActivation('customer-1', 'old-pending', null)
  t.equal((await post(s.app, DEACTIVATE, tok, { type: 'old-pending', code: 'anything' })).statusCode, 204)
  expectError(t, await post(s.app, DEACTIVATE, tok, { type: 'legacy', code: 'anything' }), 403, '5901', undefined)
})

test('the last primary type goes alone when its recovery codes were already disabled, even with a store that answers every disable as done', async (t) => {
  const spy = spyStore()
  const s = await withEmail(spy.repository, [emailProvider({ send: mail.send }), recoveryCodesProvider({ count: 2 })])
  t.teardown(() => s.app.close())
  const codes = await withRecovery(s)
  t.equal((await post(s.app, DEACTIVATE, s.tok, { type: RECOVERY, code: codes[1] })).statusCode, 204)
  spy.override.disable = async (...args) => { await spy.inner.disable(...args); return true }
  s.clock.advance(30_000)
  await post(s.app, 'multi-factor-auth-trigger', s.tok)
  const before = s.events.length
  t.equal((await post(s.app, DEACTIVATE, s.tok, { code: mail.last() })).statusCode, 204)
  t.same(s.events.slice(before).map((e) => [e.name, e.type]), [['code.verified', 'email'], ['type.disabled', 'email']], 'no second type.disabled for the recovery codes')
})
