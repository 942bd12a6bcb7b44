// Enrolling the first factor needs a fresh sign-in (5912): a token thief must not bind the
// account to an authenticator of his own, nor replace the secret of the owner's pending one.
import { test } from 'tap'
import { emailProvider, totpProvider } from '../lib/index.js'
import { buildApp, expectError, list, post, statuses, type TestApp } from './helpers.js'
import { inspectMemory } from '../lib/repositories/memory.js'

const ACTIVATE = 'multi-factor-auth-type-activate'
const VERIFY = 'multi-factor-auth-type-verify'
const MINUTE = 60_000

/** A token whose `iat` (and, if given, `auth_time`) lie `ageMs` before the app's clock. */
function signedAgo (s: TestApp, ageMs: number, claims: Record<string, unknown> = {}): string {
  return s.token('customer-1', { iat: Math.floor((s.clock.now - ageMs) / 1000), ...claims })
}

test('the first factor needs a sign-in within enrollmentMaxAge (15 min): auth_time, else iat', async (t) => {
  const s = await buildApp({ providers: [emailProvider({ send: async (m) => { await s.outbox.send(m) } }), totpProvider({ issuer: 'Test' })] })
  t.teardown(() => s.app.close())
  expectError(t, await post(s.app, ACTIVATE, signedAgo(s, 15 * MINUTE + 1000), { type: 'totp' }), 403, '5912', 'Sign in again to set up multi-factor authentication.')
  expectError(t, await post(s.app, ACTIVATE, signedAgo(s, 16 * MINUTE)), 403, '5912')
  t.equal(s.outbox.messages.length, 0, 'nothing was sent')
  t.same(statuses(await list(s.app, s.token())), { email: 0, totp: 0 }, 'nothing changed')
  const authTime = (ageMs: number): number => Math.floor((s.clock.now - ageMs) / 1000)
  expectError(t, await post(s.app, ACTIVATE, signedAgo(s, 0, { auth_time: authTime(20 * MINUTE) })), 403, '5912', undefined)
  t.equal((await post(s.app, ACTIVATE, signedAgo(s, 20 * MINUTE, { auth_time: authTime(MINUTE) }), { type: 'totp' })).statusCode, 201, 'auth_time decides over iat')
  t.equal((await post(s.app, ACTIVATE, signedAgo(s, 15 * MINUTE))).statusCode, 204, 'exactly 15 minutes is still fresh')
  t.equal((await post(s.app, ACTIVATE, signedAgo(s, -5 * MINUTE), { type: 'totp' })).statusCode, 201, 'a time in the future counts as fresh')
  const noTime = s.app.jwt.sign({ sub: 'customer-1' }, { noTimestamp: true })
  expectError(t, await post(s.app, ACTIVATE, noTime), 403, '5912')
})

test('a stolen older token can neither enrol a factor nor replace the secret of the owner\'s pending one', async (t) => {
  const s = await buildApp({ providers: [totpProvider({ issuer: 'Test' })] })
  t.teardown(() => s.app.close())
  const owner = signedAgo(s, MINUTE)
  const res = await post(s.app, ACTIVATE, owner, { type: 'totp' })
  t.equal(res.statusCode, 201)
  const secret = res.json().data.attributes.secret
  const stolen = signedAgo(s, 2 * 60 * MINUTE)
  expectError(t, await post(s.app, ACTIVATE, stolen, { type: 'totp' }), 403, '5912')
  t.equal(inspectMemory(s.repository).records.get('customer-1')?.get('totp')?.status, 1, 'still pending')
  const { generateSync } = await import('otplib')
  t.equal((await post(s.app, VERIFY, owner, { type: 'totp', code: generateSync({ secret, epoch: Math.floor(s.clock.now / 1000) }) })).statusCode, 204, 'the owner\'s secret still verifies')
})

test('once a factor is enabled, adding another needs its code, not a fresh sign-in; checks come in order', async (t) => {
  const s = await buildApp({ enrollmentMaxAge: 5 * MINUTE, providers: [emailProvider({ send: async (m) => { await s.outbox.send(m) } }), totpProvider({ issuer: 'Test' })] })
  t.teardown(() => s.app.close())
  const fresh = signedAgo(s, 0)
  await post(s.app, ACTIVATE, fresh)
  await post(s.app, VERIFY, fresh, { code: s.outbox.last() })
  const old = signedAgo(s, 60 * MINUTE)
  expectError(t, await post(s.app, ACTIVATE, old), 400, '5904') // state before sign-in age
  expectError(t, await post(s.app, ACTIVATE, old, { type: 'pigeon' }), 400, '5906') // type before sign-in age
  expectError(t, await post(s.app, ACTIVATE, old, { type: 'totp' }), 403, '5900') // a code, not a sign-in
  t.equal((await post(s.app, ACTIVATE, old, { type: 'totp', code: s.outbox.last() })).statusCode, 201, 'the email code adds totp')
  expectError(t, await post(s.app, ACTIVATE, signedAgo(s, 6 * MINUTE, { sub: 'customer-2' })), 403, '5912') // enrollmentMaxAge applies
})

test('enrollmentMaxAge is checked at registration', async (t) => {
  await t.rejects(buildApp({ enrollmentMaxAge: 0 }), { code: 'FST_GLUE_MFA_INVALID_OPTION', message: /option "enrollmentMaxAge" must be an integer from 1000/ })
})
