import { test } from 'tap'
import {
  emailProvider, InvalidOptionError, memoryRepository, passkeyProvider
} from '../lib/index.js'
import { CodeKeys } from '../lib/codes.js'
import { decodeResponse, encodeResponse } from '../lib/providers/passkey.js'
import { buildApp, CODE_SECRET, expectError, list, post, statuses } from './helpers.js'
import {
  ACTIVATE, concurrentUse, counter, DEACTIVATE, names, ORIGIN, PASSKEY, refusals, registration, RP_ID, setup, singleUse, TRIGGER, VERIFY
} from './passkey-scenarios.js'
import { header, SoftAuthenticator } from './webauthn.js'

// The scenarios every store must pass (test/passkey-scenarios.ts), here on the memory store;
// test/passkey-stores.test.ts runs them on SQLite and PostgreSQL.
const memory = (): (() => ReturnType<typeof memoryRepository>) => {
  const shared = memoryRepository()
  return () => shared
}
test('every refused assertion answers 5901 and counts like a wrong code', async (t) => { await refusals(t, memory()) })
test('a challenge is single use, expires, is blocked at maxAttempts, and a new one supersedes it', async (t) => { await singleUse(t, memory()) })
test('registration: refused responses, a replayed registration, a challenge of one ceremony never answering the other', async (t) => { await registration(t, memory()) })
test('a signature counter that goes backwards is refused with passkey.counter_rollback; one that stays 0 is fine', async (t) => { await counter(t, memory()) })
test('one assertion used by 20 simultaneous requests on two instances passes once', async (t) => { await concurrentUse(t, memory()) })

test('passkeyProvider checks its options and names the one that is wrong', async (t) => {
  const good = { rpName: 'Shop', rpID: RP_ID, origin: ORIGIN }
  const refused: Array<[string, Record<string, unknown>]> = [
    ['passkeyProvider.rpName', { rpName: ' ' }],
    ['passkeyProvider.rpID', { rpID: undefined }],
    ['passkeyProvider.rpID', { rpID: 'https://shop.example' }],
    ['passkeyProvider.rpID', { rpID: 'shop.example:3000' }],
    ['passkeyProvider.rpID', { rpID: 'Shop.Example' }],
    ['passkeyProvider.rpID', { rpID: '127.0.0.1' }],
    ['passkeyProvider.origin', { origin: [] }],
    ['passkeyProvider.origin', { origin: 42 }],
    ['passkeyProvider.origin', { origin: [42] }],
    ['passkeyProvider.origin', { origin: [[ORIGIN]] }],
    ['passkeyProvider.origin', { origin: 'shop.example' }],
    ['passkeyProvider.origin', { origin: 'http://shop.example' }],
    ['passkeyProvider.origin', { origin: 'https://shop.example/' }],
    ['passkeyProvider.origin', { origin: 'https://shop.example/login' }],
    ['passkeyProvider.origin', { origin: 'https://evil.example' }],
    ['passkeyProvider.origin', { origin: 'https://notshop.example' }],
    ['passkeyProvider.origin', { origin: [ORIGIN, 'https://evil.example'] }],
    ['passkeyProvider.userVerification', { userVerification: 'always' }],
    ['passkeyProvider.challengeTtl', { challengeTtl: 9_999 }],
    ['passkeyProvider.challengeTtl', { challengeTtl: 1_800_001 }]
  ]
  for (const [name, change] of refused) {
    t.throws(() => passkeyProvider({ ...good, ...change } as never), new InvalidOptionError(name, 'x').constructor, `${name}: ${JSON.stringify(change)}`)
    try {
      passkeyProvider({ ...good, ...change } as never)
    } catch (err) {
      t.match((err as Error).message, `option "${name}"`)
    }
  }
  t.throws(() => passkeyProvider(undefined as never), /passkeyProvider\.rpName/)
  // What each refusal says.
  t.throws(() => passkeyProvider({ ...good, rpID: '10.0.0.1' }), /"passkeyProvider\.rpID" must be a domain name in lower case, without scheme, port or path \(not an IP address\)/)
  t.throws(() => passkeyProvider({ ...good, origin: [] }), /"passkeyProvider\.origin" must be an origin or a non-empty list of origins/)
  t.throws(() => passkeyProvider({ ...good, origin: 'ftp://shop.example' }), /"passkeyProvider\.origin" must be https:\/\/<host>\[:port\] or http:\/\/localhost\[:port\], got "ftp:\/\/shop\.example"/)
  t.throws(() => passkeyProvider({ ...good, origin: 'https://evil.example' }), /"passkeyProvider\.origin" must be on rpID "shop\.example" or a subdomain of it, got "https:\/\/evil\.example"/)
  // Only http://localhost may do without TLS; other schemes never.
  for (const origin of ['ftp://localhost', 'ws://localhost:3000', 'http://localhost.evil.example']) {
    t.throws(() => passkeyProvider({ ...good, rpID: 'localhost', origin }), /passkeyProvider\.origin/, origin)
  }
  // Digits are fine in a domain name, at its start or its end; only an all-numeric one is an IP address.
  for (const rpID of ['1shop.example', 'shop1', 'shop.example2']) {
    t.equal(passkeyProvider({ ...good, rpID, origin: `https://${rpID}` }).rpID, rpID)
  }
  t.same(passkeyProvider(good), {
    kind: 'passkey', type: 'passkey', rpName: 'Shop', rpID: RP_ID, origin: [ORIGIN], userVerification: 'preferred', challengeTtl: 300_000
  }, 'the defaults')
  t.same(passkeyProvider({ ...good, rpID: 'localhost', origin: ['http://localhost:3000', 'https://localhost'], type: 'key', userVerification: 'required', challengeTtl: 10_000 }), {
    kind: 'passkey', type: 'key', rpName: 'Shop', rpID: 'localhost', origin: ['http://localhost:3000', 'https://localhost'], userVerification: 'required', challengeTtl: 10_000
  }, 'localhost over http, several origins, every option')
  t.equal(passkeyProvider({ ...good, origin: 'https://www.shop.example:8443' }).origin[0], 'https://www.shop.example:8443', 'a subdomain of rpID, with a port')
})

