import { test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { generateSync, ScureBase32Plugin } from 'otplib'
import { emailProvider, type GlueMfaOptions } from '../lib/index.js'
import { totpProvider } from '../lib/providers/totp.js'
import { buildApp, list, Outbox, post, statuses, type TestApp } from './helpers.js'
import { inspectMemory } from '../lib/repositories/memory.js'

const STEP = 30_000
const ACTIVATE = 'multi-factor-auth-type-activate'
const VERIFY = 'multi-factor-auth-type-verify'
const DEACTIVATE = 'multi-factor-auth-type-deactivate'
const TRIGGER = 'multi-factor-auth-trigger'

/** What an authenticator app shows at `ms`. */
function codeAt (secret: string, ms: number): string {
  return generateSync({ secret, epoch: Math.floor(ms / 1000) })
}

/** A 6-digit code that none of the steps around `ms` (±`spread`) produces. */
function wrongCode (secret: string, ms: number, spread = 3): string {
  const taken = new Set<string>()
  for (let s = -spread; s <= spread; s++) taken.add(codeAt(secret, ms + s * STEP))
  let n = Number(codeAt(secret, ms))
  let code: string
  do {
    n = (n + 1) % 1_000_000
    code = String(n).padStart(6, '0')
  } while (taken.has(code))
  return code
}

/** True when `code` differs from every code of `secret` in the ±1 window around `at` (no chance collision). */
function distinct (secret: string, code: string, at: number): boolean {
  return [-1, 0, 1].every((s) => codeAt(secret, at + s * STEP) !== code)
}

interface Setup extends TestApp {
  mail: Outbox
}

async function setup (overrides: Partial<GlueMfaOptions> = {}): Promise<Setup> {
  const mail = new Outbox()
  const built = await buildApp({
    providers: [emailProvider({ send: mail.send }), totpProvider({ issuer: 'Test' })],
    protectedResources: ['carts'],
    ...overrides
  }, (app) => {
    app.post('/carts', async () => ({ ok: true }))
  })
  return { ...built, mail }
}

async function cart (ctx: Setup, sub: string, code?: string): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { authorization: `Bearer ${ctx.token(sub)}` }
  if (code !== undefined) headers['x-mfa-code'] = code
  return await ctx.app.inject({ method: 'POST', url: '/carts', headers, payload: {} })
}

function glueCode (res: LightMyRequestResponse): string | undefined {
  return res.json().errors?.[0]?.code
}

/** Activates totp for `sub` and returns the secret from the 201 answer. */
async function activateTotp (ctx: Setup, sub: string, code?: string): Promise<string> {
  const res = await post(ctx.app, ACTIVATE, ctx.token(sub), { type: 'totp', code })
  if (res.statusCode !== 201) throw new Error(`activate answered ${res.statusCode}: ${res.body}`)
  return res.json().data.attributes.secret
}

/** Activates and verifies totp for `sub` at the current clock; the current step is then used. */
async function enableTotp (ctx: Setup, sub: string, code?: string): Promise<string> {
  const secret = await activateTotp(ctx, sub, code)
  const res = await post(ctx.app, VERIFY, ctx.token(sub), { type: 'totp', code: codeAt(secret, ctx.clock.now) })
  if (res.statusCode !== 204) throw new Error(`verify answered ${res.statusCode}: ${res.body}`)
  return secret
}

