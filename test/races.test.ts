import { test } from 'tap'
import { generateSync } from 'otplib'
import { emailProvider, memoryRepository, totpProvider, type MfaRepository } from '../lib/index.js'
import { buildApp, expectError, post, type TestApp } from './helpers.js'
import { inspectMemory } from '../lib/repositories/memory.js'

// What a request answers when another request changed the state between its read and its
// atomic write: the answer a serial order would give. Each race is forced by a repository
// whose atomic operation reports that the other request won.

async function enabledEmail (repository: MfaRepository): Promise<TestApp & { tok: string, code: string }> {
  const s = await buildApp({ repository })
  const tok = s.token()
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  await post(s.app, 'multi-factor-auth-type-verify', tok, { code: s.outbox.last() })
  return { ...s, tok, code: s.outbox.last() }
}

test('deactivate losing to another deactivate answers 5906', async (t) => {
  const inner = memoryRepository()
  const raced = { ...inner }
  const s = await enabledEmail(raced)
  t.teardown(() => s.app.close())
  s.clock.advance(30_000)
  await post(s.app, 'multi-factor-auth-trigger', s.tok)
  const fresh = s.outbox.last()
  raced.acceptCode = async () => 'status-changed'
  expectError(t, await post(s.app, 'multi-factor-auth-type-deactivate', s.tok, { code: fresh }), 400, '5906')
  raced.acceptCode = inner.acceptCode
  raced.disable = async () => false
  expectError(t, await post(s.app, 'multi-factor-auth-type-deactivate', s.tok, { code: fresh }), 400, '5906')
})

test('TOTP activation losing to a verify answers 5904', async (t) => {
  const inner = memoryRepository()
  const s = await buildApp({ repository: { ...inner, beginActivation: async () => false }, providers: [totpProvider({ issuer: 'Race' })] })
  t.teardown(() => s.app.close())
  expectError(t, await post(s.app, 'multi-factor-auth-type-activate', s.token(), { type: 'totp' }), 400, '5904')
})

test('a sealed TOTP secret that is missing or tampered with never verifies', async (t) => {
  const s = await buildApp({ providers: [emailProvider({ send: async (m) => { await s.outbox.send(m) } }), totpProvider({ issuer: 'Tamper' })], protectedResources: ['carts'] }, (app) => {
    app.post('/carts', async () => ({ ok: true }))
  })
  t.teardown(() => s.app.close())
  const tok = s.token()
  const res = await post(s.app, 'multi-factor-auth-type-activate', tok, { type: 'totp' })
  const secret: string = res.json().data.attributes.secret
  const codeAt = (offset: number): string => generateSync({ secret, epoch: Math.floor((s.clock.now + offset) / 1000) })
  t.equal((await post(s.app, 'multi-factor-auth-type-verify', tok, { type: 'totp', code: codeAt(0) })).statusCode, 204)
  const record = inspectMemory(s.repository).records.get('customer-1')?.get('totp')
  if (record === undefined) throw new Error('no record')
  const sealed = record.secret
  record.secret = `${sealed?.slice(0, -2) ?? ''}AA`
  const cart = async (code: string): Promise<number> => (await s.app.inject({ method: 'POST', url: '/carts', headers: { authorization: `Bearer ${tok}`, 'x-mfa-code': code } })).statusCode
  t.equal(await cart(codeAt(30_000)), 403, 'a tampered secret does not open')
  record.secret = null
  t.equal(await cart(codeAt(30_000)), 403, 'a missing secret matches nothing')
  record.secret = sealed
  t.equal(await cart(codeAt(30_000)), 200, 'the intact secret works')
})

test('verify losing to another verify answers 5904', async (t) => {
  const inner = memoryRepository()
  const s = await buildApp({ repository: { ...inner, acceptCode: async () => 'status-changed' } })
  t.teardown(() => s.app.close())
  const tok = s.token()
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  expectError(t, await post(s.app, 'multi-factor-auth-type-verify', tok, { code: s.outbox.last() }), 400, '5904')
})