test('a passkey through the five resources: activation answers the registration options, verify enables, trigger answers a challenge, the assertion passes once', async (t) => {
  const s = await setup(t)
  const res = await post(s.app, ACTIVATE, s.bearer, PASSKEY)
  t.equal(res.statusCode, 201)
  t.match(res.headers['content-type'], /^application\/vnd\.api\+json/)
  const { data } = res.json()
  t.same([data.type, data.id, data.attributes.type], [ACTIVATE, 'passkey', 'passkey'])
  const options = data.attributes.options
  t.match(options, {
    rp: { name: 'Shop', id: RP_ID },
    user: { name: 'customer-1', displayName: 'customer-1' },
    attestation: 'none',
    timeout: 300_000,
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' }
  })
  t.match(options.challenge, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url')
  t.notMatch(options.user.id, /customer-1/, 'the user handle does not show the principal id')
  t.same(statuses(await list(s.app, s.bearer)), { passkey: 1, email: 0 }, 'pending')

  t.equal((await post(s.app, VERIFY, s.bearer, { ...PASSKEY, code: header(s.authenticator.register(options)) })).statusCode, 204)
  t.same(statuses(await list(s.app, s.bearer)), { passkey: 2, email: 0 }, 'enabled')

  expectError(t, await s.carts(''), 403, '5900')
  const trigger = await post(s.app, TRIGGER, s.bearer, PASSKEY)
  t.equal(trigger.statusCode, 201)
  const request = trigger.json().data
  t.same([request.type, request.id, request.attributes.type], [TRIGGER, 'passkey', 'passkey'])
  t.match(request.attributes.options, { rpId: RP_ID, userVerification: 'preferred', allowCredentials: [{ id: s.authenticator.id, type: 'public-key', transports: ['internal'] }] })
  const signed = header(s.authenticator.assert(request.attributes.options))
  t.equal((await s.carts(signed)).statusCode, 200, 'the assertion passes the step-up')
  expectError(t, await s.carts(signed), 403, '5901', 'X-MFA-Code is invalid.')
  t.same(names(s), ['type.pending', 'code.verified', 'type.enabled', 'stepup.denied', 'stepup.passed', 'code.rejected', 'stepup.denied'])

  // The user handle is stable for the principal: a second registration shows the same one.
  t.equal((await s.app.inject({ method: 'GET', url: '/multi-factor-auth-types', headers: { authorization: `Bearer ${s.bearer}` } })).statusCode, 200)
  const deactivated = await post(s.app, DEACTIVATE, s.bearer, { ...PASSKEY, code: await s.assertion() })
  t.equal(deactivated.statusCode, 204, 'deactivated with a fresh assertion')
  t.same(statuses(await list(s.app, s.bearer)), { passkey: 0, email: 0 })
  const again = await s.activate()
  t.equal(again.user.id, options.user.id, 'the same user handle on a new registration')
  t.not(again.challenge, options.challenge, 'a new challenge')
})

test('user verification required: a response without it is refused', async (t) => {
  const s = await setup(t, {}, { userVerification: 'required' })
  const options = await s.activate()
  t.equal(options.authenticatorSelection.userVerification, 'required')
  expectError(t, await post(s.app, VERIFY, s.bearer, { ...PASSKEY, code: header(s.authenticator.register(options, { noUserVerification: true })) }), 403, '5901')
  t.equal((await post(s.app, VERIFY, s.bearer, { ...PASSKEY, code: header(s.authenticator.register(options)) })).statusCode, 204)
  expectError(t, await s.carts(await s.assertion({ noUserVerification: true })), 403, '5901')
  t.equal((await s.carts(await s.assertion())).statusCode, 200)

  // 'preferred' (the default) asks for it and accepts a response without it.
  const p = await setup(t)
  const preferred = await p.activate()
  t.equal((await post(p.app, VERIFY, p.bearer, { ...PASSKEY, code: header(p.authenticator.register(preferred, { noUserVerification: true })) })).statusCode, 204)
  t.equal((await p.carts(await p.assertion({ noUserVerification: true }))).statusCode, 200)
})

test('wrong assertions lock the principal out like wrong codes', async (t) => {
  const s = await setup(t)
  await s.enrol()
  for (let i = 0; i < 10; i++) expectError(t, await s.carts(await s.assertion({ origin: 'https://evil.example' })), 403, '5901')
  t.ok(names(s).includes('principal.locked'), 'locked after 10 failures')
  const before = s.events.length
  expectError(t, await s.carts(await s.assertion()), 403, '5901')
  t.same(names(s).slice(before), ['code.locked_out', 'stepup.denied'], 'the right assertion is refused unread while locked')
})

test('a passkey beside the code types: a code-only client is unaffected; adding and removing factors with either', async (t) => {
  const s = await setup(t)
  // Email first, then the passkey added with an email code.
  const mail: string[] = []
  const e = await buildApp({
    providers: [emailProvider({ send: ({ code }) => { mail.push(code) } }), passkeyProvider({ rpName: 'Shop', rpID: RP_ID, origin: ORIGIN })],
    protectedResources: ['carts']
  }, (app) => { app.post('/carts', async () => ({ ok: true })) })
  t.teardown(() => e.app.close())
  const bearer = e.token()
  t.equal((await post(e.app, ACTIVATE, bearer)).statusCode, 204)
  t.equal((await post(e.app, VERIFY, bearer, { code: mail.at(-1) })).statusCode, 204)
  expectError(t, await post(e.app, ACTIVATE, bearer, PASSKEY), 403, '5900')
  const authenticator = new SoftAuthenticator(RP_ID, ORIGIN)
  const added = await post(e.app, ACTIVATE, bearer, { ...PASSKEY, code: mail.at(-1) })
  t.equal(added.statusCode, 201, 'added with the email code')
  t.equal((await post(e.app, VERIFY, bearer, { ...PASSKEY, code: header(authenticator.register(added.json().data.attributes.options)) })).statusCode, 204)
  t.same(statuses(await list(e.app, bearer)), { email: 2, passkey: 2 })
  // The code-only flow as before: trigger email answers 204 and its code passes the step-up.
  e.clock.advance(60_000)
  t.equal((await post(e.app, TRIGGER, bearer)).statusCode, 204)
  const carts = async (code: string): Promise<number> => (await e.app.inject({ method: 'POST', url: '/carts', headers: { authorization: `Bearer ${bearer}`, 'x-mfa-code': code }, payload: {} })).statusCode
  t.equal(await carts(mail.at(-1) as string), 200, 'an email code passes')
  // The passkey removes the email type; the email code removed nothing.
  const challenge = (await post(e.app, TRIGGER, bearer, PASSKEY)).json().data.attributes.options
  t.equal((await post(e.app, DEACTIVATE, bearer, { code: header(authenticator.assert(challenge)) })).statusCode, 403, 'a type goes with its own code only')
  const next = (await post(e.app, TRIGGER, bearer, PASSKEY)).json().data.attributes.options
  t.equal((await post(e.app, DEACTIVATE, bearer, { ...PASSKEY, code: header(authenticator.assert(next)) })).statusCode, 204)
  t.same(statuses(await list(e.app, bearer)), { email: 2, passkey: 0 })

  // The passkey first: adding email needs an assertion.
  await s.enrol()
  expectError(t, await post(s.app, ACTIVATE, s.bearer, { code: '123456' }), 403, '5901')
  t.equal((await post(s.app, ACTIVATE, s.bearer, { code: await s.assertion() })).statusCode, 204, 'email added with an assertion')
  // Trigger of a pending or disabled passkey: 5906, as for any type.
  const p = await setup(t)
  expectError(t, await post(p.app, TRIGGER, p.bearer, PASSKEY), 400, '5906')
  await p.activate()
  expectError(t, await post(p.app, TRIGGER, p.bearer, PASSKEY), 400, '5906')
})

test('X-MFA-Code is bounded: 8192 characters are read, one more answers 400 before any work', async (t) => {
  const s = await setup(t)
  await s.enrol()
  const long = 'A'.repeat(8193)
  expectError(t, await s.carts(long), 400, undefined, 'X-MFA-Code is too long.')
  expectError(t, await post(s.app, DEACTIVATE, s.bearer, { ...PASSKEY, code: long }), 400, undefined, 'X-MFA-Code is too long.')
  // Surrounding blanks are trimmed first: 8192 characters inside them are read.
  expectError(t, await post(s.app, VERIFY, s.bearer, { ...PASSKEY, code: ` ${'A'.repeat(8192)} ` }), 400, '5904')
  expectError(t, await s.carts('A'.repeat(8192)), 403, '5901', 'X-MFA-Code is invalid.')
  // Before the token: a missing token is still 002 whatever the header.
  const res = await s.app.inject({ method: 'POST', url: `/${DEACTIVATE}`, headers: { 'content-type': 'application/vnd.api+json', 'x-mfa-code': long }, payload: { data: { type: DEACTIVATE, attributes: PASSKEY } } })
  expectError(t, res, 403, '002')
})

test('the stored passkey is sealed to its principal and type; a tampered one never passes', async (t) => {
  const repository = memoryRepository()
  const s = await setup(t, { repository })
  await s.enrol()
  const { inspectMemory } = await import('../lib/repositories/memory.js')
  const record = inspectMemory(repository).records.get('customer-1')?.get('passkey')
  t.ok(record?.secret)
  t.notMatch(record?.secret as string, new RegExp(s.authenticator.id), 'the credential id is not readable in the store')
  const options = await s.challenge()
  record!.secret = `${record!.secret as string}x`
  expectError(t, await s.carts(header(s.authenticator.assert(options))), 403, '5901')
  // Without a readable passkey, a trigger still answers a challenge (with no credential to name).
  t.same((await s.challenge()).allowCredentials, [])
})

test('an assertion naming another credential id is refused, even signed by the registered key', async (t) => {
  const s = await setup(t)
  await s.enrol()
  const signed = s.authenticator.assert(await s.challenge())
  const other = Buffer.from('another credential').toString('base64url')
  expectError(t, await s.carts(header({ ...signed, id: other, rawId: other })), 403, '5901')
})

test('decodeResponse and encodeResponse: base64url JSON objects only', async (t) => {
  t.equal(decodeResponse(`{}${encodeResponse({ id: 'x' })}`), null, 'base64url from its first character')
  t.same(decodeResponse(encodeResponse({ id: 'x' })), { id: 'x' })
  t.same(decodeResponse('e30='), {}, 'padding tolerated')
  for (const code of ['', '***', '=', 'e30===', 'e3=0', Buffer.from('[]').toString('base64url'), Buffer.from('"s"').toString('base64url'), Buffer.from('{').toString('base64url')]) {
    t.equal(decodeResponse(code), null, JSON.stringify(code))
  }
})

test('the passkey kind on its own: the user name, a type enabled meanwhile, a passkey that cannot be read', async (t) => {
  const { passkeyKind } = await import('../lib/providers/passkey.js')
  const { MatchedCodes } = await import('../lib/codes.js')
  const repository = memoryRepository()
  const factor = passkeyKind.create(passkeyProvider({ rpName: 'Shop', rpID: RP_ID, origin: ORIGIN }), {
    repository, keys: new CodeKeys(CODE_SECRET), matched: new MatchedCodes(), codeLength: 6, codeTtl: 1, maxAttempts: 3, resendCooldown: 0, clock: Date.now, emit: () => {}
  })
  const log = undefined as never
  const started = await factor.start({ log, principal: { id: 'p', email: 'ann@shop.example' }, record: null, now: 0 })
  t.match(started?.provisioning?.options, { user: { name: 'ann@shop.example', displayName: 'ann@shop.example' } }, 'the email, when the principal has one')
  const noEmail = await factor.start({ log, principal: { id: 'p', email: '' }, record: null, now: 0 })
  t.match(noEmail?.provisioning?.options, { user: { name: 'p' } }, 'else the id')
  const record = await repository.getType('p', 'passkey')
  t.equal(await repository.acceptCode('p', 'passkey', { challenge: record?.code?.hash as string, secret: 'x' }, { now: 0, maxAttempts: 3, requireStatus: 1, enable: true, tokenId: null }), 'accepted')
  t.equal(await factor.start({ log, principal: { id: 'p' }, record: null, now: 0 }), null, 'enabled meanwhile: nothing started')
  // An enabled record without a readable passkey (no secret at all): nothing proves.
  const enabled = { type: 'passkey', status: 2 as const, code: { hash: 'h', expiresAt: 10, attempts: 0, verified: false }, lastSentAt: null, secret: null, lastStep: null }
  t.equal(await factor.prove('p', enabled, encodeResponse({ id: 'x' }), 0), null)
  t.equal(factor.countsAttempts(enabled), true, 'a wrong response counts against the challenge')
  t.equal(factor.countsAttempts({ ...enabled, code: null }), false, 'nothing to count against without one')
})

test('the passkey kind proves on its own what the store checks again: expiry, attempts, the counter', async (t) => {
  const { passkeyKind } = await import('../lib/providers/passkey.js')
  const { MatchedCodes } = await import('../lib/codes.js')
  const repository = memoryRepository()
  const keys = new CodeKeys(CODE_SECRET)
  const emitted: string[] = []
  const factor = passkeyKind.create(passkeyProvider({ rpName: 'Shop', rpID: RP_ID, origin: ORIGIN }), {
    repository, keys, matched: new MatchedCodes(), codeLength: 6, codeTtl: 1, maxAttempts: 3, resendCooldown: 0, clock: Date.now, emit: (_log, name) => { emitted.push(name) }
  })
  const log = undefined as never
  const NOW = 1_000_000
  const started = await factor.start({ log, principal: { id: 'p' }, record: null, now: NOW })
  t.equal(started?.delivery, 'none', 'nothing is sent')
  const options = started?.provisioning?.options as { challenge: string, user: { id: string } }
  t.equal(options.user.id, Buffer.from(keys.hash('p', 'passkey', 'user-handle'), 'hex').toString('base64url'), 'the user handle: the bytes of the code HMAC of "user-handle"')
  const pending = await repository.getType('p', 'passkey')
  if (pending?.code == null) throw new Error('no challenge stored')
  t.equal(pending.code.expiresAt, NOW + 300_000, 'the challenge lives challengeTtl')
  const authenticator = new SoftAuthenticator(RP_ID, ORIGIN)
  const registration = header(authenticator.register(options))
  const at = (fields: Partial<NonNullable<typeof pending.code>>): typeof pending => ({ ...pending, code: { ...pending.code!, ...fields } })
  t.equal(await factor.prove('p', pending, registration, NOW + 300_000), null, 'expired')
  t.equal(await factor.prove('p', at({ attempts: 3 }), registration, NOW), null, 'blocked at maxAttempts')
  t.match(await factor.prove('p', at({ attempts: 2 }), registration, NOW + 299_999), { challenge: pending.code.hash }, 'one attempt left, 1 ms before expiry')
  const proof = await factor.prove('p', pending, registration, NOW)
  if (proof === null || !('challenge' in proof)) throw new Error('not proven')
  t.equal(await repository.acceptCode('p', 'passkey', proof, { now: NOW, maxAttempts: 3, requireStatus: 1, enable: true, tokenId: null }), 'accepted')

  // Authentication: counter 5, then 3 (a clone) checked without a caller to tell: refused, no event.
  const sign = async (counter: number): Promise<{ proof: Awaited<ReturnType<typeof factor.prove>>, record: NonNullable<typeof pending> }> => {
    const enabled = await repository.getType('p', 'passkey')
    const shown = await factor.resend({ log, principal: { id: 'p' }, record: enabled!, now: NOW })
    if (typeof shown === 'string') throw new Error('nothing shown')
    const record = await repository.getType('p', 'passkey')
    return { proof: await factor.prove('p', record!, header(authenticator.assert(shown.provisioning.options as { challenge: string }, { counter })), NOW), record: record! }
  }
  const five = await sign(5)
  t.ok(five.proof)
  t.equal(await repository.acceptCode('p', 'passkey', five.proof!, { now: NOW, maxAttempts: 3, requireStatus: 2, enable: false, tokenId: null }), 'accepted')
  t.equal((await sign(3)).proof, null, 'a counter going backwards')
  t.same(emitted, [], 'no caller given, no event')
})

test('a store failing in the middle: trigger and a passkey step-up answer 500, nothing is half-written, the assertion still passes once afterwards', async (t) => {
  const inner = memoryRepository()
  const faulty = { ...inner }
  const s = await setup(t, { repository: faulty })
  await s.enrol()
  const fail = async (): Promise<never> => { throw new Error('store down') }
  faulty.storeCode = fail
  expectError(t, await post(s.app, TRIGGER, s.bearer, PASSKEY), 500, undefined, 'Internal server error.')
  faulty.storeCode = inner.storeCode
  const signed = await s.assertion()
  faulty.acceptCode = fail
  expectError(t, await s.carts(signed), 500, undefined, 'Internal server error.')
  expectError(t, await post(s.app, DEACTIVATE, s.bearer, { ...PASSKEY, code: signed }), 500, '5903')
  faulty.acceptCode = inner.acceptCode
  t.same(statuses(await list(s.app, s.bearer)), { passkey: 2, email: 0 }, 'still enabled')
  t.equal((await s.carts(signed)).statusCode, 200, 'the challenge was not used by the failed requests')
  expectError(t, await s.carts(signed), 403, '5901')
})