test('totp lifecycle: activate (201), verify, step-up, replay, trigger, deactivate', async (t) => {
  const ctx = await setup()
  t.teardown(() => ctx.app.close())
  const { app, clock, repository } = ctx
  const token = ctx.token('alice')

  t.same(statuses(await list(app, token)), { email: 0, totp: 0 })

  const activated = await post(app, ACTIVATE, token, { type: 'totp' })
  t.equal(activated.statusCode, 201)
  t.match(activated.headers['content-type'], /^application\/vnd\.api\+json/)
  const { data } = activated.json()
  t.equal(data.type, ACTIVATE)
  t.equal(data.id, 'totp')
  t.same(Object.keys(data.attributes).sort(), ['otpauthUri', 'secret', 'type'])
  t.equal(data.attributes.type, 'totp')
  const secret: string = data.attributes.secret
  t.match(secret, /^[A-Z2-7]{32}$/)
  t.equal(data.attributes.otpauthUri,
    `otpauth://totp/Test:alice?secret=${secret}&issuer=Test&algorithm=SHA1&digits=6&period=30`)
  t.same(statuses(await list(app, token)), { email: 0, totp: 1 }, 'pending')
  t.ok(ctx.events.some((e) => e.name === 'type.pending' && e.type === 'totp'))

  t.equal((await cart(ctx, 'alice')).statusCode, 200, 'a pending type needs no code')
  const triggerPending = await post(app, TRIGGER, token, { type: 'totp' })
  t.equal(glueCode(triggerPending), '5906', 'trigger on a pending totp')

  const verifyCode = codeAt(secret, clock.now)
  const verified = await post(app, VERIFY, token, { type: 'totp', code: verifyCode })
  t.equal(verified.statusCode, 204)
  t.same(statuses(await list(app, token)), { email: 0, totp: 2 }, 'enabled')
  const stored = inspectMemory(repository).records.get('alice')?.get('totp')
  t.equal(stored?.lastStep, Math.floor(clock.now / STEP), 'the verifying step is stored')

  t.equal(glueCode(await cart(ctx, 'alice')), '5900', 'enabled: no code')
  t.equal(glueCode(await cart(ctx, 'alice', verifyCode)), '5901', 'the verifying code is spent: no grace reuse')
  t.equal(glueCode(await post(app, VERIFY, token, { type: 'totp', code: verifyCode })), '5904', 'verify on enabled')
  t.equal(glueCode(await post(app, ACTIVATE, token, { type: 'totp' })), '5904', 'activate on enabled')

  clock.advance(STEP)
  const fresh = codeAt(secret, clock.now)
  t.equal((await cart(ctx, 'alice', fresh)).statusCode, 200, 'a code of the next step passes')
  const replay = await cart(ctx, 'alice', fresh)
  t.equal(replay.statusCode, 403)
  t.same(replay.json(), { errors: [{ code: '5901', status: 403, detail: 'X-MFA-Code is invalid.' }] }, 'replay')

  const sentBefore = ctx.mail.messages.length
  const eventsBefore = ctx.events.length
  const triggered = await post(app, TRIGGER, token, { type: 'totp' })
  t.equal(triggered.statusCode, 204, 'trigger on enabled totp')
  t.equal(triggered.body, '')
  t.equal(ctx.mail.messages.length, sentBefore, 'nothing sent')
  t.notOk(ctx.events.slice(eventsBefore).some((e) => e.name === 'code.sent'), 'no code.sent event')

  clock.advance(STEP)
  t.equal(glueCode(await post(app, DEACTIVATE, token, { type: 'totp' })), '5900', 'deactivate without a code')
  t.equal(glueCode(await post(app, DEACTIVATE, token, { type: 'totp', code: wrongCode(secret, clock.now) })), '5901', 'deactivate with a wrong code')
  t.equal(glueCode(await post(app, DEACTIVATE, token, { type: 'totp', code: fresh })), '5901', 'deactivate with a spent code')
  const deactivateCode = codeAt(secret, clock.now)
  t.equal((await post(app, DEACTIVATE, token, { type: 'totp', code: deactivateCode })).statusCode, 204, 'deactivate with a totp code')
  t.same(statuses(await list(app, token)), { email: 0, totp: 0 })
  const record = inspectMemory(repository).records.get('alice')?.get('totp')
  t.equal(record?.secret, null, 'the secret is deleted')
  t.equal(record?.lastStep, null)
  t.equal(record?.status, 0)
  t.ok(ctx.events.some((e) => e.name === 'type.disabled' && e.type === 'totp'))
  t.equal(glueCode(await post(app, DEACTIVATE, token, { type: 'totp', code: deactivateCode })), '5906', 'deactivate on disabled')
  t.equal((await cart(ctx, 'alice')).statusCode, 200, 'no enabled type: step-up passes without a code')

  const again = await activateTotp(ctx, 'alice')
  t.not(again, secret, 'reactivation creates a new secret')
})

