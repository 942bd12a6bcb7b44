import { createDecipheriv, createHmac, hkdfSync } from 'node:crypto'
import { test } from 'tap'
import { CodeKeys, generateCode, sameHash } from '../lib/codes.js'
import { emailProvider } from '../lib/index.js'
import { buildApp, CODE_SECRET, expectError, list, Outbox, post, statuses } from './helpers.js'
import { inspectMemory } from '../lib/repositories/memory.js'

const ACTIVATE = 'multi-factor-auth-type-activate'
const VERIFY = 'multi-factor-auth-type-verify'
const TRIGGER = 'multi-factor-auth-trigger'

test('codes: codeLength digits from the CSPRNG, never a leading zero', async (t) => {
  const codes = Array.from({ length: 2000 }, () => generateCode(6))
  t.same(codes.filter((code) => !/^[1-9]\d{5}$/.test(code)), [], 'all six digits, first non-zero')
  const seen = new Set(codes)
  t.ok(seen.size > 1990, 'no visible repetition')
  t.match(generateCode(12), /^[1-9]\d{11}$/)
  const leading = new Set([...seen].map((c) => c[0]))
  t.equal(leading.size, 9, 'every first digit 1-9 occurs')
})

test('hashes are keyed, bound to principal and type, compared in constant time', async (t) => {
  const keys = new CodeKeys(CODE_SECRET)
  const other = new CodeKeys(Buffer.from(CODE_SECRET.split('').reverse().join('')))
  const h = keys.hash('a', 'email', '123456')
  t.match(h, /^[0-9a-f]{64}$/)
  t.not(h, other.hash('a', 'email', '123456'), 'another codeSecret, another hash')
  t.not(h, keys.hash('b', 'email', '123456'))
  t.not(h, keys.hash('a', 'sms', '123456'))
  t.not(keys.hash('a\0email', '', '1'), keys.hash('a', 'email\0', '1'), 'separators do not collide')
  t.ok(sameHash(h, keys.hash('a', 'email', '123456')))
  t.notOk(sameHash(h, h.slice(0, 62)), 'different lengths are simply unequal')
  const sealed = keys.seal('a', 'totp', 'JBSWY3DPEHPK3PXP')
  t.equal(keys.open('a', 'totp', sealed), 'JBSWY3DPEHPK3PXP')
  t.equal(keys.open('b', 'totp', sealed), null, 'a sealed secret moved to another principal does not open')
  t.equal(other.open('a', 'totp', sealed), null, 'nor under another key')
  t.equal(keys.open('a', 'totp', 'garbage'), null)
})

