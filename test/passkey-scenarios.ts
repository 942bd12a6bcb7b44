// The passkey scenarios every store must pass: test/passkey.test.ts runs them on the memory
// store, test/passkey-stores.test.ts on a SQLite file and on PostgreSQL.
import { generateKeyPairSync } from 'node:crypto'
import type { Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { emailProvider, passkeyProvider, type GlueMfaOptions, type MfaRepository } from '../lib/index.js'
import { CodeKeys } from '../lib/codes.js'
import { challengeHash, encodeResponse } from '../lib/providers/passkey.js'
import { buildApp, CODE_SECRET, expectError, list, post, statuses, type TestApp } from './helpers.js'
import { header, SoftAuthenticator } from './webauthn.js'

export const ACTIVATE = 'multi-factor-auth-type-activate'
export const VERIFY = 'multi-factor-auth-type-verify'
export const DEACTIVATE = 'multi-factor-auth-type-deactivate'
export const TRIGGER = 'multi-factor-auth-trigger'
export const RP_ID = 'shop.example'
export const ORIGIN = 'https://shop.example'
export const PASSKEY = { type: 'passkey' }

export interface Setup extends TestApp {
  bearer: string
  authenticator: SoftAuthenticator
  /** POST /carts (protected) with this X-MFA-Code: the status. */
  carts: (code: string, bearer?: string) => Promise<LightMyRequestResponse>
  /** Activation's registration options (201). */
  activate: (code?: string) => Promise<{ challenge: string } & Record<string, any>>
  /** A trigger's authentication options (201). */
  challenge: () => Promise<{ challenge: string } & Record<string, any>>
  /** Activates and verifies the passkey with `authenticator`. */
  enrol: () => Promise<void>
  /** A fresh challenge, signed: an X-MFA-Code that passes once. */
  assertion: (overrides?: Parameters<SoftAuthenticator['assert']>[1]) => Promise<string>
}

export async function setup (t: Test, overrides: Partial<GlueMfaOptions> = {}, passkey: Partial<Parameters<typeof passkeyProvider>[0]> = {}, who = 'customer-1'): Promise<Setup> {
  const ctx = await buildApp({
    providers: [passkeyProvider({ rpName: 'Shop', rpID: RP_ID, origin: ORIGIN, ...passkey }), emailProvider({ send: () => {} })],
    protectedResources: ['carts'],
    ...overrides
  }, (app) => { app.post('/carts', async () => ({ ok: true })) })
  t.teardown(() => ctx.app.close())
  const bearer = ctx.token(who)
  const authenticator = new SoftAuthenticator(RP_ID, ORIGIN)
  const carts = async (code: string, token = bearer): Promise<LightMyRequestResponse> => await ctx.app.inject({
    method: 'POST', url: '/carts', headers: { authorization: `Bearer ${token}`, 'x-mfa-code': code }, payload: {}
  })
  const activate = async (code?: string): Promise<any> => {
    const res = await post(ctx.app, ACTIVATE, bearer, { ...PASSKEY, ...(code === undefined ? {} : { code }) })
    if (res.statusCode !== 201) throw new Error(`activate: ${res.statusCode} ${res.body}`)
    return res.json().data.attributes.options
  }
  const challenge = async (): Promise<any> => {
    const res = await post(ctx.app, TRIGGER, bearer, PASSKEY)
    if (res.statusCode !== 201) throw new Error(`trigger: ${res.statusCode} ${res.body}`)
    return res.json().data.attributes.options
  }
  const enrol = async (): Promise<void> => {
    const res = await post(ctx.app, VERIFY, bearer, { ...PASSKEY, code: header(authenticator.register(await activate())) })
    if (res.statusCode !== 204) throw new Error(`verify: ${res.statusCode} ${res.body}`)
  }
  const assertion = async (overrides?: Parameters<SoftAuthenticator['assert']>[1]): Promise<string> => header(authenticator.assert(await challenge(), overrides))
  return { ...ctx, bearer, authenticator, carts, activate, challenge, enrol, assertion }
}

export const names = (s: TestApp): string[] => s.events.map((e) => e.name)

/** Every refused assertion answers 5901 and counts like a wrong code. */
export async function refusals (t: Test, open: () => MfaRepository): Promise<void> {
  const s = await setup(t, { repository: open() })
  await s.enrol()
  const other = new SoftAuthenticator(RP_ID, ORIGIN)
  const forger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  const cases: Array<[string, () => Promise<string>]> = [
    ['signed for another origin', async () => await s.assertion({ origin: 'https://evil.example' })],
    ['signed for another rp id', async () => await s.assertion({ rpID: 'evil.example' })],
    ['a challenge the server never issued', async () => await s.assertion({ challenge: 'Z'.repeat(43) })],
    ['a registration clientData (webauthn.create) for an authentication', async () => await s.assertion({ clientType: 'webauthn.create' })],
    ['a signature by another key', async () => await s.assertion({ signingKey: forger })],
    ['another credential, right challenge', async () => header(other.assert(await s.challenge()))],
    ['a registration response as an assertion', async () => header(s.authenticator.register(await s.challenge()))],
    ['not base64url', async () => { await s.challenge(); return '{"id":"x"}' }],
    ['base64url of something that is not JSON', async () => { await s.challenge(); return Buffer.from('not json').toString('base64url') }],
    ['base64url of a JSON array', async () => { await s.challenge(); return encodeResponse([1, 2] as never) }],
    ['base64url of JSON null', async () => { await s.challenge(); return Buffer.from('null').toString('base64url') }],
    ['an email-like code', async () => { await s.challenge(); return '123456' }]
  ]
  for (const [name, make] of cases) {
    const before = s.events.length
    expectError(t, await s.carts(await make()), 403, '5901', 'X-MFA-Code is invalid.')
    t.same(names(s).slice(before), ['code.rejected', 'stepup.denied'], `${name}: rejected`)
    t.equal((await s.carts(await s.assertion())).statusCode, 200, `${name}: the owner still passes after it`)
  }
}

/** A challenge is single use, expires, is blocked at maxAttempts, and a new one supersedes it. */
export async function singleUse (t: Test, open: () => MfaRepository): Promise<void> {
  const s = await setup(t, { maxAttempts: 2, repository: open() })
  await s.enrol()
  // Expiry: 5 minutes by default.
  let options = await s.challenge()
  s.clock.advance(300_000)
  expectError(t, await s.carts(header(s.authenticator.assert(options))), 403, '5901')
  options = await s.challenge()
  s.clock.advance(299_999)
  t.equal((await s.carts(header(s.authenticator.assert(options)))).statusCode, 200, '1 ms before expiry')
  // Superseded by a newer trigger.
  const first = await s.challenge()
  const second = await s.challenge()
  expectError(t, await s.carts(header(s.authenticator.assert(first))), 403, '5901')
  // The wrong submission above counted one attempt against the newest challenge; one more blocks it.
  expectError(t, await s.carts('123456'), 403, '5901')
  t.ok(names(s).includes('code.blocked'), 'blocked at maxAttempts')
  expectError(t, await s.carts(header(s.authenticator.assert(second))), 403, '5901', 'X-MFA-Code is invalid.')
  t.equal((await s.carts(await s.assertion())).statusCode, 200, 'a new trigger, a new challenge')
}

/** Registration: refused responses, a replayed registration, a challenge of one ceremony never answering the other. */
export async function registration (t: Test, open: () => MfaRepository): Promise<void> {
  // Room for the six refusals below on one challenge (a challenge is blocked at maxAttempts).
  const s = await setup(t, { maxAttempts: 7, repository: open() })
  const options = await s.activate()
  const verify = async (code: string): Promise<LightMyRequestResponse> => await post(s.app, VERIFY, s.bearer, { ...PASSKEY, code })
  const refused: Array<[string, string]> = [
    ['another origin', header(s.authenticator.register(options, { origin: 'https://evil.example' }))],
    ['another rp id', header(s.authenticator.register(options, { rpID: 'evil.example' }))],
    ['another challenge', header(s.authenticator.register(options, { challenge: 'A'.repeat(43) }))],
    ['an assertion instead of a registration', header(s.authenticator.assert(options))],
    ['webauthn.get clientData', header(s.authenticator.register(options, { clientType: 'webauthn.get' }))],
    ['not a response', 'AAAA']
  ]
  for (const [, code] of refused) expectError(t, await verify(code), 403, '5901', 'X-MFA-Code is invalid.')
  t.same(statuses(await list(s.app, s.bearer)), { passkey: 1, email: 0 }, `still pending after: ${refused.map(([n]) => n).join(', ')}`)
  const registration = header(s.authenticator.register(options))
  t.equal((await verify(registration)).statusCode, 204)
  expectError(t, await verify(registration), 400, '5904', 'Multi-factor authentication type already activated.')
  // A registration challenge signed as an assertion is refused: the stored hash is bound to its ceremony.
  const keys = new CodeKeys(CODE_SECRET)
  t.not(challengeHash(keys, 'customer-1', 'passkey', 'registration', 'c'), challengeHash(keys, 'customer-1', 'passkey', 'authentication', 'c'))
  t.not(challengeHash(keys, 'customer-1', 'passkey', 'registration', 'c'), challengeHash(keys, 'customer-2', 'passkey', 'registration', 'c'))
  t.not(challengeHash(keys, 'customer-1', 'passkey', 'registration', 'c'), challengeHash(keys, 'customer-1', 'key', 'registration', 'c'))
  // A registration challenge answered late: expired.
  await post(s.app, DEACTIVATE, s.bearer, { ...PASSKEY, code: await s.assertion() })
  const late = await s.activate()
  s.clock.advance(300_000)
  expectError(t, await verify(header(s.authenticator.register(late))), 403, '5901')
}

/** A signature counter that goes backwards is refused with passkey.counter_rollback; one that stays 0 is fine. */
export async function counter (t: Test, open: () => MfaRepository): Promise<void> {
  const s = await setup(t, { repository: open() })
  await s.enrol()
  t.equal((await s.carts(await s.assertion({ counter: 5 }))).statusCode, 200, 'counter 5')
  for (const counter of [5, 4, 0]) {
    const before = s.events.length
    expectError(t, await s.carts(await s.assertion({ counter })), 403, '5901')
    t.same(names(s).slice(before), ['passkey.counter_rollback', 'code.rejected', 'stepup.denied'], `counter ${counter} after 5: a cloned authenticator`)
    t.match(s.events[before], { name: 'passkey.counter_rollback', principalId: 'customer-1', type: 'passkey', principal: { id: 'customer-1' } })
  }
  t.equal((await s.carts(await s.assertion({ counter: 6 }))).statusCode, 200, 'counter 6 passes')

  const z = await setup(t, { repository: open() }, {}, 'customer-2')
  const zero = new SoftAuthenticator(RP_ID, ORIGIN, 0)
  const res = await post(z.app, VERIFY, z.bearer, { ...PASSKEY, code: header(zero.register(await z.activate())) })
  t.equal(res.statusCode, 204)
  for (let i = 0; i < 3; i++) t.equal((await z.carts(header(zero.assert(await z.challenge())))).statusCode, 200, `an authenticator without a counter, use ${i + 1}`)
  t.notOk(names(z).includes('passkey.counter_rollback'))
}

/** Two app instances on one store: the same assertion fired at both at once passes once. */
export async function concurrentUse (t: Test, open: () => MfaRepository): Promise<void> {
  const a = await setup(t, { repository: open() })
  const b = await buildApp({
    providers: [passkeyProvider({ rpName: 'Shop', rpID: RP_ID, origin: ORIGIN }), emailProvider({ send: () => {} })],
    protectedResources: ['carts'],
    repository: open(),
    clock: a.clock.read
  }, (app) => { app.post('/carts', async () => ({ ok: true })) })
  t.teardown(() => b.app.close())
  await a.enrol()
  for (const [resource, expected] of [['carts', 200], [DEACTIVATE, 204]] as const) {
    // The last burst's refusals may have locked the principal (10 failures): past that lock.
    a.clock.advance(3_600_000)
    const code = await a.assertion()
    const fire = (s: TestApp): Promise<LightMyRequestResponse> => resource === 'carts'
      ? s.app.inject({ method: 'POST', url: '/carts', headers: { authorization: `Bearer ${a.bearer}`, 'x-mfa-code': code }, payload: {} })
      : post(s.app, DEACTIVATE, a.bearer, { ...PASSKEY, code })
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await fire(i % 2 === 0 ? a : b)).statusCode))
    t.equal(results.filter((status) => status === expected).length, 1, `${resource}: one of 20 simultaneous uses of one assertion passes`)
    t.equal(results.filter((status) => status === 403 || status === 400).length, 19, `${resource}: the others are refused`)
  }
  t.same(statuses(await list(a.app, a.bearer)), { passkey: 0, email: 0 }, 'deactivated once')
}