test('the previous and the next step pass, two steps away do not', async (t) => {
  const ctx = await setup()
  t.teardown(() => ctx.app.close())
  const { clock } = ctx

  const previous = await enableTotp(ctx, 'prev')
  clock.advance(2 * STEP)
  t.equal((await cart(ctx, 'prev', codeAt(previous, clock.now - STEP))).statusCode, 200, 'previous step (client clock behind)')

  const next = await enableTotp(ctx, 'next')
  t.equal((await cart(ctx, 'next', codeAt(next, clock.now + STEP))).statusCode, 200, 'next step (client clock ahead)')
  t.equal(glueCode(await cart(ctx, 'next', codeAt(next, clock.now))), '5901',
    'after the next step was used, the current one is older than the last accepted step')

  const far = await enableTotp(ctx, 'far')
  clock.advance(3 * STEP)
  // Steps after the verifying one, so only the window (not replay protection) can refuse them.
  const twoBack = codeAt(far, clock.now - 2 * STEP)
  const twoAhead = codeAt(far, clock.now + 2 * STEP)
  if (distinct(far, twoBack, clock.now)) t.equal(glueCode(await cart(ctx, 'far', twoBack)), '5901', 'two steps back')
  if (distinct(far, twoAhead, clock.now)) t.equal(glueCode(await cart(ctx, 'far', twoAhead)), '5901', 'two steps ahead')
  t.equal((await cart(ctx, 'far', codeAt(far, clock.now))).statusCode, 200, 'the current step still passes')

  // The end of a step does not widen the window either.
  clock.advance(STEP - 1)
  const late = codeAt(far, clock.now + 2 * STEP)
  if (distinct(far, late, clock.now)) t.equal(glueCode(await cart(ctx, 'far', late)), '5901', 'two steps ahead at the end of a step')
})

test('activating again while pending replaces the secret', async (t) => {
  const ctx = await setup()
  t.teardown(() => ctx.app.close())
  const { app, clock } = ctx
  const token = ctx.token('bob')

  const first = await activateTotp(ctx, 'bob')
  const second = await activateTotp(ctx, 'bob')
  t.not(second, first)
  t.same(statuses(await list(app, token)), { email: 0, totp: 1 }, 'still pending')
  t.equal(ctx.events.filter((e) => e.name === 'type.pending').length, 1, 'one type.pending event')

  const old = codeAt(first, clock.now)
  if (distinct(second, old, clock.now)) {
    t.equal(glueCode(await post(app, VERIFY, token, { type: 'totp', code: old })), '5901', 'the old secret is gone')
  }
  t.equal((await post(app, VERIFY, token, { type: 'totp', code: codeAt(second, clock.now) })).statusCode, 204, 'the new secret verifies')
  clock.advance(STEP)
  const stale = codeAt(first, clock.now)
  if (distinct(second, stale, clock.now)) t.equal(glueCode(await cart(ctx, 'bob', stale)), '5901', 'nor steps up')
})

test('the stored secret is sealed: no encoding of it is in the store', async (t) => {
  const ctx = await setup()
  t.teardown(() => ctx.app.close())
  const secret = await activateTotp(ctx, 'carol')
  const sealed = inspectMemory(ctx.repository).records.get('carol')?.get('totp')?.secret
  t.type(sealed, 'string')
  const raw = Buffer.from(new ScureBase32Plugin().decode(secret))
  t.equal(raw.length, 20)
  const text = Buffer.from(secret, 'utf8')
  const forms: Record<string, string> = {
    base32: secret,
    'base32 lower-case': secret.toLowerCase(),
    'base32 as hex': text.toString('hex'),
    'base32 as base64': text.toString('base64'),
    'base32 as base64url': text.toString('base64url'),
    'raw bytes as hex': raw.toString('hex'),
    'raw bytes as base64': raw.toString('base64'),
    'raw bytes as base64url': raw.toString('base64url'),
    'raw bytes as latin1': raw.toString('latin1')
  }
  for (const [name, form] of Object.entries(forms)) {
    t.notOk((sealed as string).includes(form), `not the ${name}`)
    t.notOk((sealed as string).toLowerCase().includes(form.toLowerCase()), `not the ${name}, in any case`)
  }
  // Half the base32 string would already leak half the key.
  t.notOk((sealed as string).includes(secret.slice(0, 16)), 'no prefix of the base32 either')
  // It still works, so what is stored is the secret, sealed.
  t.equal((await post(ctx.app, VERIFY, ctx.token('carol'), { type: 'totp', code: codeAt(secret, ctx.clock.now) })).statusCode, 204)
})

test('two sessions racing one code: exactly one passes', async (t) => {
  const ctx = await setup()
  t.teardown(() => ctx.app.close())
  const secret = await enableTotp(ctx, 'dave')
  ctx.clock.advance(STEP)
  const code = codeAt(secret, ctx.clock.now)
  const answers = await Promise.all([cart(ctx, 'dave', code), cart(ctx, 'dave', code), cart(ctx, 'dave', code)])
  t.same(answers.map((r) => r.statusCode).sort(), [200, 403, 403])
})