test('step-up losing its only enabled type to a deactivation answers 5901, counted', async (t) => {
  const inner = memoryRepository()
  const raced = { ...inner }
  const s = await buildApp({ repository: raced, protectedResources: ['carts'] }, (app) => { app.post('/carts', async () => ({ ok: true })) })
  t.teardown(() => s.app.close())
  const tok = s.token()
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  await post(s.app, 'multi-factor-auth-type-verify', tok, { code: s.outbox.last() })
  raced.acceptCode = async () => 'status-changed'
  const res = await s.app.inject({ method: 'POST', url: '/carts', headers: { authorization: `Bearer ${tok}`, 'x-mfa-code': s.outbox.last() } })
  expectError(t, res, 403, '5901')
  t.same(s.events.filter((e) => e.name.startsWith('stepup.')).map((e) => e.name), ['stepup.denied'])
})

test('a verify refused by a lock that a concurrent verify caused answers 5904 once the type is enabled', async (t) => {
  const inner = memoryRepository()
  const raced: MfaRepository = { ...inner }
  const s = await buildApp({ repository: raced })
  t.teardown(() => s.app.close())
  const tok = s.token()
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  const code = s.outbox.last()
  // The other verify is in flight: this one's admission is refused, and by the time it looks
  // again, the other has enabled the type.
  raced.admit = async (principalId) => {
    await inner.acceptCode(principalId, 'email', { hash: (await inner.getType(principalId, 'email'))?.code?.hash as string }, { now: s.clock.now, maxAttempts: 3, requireStatus: 1, enable: true, tokenId: null })
    return { admitted: false, lockedUntil: s.clock.now + 1000 }
  }
  expectError(t, await post(s.app, 'multi-factor-auth-type-verify', tok, { code }), 400, '5904')
  t.same(s.events.filter((e) => e.name === 'code.locked_out'), [], 'not a lockout: the serial order puts it after the enable')
  raced.admit = async () => ({ admitted: false, lockedUntil: s.clock.now + 1000 })
  const other = s.token('customer-2')
  await post(s.app, 'multi-factor-auth-type-activate', other)
  expectError(t, await post(s.app, 'multi-factor-auth-type-verify', other, { code: s.outbox.last('customer-2') }), 403, '5901')
  t.equal(s.events.filter((e) => e.name === 'code.locked_out').length, 1, 'still pending: a lockout')
})

test('a code of another type losing its status is a wrong code: only the named type losing its own answers as after it', async (t) => {
  const { recoveryCodesProvider } = await import('../lib/index.js')
  const inner = memoryRepository()
  const raced: MfaRepository = { ...inner }
  const s = await buildApp({ repository: raced, providers: [emailProvider({ send: async (m) => { await s.outbox.send(m) } }), recoveryCodesProvider({ count: 3 })], protectedResources: ['carts'] }, (app) => {
    app.post('/carts', async () => ({ ok: true }))
  })
  t.teardown(() => s.app.close())
  const tok = s.token()
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  await post(s.app, 'multi-factor-auth-type-verify', tok, { code: s.outbox.last() })
  const codes: string[] = (await post(s.app, 'multi-factor-auth-type-activate', tok, { type: 'recovery-codes', code: s.outbox.last() })).json().data.attributes.codes
  t.equal((await post(s.app, 'multi-factor-auth-type-verify', tok, { type: 'recovery-codes', code: codes[0] })).statusCode, 204)
  // The recovery codes were disabled by a concurrent request between the read and the accept.
  raced.acceptCode = async (principalId, type, proof, options) => type === 'recovery-codes' ? 'status-changed' : await inner.acceptCode(principalId, type, proof, options)
  const before = s.events.length
  expectError(t, await post(s.app, 'multi-factor-auth-type-deactivate', tok, { code: codes[1] }), 403, '5901', 'X-MFA-Code is invalid.')
  t.same(s.events.slice(before).map((e) => e.name), ['code.rejected'], 'deactivating email with it: email is still enabled, so the code was wrong')
  const stepUp = s.events.length
  const res = await s.app.inject({ method: 'POST', url: '/carts', headers: { authorization: `Bearer ${tok}`, 'x-mfa-code': codes[1] } })
  expectError(t, res, 403, '5901')
  t.same(s.events.slice(stepUp).map((e) => e.name), ['code.rejected', 'stepup.denied'], 'a step-up with it: compared and wrong, counted')
})