test('the two keys are HKDF-SHA256 of codeSecret with their own labels: changing one orphans every stored code or secret', async (t) => {
  for (const codeSecret of [CODE_SECRET, Buffer.from(CODE_SECRET, 'utf8')]) {
    const ikm = Buffer.from(codeSecret)
    const key = (label: string): Buffer => Buffer.from(hkdfSync('sha256', ikm, 'fastify-glue-mfa', label, 32))
    const keys = new CodeKeys(codeSecret)
    const expected = createHmac('sha256', key('code-hmac')).update(JSON.stringify(['a', 'email', '123456'])).digest('hex')
    t.equal(keys.hash('a', 'email', '123456'), expected, 'code HMAC key: salt "fastify-glue-mfa", info "code-hmac"')
    const [iv, tag, body] = keys.seal('a', 'totp', 'JBSWY3DPEHPK3PXP').split('.').map((part) => Buffer.from(part, 'base64url'))
    const decipher = createDecipheriv('aes-256-gcm', key('secret-aes-256-gcm'), iv)
    decipher.setAAD(Buffer.from(JSON.stringify(['a', 'totp'])))
    decipher.setAuthTag(tag)
    t.equal(Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8'), 'JBSWY3DPEHPK3PXP', 'sealing key: info "secret-aes-256-gcm"')
  }
})

test('expiry at codeTtl: just before passes, at and after fails', async (t) => {
  for (const [offset, ok] of [[-1, true], [0, false], [1, false]] as const) {
    const s = await buildApp({ codeTtl: 60_000 })
    const tok = s.token()
    await post(s.app, ACTIVATE, tok)
    s.clock.advance(60_000 + offset)
    const res = await post(s.app, VERIFY, tok, { code: s.outbox.last() })
    t.equal(res.statusCode, ok ? 204 : 403, `ttl ${offset >= 0 ? '+' : ''}${offset} ms`)
    await s.app.close()
  }
})

test('a used code (grace reuse) expires at codeTtl too: step-up and deactivation refuse it from then on', async (t) => {
  for (const [offset, ok] of [[-1, true], [0, false], [1, false]] as const) {
    const s = await buildApp({ codeTtl: 60_000, protectedResources: ['carts'] }, (app) => { app.post('/carts', async () => ({ created: true })) })
    const tok = s.token()
    await post(s.app, ACTIVATE, tok)
    const code = s.outbox.last()
    t.equal((await post(s.app, VERIFY, tok, { code })).statusCode, 204)
    s.clock.advance(60_000 + offset)
    const cart = await s.app.inject({ method: 'POST', url: '/carts', headers: { authorization: `Bearer ${tok}`, 'x-mfa-code': code } })
    const label = `ttl ${offset >= 0 ? '+' : ''}${offset} ms`
    t.equal(cart.statusCode, ok ? 200 : 403, `step-up, ${label}`)
    const deactivated = await post(s.app, 'multi-factor-auth-type-deactivate', tok, { code })
    t.equal(deactivated.statusCode, ok ? 204 : 403, `deactivation, ${label}`)
    t.same(statuses(await list(s.app, tok)), { email: ok ? 0 : 2 })
    await s.app.close()
  }
})

test('after maxAttempts wrong codes the code is blocked, even for the right value', async (t) => {
  const s = await buildApp({ maxAttempts: 3 })
  t.teardown(() => s.app.close())
  const tok = s.token()
  await post(s.app, ACTIVATE, tok)
  const code = s.outbox.last()
  for (let i = 0; i < 3; i++) expectError(t, await post(s.app, VERIFY, tok, { code: String(100000 + i) === code ? '1' : String(100000 + i) }), 403, '5901')
  expectError(t, await post(s.app, VERIFY, tok, { code }), 403, '5901', 'X-MFA-Code is invalid.')
  t.same(s.events.filter((e) => e.name === 'code.blocked').length, 1, 'one code.blocked event')
  t.same(statuses(await list(s.app, tok)), { email: 1 })
  s.clock.advance(30_000)
  await post(s.app, ACTIVATE, tok)
  t.equal((await post(s.app, VERIFY, tok, { code: s.outbox.last() })).statusCode, 204, 'a new code starts a new count')
})

test('principalLockout: failures across codes lock every check for `duration`', async (t) => {
  const s = await buildApp({ principalLockout: { failures: 4, duration: 60_000 }, maxAttempts: 10, providers: [emailProvider({ send: (m) => { s.outbox.messages.push(m) } }), emailProvider({ type: 'sms', send: (m) => { s.outbox.messages.push(m) } })] })
  t.teardown(() => s.app.close())
  const tok = s.token()
  await post(s.app, ACTIVATE, tok)
  const email = s.outbox.last()
  await post(s.app, ACTIVATE, tok, { type: 'sms' })
  const sms = s.outbox.last()
  for (let i = 0; i < 2; i++) await post(s.app, VERIFY, tok, { code: '1' })
  for (let i = 0; i < 2; i++) await post(s.app, VERIFY, tok, { type: 'sms', code: '1' })
  t.equal(s.events.filter((e) => e.name === 'principal.locked').length, 1, 'locked after 4 failures over two types')
  expectError(t, await post(s.app, VERIFY, tok, { code: email }), 403, '5901')
  expectError(t, await post(s.app, VERIFY, tok, { type: 'sms', code: sms }), 403, '5901')
  t.equal((await s.repository.getType('customer-1', 'email'))?.code?.attempts, 2, 'checks during the lockout are not counted again')
  const other = s.token('customer-2')
  await post(s.app, ACTIVATE, other)
  t.equal((await post(s.app, VERIFY, other, { code: s.outbox.last('customer-2') })).statusCode, 204, 'another principal is not locked')
  s.clock.advance(59_999)
  expectError(t, await post(s.app, VERIFY, tok, { code: email }), 403, '5901')
  s.clock.advance(1)
  t.equal((await post(s.app, VERIFY, tok, { code: email })).statusCode, 204)
  t.same(statuses(await list(s.app, tok)), { email: 2, sms: 1 }, 'lifted after the lock')
  t.same(s.events.filter((e) => e.name === 'code.rejected').length, 4, 'code.rejected: the four compared and wrong')
  t.same(s.events.filter((e) => e.name === 'code.locked_out').map((e) => e.type), ['email', 'sms', 'email'], 'code.locked_out: refused unread, with the type asked for')
})

test('principalLockout escalates: failures count until a code is accepted, each lock after the first doubles, up to maxDuration', async (t) => {
  const s = await buildApp({ principalLockout: { failures: 3, duration: 60_000, maxDuration: 200_000 }, maxAttempts: 100, codeTtl: 24 * 3_600_000 })
  t.teardown(() => s.app.close())
  const tok = s.token()
  const wrong = async (): Promise<void> => { expectError(t, await post(s.app, VERIFY, tok, { code: '1' }), 403, '5901') }
  const locks = (): number => s.events.filter((e) => e.name === 'principal.locked').length
  await post(s.app, ACTIVATE, tok)
  const code = s.outbox.last()
  await wrong()
  await wrong()
  s.clock.advance(12 * 3_600_000)
  await wrong()
  t.equal(locks(), 1, 'time alone forgives nothing: the third failure hours later locks')
  const rightWhileLocked = async (ms: number, label: string): Promise<void> => {
    s.clock.advance(ms)
    const res = await post(s.app, VERIFY, tok, { code })
    t.equal(`${res.statusCode} ${res.json().errors[0].code}`, '403 5901', label)
  }
  await rightWhileLocked(59_999, 'the first lock lasts duration')
  s.clock.advance(1)
  await wrong()
  t.equal(locks(), 2, 'one failure after a lock locks again')
  await rightWhileLocked(119_999, 'the second lock lasts twice as long')
  s.clock.advance(1)
  await wrong()
  await rightWhileLocked(199_999, 'the third lock would be 240 s: it stops at maxDuration')
  s.clock.advance(1)
  const rejected = s.events.filter((e) => e.name === 'code.rejected').length
  t.equal((await post(s.app, VERIFY, tok, { code })).statusCode, 204, 'the right code after the lock')
  t.equal(rejected, 5, 'five wrong codes compared')
  t.equal(s.events.filter((e) => e.name === 'code.locked_out').length, 3, 'three right codes refused unread')

  // An accepted code resets the count and the level: three more failures for a first lock again.
  const DEACTIVATE = 'multi-factor-auth-type-deactivate'
  for (let i = 0; i < 2; i++) expectError(t, await post(s.app, DEACTIVATE, tok, { code: '1' }), 403, '5901')
  t.equal(locks(), 3)
  expectError(t, await post(s.app, DEACTIVATE, tok, { code: '1' }), 403, '5901')
  t.equal(locks(), 4)
  s.clock.advance(60_000)
  t.equal((await post(s.app, DEACTIVATE, tok, { code })).statusCode, 204, 'the first lock again: 60 s')
})

test('resendCooldown: 5911 with Retry-After, per principal and type', async (t) => {
  const outbox = new Outbox()
  const s = await buildApp({ resendCooldown: 45_000, providers: [emailProvider({ send: outbox.send }), emailProvider({ type: 'sms', send: outbox.send })] })
  t.teardown(() => s.app.close())
  const tok = s.token()
  t.equal((await post(s.app, ACTIVATE, tok)).statusCode, 204)
  s.clock.advance(10_500)
  const res = await post(s.app, ACTIVATE, tok)
  expectError(t, res, 429, '5911', 'Too many codes requested. Try again later.')
  t.equal(res.headers['retry-after'], '35', 'seconds left, rounded up')
  t.equal((await post(s.app, ACTIVATE, tok, { type: 'sms' })).statusCode, 204, 'another type has its own slot')
  t.equal((await post(s.app, ACTIVATE, s.token('customer-2'))).statusCode, 204, 'another principal has its own slot')
  s.clock.advance(34_499)
  expectError(t, await post(s.app, ACTIVATE, tok), 429, '5911')
  s.clock.advance(1)
  t.equal((await post(s.app, ACTIVATE, tok)).statusCode, 204, 'free once the cooldown has passed')
  await post(s.app, VERIFY, tok, { code: outbox.last('customer-1') })
  expectError(t, await post(s.app, TRIGGER, tok), 429, '5911') // trigger shares the slot
  t.equal(outbox.messages.length, 4)
})

test('a code of principal A never works for B; a code of one type never verifies another', async (t) => {
  const outbox = new Outbox()
  const s = await buildApp({ providers: [emailProvider({ send: outbox.send }), emailProvider({ type: 'sms', send: outbox.send })] })
  t.teardown(() => s.app.close())
  const a = s.token('a')
  const b = s.token('b')
  await post(s.app, ACTIVATE, a)
  await post(s.app, ACTIVATE, b)
  const codeA = outbox.last('a')
  expectError(t, await post(s.app, VERIFY, b, { code: codeA }), 403, '5901')
  await post(s.app, ACTIVATE, a, { type: 'sms' })
  expectError(t, await post(s.app, VERIFY, a, { type: 'sms', code: codeA }), 403, '5901')
  t.equal((await post(s.app, VERIFY, a, { code: codeA })).statusCode, 204)
})

test('the repository never holds a plain code', async (t) => {
  const s = await buildApp()
  t.teardown(() => s.app.close())
  const tok = s.token()
  await post(s.app, ACTIVATE, tok)
  await post(s.app, VERIFY, tok, { code: s.outbox.last() })
  s.clock.advance(30_000)
  await post(s.app, TRIGGER, tok)
  const stored = JSON.stringify([...inspectMemory(s.repository).records.values()].map((m) => [...m.values()]))
  for (const { code } of s.outbox.messages) t.notOk(stored.includes(code), 'no plain code stored')
  t.match(stored, /"hash":"[0-9a-f]{64}"/)
})

test('MatchedCodes: only what was added, at most `size` pairs, oldest out first', async (t) => {
  const { MatchedCodes } = await import('../lib/codes.js')
  const matched = new MatchedCodes(2)
  t.notOk(matched.has('h1', '123456'))
  matched.add('h1', '123456')
  matched.add('h2', '654321')
  t.ok(matched.has('h1', '123456'))
  t.notOk(matched.has('h1', '654321'), 'a pair, not a code alone')
  matched.add('h3', '111111')
  t.notOk(matched.has('h1', '123456'), 'the oldest left')
  t.ok(matched.has('h2', '654321') && matched.has('h3', '111111'))
})