test('email and totp both enabled: either passes step-up, deactivation needs its own type', async (t) => {
  const ctx = await setup()
  t.teardown(() => ctx.app.close())
  const { app, clock, mail } = ctx
  const token = ctx.token('erin')

  t.equal((await post(app, ACTIVATE, token, { type: 'email' })).statusCode, 204)
  const emailCode = mail.last('erin')
  t.equal((await post(app, VERIFY, token, { type: 'email', code: emailCode })).statusCode, 204)

  t.equal(glueCode(await post(app, ACTIVATE, token, { type: 'totp' })), '5900', 'adding totp needs a code of the enabled email')
  const secret = await enableTotp(ctx, 'erin', emailCode)
  t.same(statuses(await list(app, token)), { email: 2, totp: 2 })

  clock.advance(STEP)
  t.equal((await cart(ctx, 'erin', codeAt(secret, clock.now))).statusCode, 200, 'a totp code passes step-up')
  t.equal((await post(app, TRIGGER, token, { type: 'email' })).statusCode, 204)
  const emailCode2 = mail.last('erin')
  t.not(emailCode2, emailCode)
  t.equal((await cart(ctx, 'erin', emailCode2)).statusCode, 200, 'an email code passes step-up')
  t.equal(glueCode(await cart(ctx, 'erin', wrongCode(secret, clock.now))), '5901', 'a wrong code fails step-up')

  clock.advance(STEP)
  const totpCode = codeAt(secret, clock.now)
  t.equal(glueCode(await post(app, DEACTIVATE, token, { type: 'email', code: totpCode })), '5901', 'email cannot be removed with a totp code')
  t.equal(glueCode(await post(app, DEACTIVATE, token, { type: 'totp', code: emailCode2 })), '5901', 'totp cannot be removed with an email code')
  t.same(statuses(await list(app, token)), { email: 2, totp: 2 }, 'both still enabled')

  t.equal((await post(app, DEACTIVATE, token, { type: 'totp', code: totpCode })).statusCode, 204, 'totp with its own code')
  t.same(statuses(await list(app, token)), { email: 2, totp: 0 })
  t.equal(glueCode(await cart(ctx, 'erin', codeAt(secret, clock.now + STEP))), '5901', 'a removed totp no longer steps up')
  // Three wrong submissions counted against emailCode2 (the wrong step-up, the totp code sent to
  // deactivate email, the removed totp's code on step-up): it is blocked now (maxAttempts).
  t.equal(glueCode(await post(app, DEACTIVATE, token, { type: 'email', code: emailCode2 })), '5901', 'the email code is blocked by now')
  t.equal((await post(app, TRIGGER, token, { type: 'email' })).statusCode, 204)
  t.equal((await post(app, DEACTIVATE, token, { type: 'email', code: mail.last('erin') })).statusCode, 204, 'email with its own code')
  t.same(statuses(await list(app, token)), { email: 0, totp: 0 })
})

test('principalLockout applies to totp codes', async (t) => {
  const ctx = await setup({ principalLockout: { failures: 3, duration: 60_000 } })
  t.teardown(() => ctx.app.close())
  const { app, clock } = ctx
  const secret = await enableTotp(ctx, 'frank')
  clock.advance(STEP)

  for (let i = 0; i < 3; i++) {
    t.equal(glueCode(await cart(ctx, 'frank', wrongCode(secret, clock.now))), '5901', `wrong code ${i + 1}`)
  }
  t.ok(ctx.events.some((e) => e.name === 'principal.locked' && e.principalId === 'frank'), 'locked')

  const right = codeAt(secret, clock.now)
  t.equal(glueCode(await cart(ctx, 'frank', right)), '5901', 'locked: even the right code')
  t.equal(glueCode(await post(app, DEACTIVATE, ctx.token('frank'), { type: 'totp', code: right })), '5901', 'locked: deactivate too')
  t.equal(inspectMemory(ctx.repository).records.get('frank')?.get('totp')?.lastStep, Math.floor((clock.now - STEP) / STEP), 'no step was spent while locked')

  clock.advance(30_000)
  const stillLocked = codeAt(secret, clock.now)
  t.equal(glueCode(await cart(ctx, 'frank', stillLocked)), '5901', 'half-way through the lock')

  clock.advance(30_000)
  t.equal((await cart(ctx, 'frank', codeAt(secret, clock.now))).statusCode, 200, 'after the lock the right code passes')
  t.equal((await cart(ctx, 'other', '000000')).statusCode, 200, 'another principal (no type enabled) was never affected')
})
