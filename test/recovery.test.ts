import { test } from 'tap'
import { generateSync } from 'otplib'
import { emailProvider, recoveryCodesProvider, totpProvider, type GlueMfaOptions } from '../lib/index.js'
import { generateRecoveryCode, normaliseRecoveryCode } from '../lib/providers/recovery.js'
import { buildApp, expectError, list, Outbox, post, statuses, type TestApp } from './helpers.js'

const ACTIVATE = 'multi-factor-auth-type-activate'
const VERIFY = 'multi-factor-auth-type-verify'
const DEACTIVATE = 'multi-factor-auth-type-deactivate'
const RECOVERY = 'recovery-codes'

interface Setup extends TestApp {
  mail: Outbox
  bearer: string
  /** A passing step-up at POST /carts with this code? */
  carts: (code: string) => Promise<number>
}

async function setup (overrides: Partial<GlueMfaOptions> = {}): Promise<Setup> {
  const mail = new Outbox()
  const ctx = await buildApp({
    providers: [emailProvider({ send: mail.send }), totpProvider({ issuer: 'Shop' }), recoveryCodesProvider({ count: 4 })],
    protectedResources: ['carts'],
    ...overrides
  }, (app) => { app.post('/carts', async () => ({ ok: true })) })
  const bearer = ctx.token()
  const carts = async (code: string): Promise<number> => (await ctx.app.inject({
    method: 'POST', url: '/carts', headers: { authorization: `Bearer ${bearer}`, 'x-mfa-code': code }, payload: {}
  })).statusCode
  return { ...ctx, mail, bearer, carts }
}

/** Email enabled (the first factor), then recovery codes activated with an email code; answers the codes. */
async function withRecovery (s: Setup, verify = true): Promise<string[]> {
  await post(s.app, ACTIVATE, s.bearer)
  await post(s.app, VERIFY, s.bearer, { code: s.mail.last() })
  const res = await post(s.app, ACTIVATE, s.bearer, { type: RECOVERY, code: s.mail.last() })
  if (res.statusCode !== 201) throw new Error(res.body)
  const { codes } = res.json().data.attributes
  if (verify) {
    const verified = await post(s.app, VERIFY, s.bearer, { type: RECOVERY, code: codes[0] })
    if (verified.statusCode !== 204) throw new Error(verified.body)
  }
  return codes
}

test('recovery codes: count codes of 16 base32 characters in groups of four, shown once, only hashes stored', async (t) => {
  const s = await setup()
  const codes = await withRecovery(s, false)
  t.equal(codes.length, 4)
  for (const code of codes) t.match(code, /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/)
  t.equal(new Set(codes).size, 4, 'all different')
  t.same(statuses(await list(s.app, s.bearer)), { email: 2, totp: 0, [RECOVERY]: 1 }, 'pending until one is verified')
  const stored = (await s.repository.getType('customer-1', RECOVERY))?.secret ?? ''
  t.equal(stored.split(',').length, 4, 'four hashes')
  for (const code of codes) t.notOk(stored.includes(code.replaceAll('-', '')), 'no code in the store')
  t.ok(s.events.every((e) => !JSON.stringify(e).includes(codes[0].slice(0, 9))), 'no code in events')
  await s.app.close()
})

test('activating recovery codes needs another enabled type: 5913; then a code of it', async (t) => {
  const s = await setup()
  expectError(t, await post(s.app, ACTIVATE, s.bearer, { type: RECOVERY }), 400, '5913', 'Enable another multi-factor authentication type first.')
  await post(s.app, ACTIVATE, s.bearer)
  expectError(t, await post(s.app, ACTIVATE, s.bearer, { type: RECOVERY }), 400, '5913')
  await post(s.app, VERIFY, s.bearer, { code: s.mail.last() })
  expectError(t, await post(s.app, ACTIVATE, s.bearer, { type: RECOVERY }), 403, '5900')
  expectError(t, await post(s.app, ACTIVATE, s.bearer, { type: RECOVERY, code: '000000' }), 403, '5901')
  t.equal((await post(s.app, ACTIVATE, s.bearer, { type: RECOVERY, code: s.mail.last() })).statusCode, 201)
  await s.app.close()
})

test('an enabled type whose provider is gone backs nothing up: recovery codes still answer 5913', async (t) => {
  const s = await setup()
  await s.repository.beginActivation('customer-1', 'legacy', null)
  await s.repository.acceptCode('customer-1', 'legacy', { step: 1 }, { now: 0, requireStatus: 1, enable: true, maxAttempts: 3, tokenId: null })
  t.same(statuses(await list(s.app, s.bearer)), { email: 0, totp: 0, [RECOVERY]: 0, legacy: 2 })
  expectError(t, await post(s.app, ACTIVATE, s.bearer, { type: RECOVERY, code: '000000' }), 400, '5913')
  await s.app.close()
})

test('each recovery code passes once, wherever a code of an enabled type passes, in any spelling', async (t) => {
  const s = await setup()
  const codes = await withRecovery(s)
  t.equal(await s.carts(codes[0]), 403, 'the code that verified the type is used up')
  t.equal(await s.carts(codes[1].toLowerCase().replaceAll('-', ' ')), 200, 'lower case, spaces')
  t.equal(await s.carts(codes[1]), 403, 'once only')
  const remaining = s.events.filter((e) => e.name === 'recovery.used').map((e) => e.remaining)
  t.same(remaining, [3, 2], 'recovery.used says how many are left')
  // Look-alikes: O for 0, I or L for 1.
  const folded = codes[2].replaceAll('0', 'O').replaceAll('1', 'l')
  t.equal(await s.carts(folded), 200, 'look-alikes fold to the code')
  t.equal(await s.carts('not-a-recovery-code'), 403)
  t.equal(await s.carts(codes[3]), 200, 'the last code')
  t.same(s.events.filter((e) => e.name === 'recovery.used').map((e) => e.remaining), [3, 2, 1, 0])
  t.same(await s.app.glueMfa.status('customer-1'), [{ type: 'email', status: 2 }, { type: 'totp', status: 0 }, { type: RECOVERY, status: 2, remaining: 0 }], 'all used: none left, not one empty one')
  t.equal(await s.carts(codes[3]), 403, 'and it is used up too')
  await s.app.close()
})

test('lost phone: a recovery code removes TOTP, email still works', async (t) => {
  const s = await setup()
  const codes = await withRecovery(s)
  const res = await post(s.app, ACTIVATE, s.bearer, { type: 'totp', code: codes[1] })
  t.equal(res.statusCode, 201, 'a recovery code adds a factor too')
  const { secret } = res.json().data.attributes
  t.equal((await post(s.app, VERIFY, s.bearer, { type: 'totp', code: generateSync({ secret, epoch: s.clock.now / 1000 }) })).statusCode, 204)
  // The phone is lost: TOTP goes with a recovery code.
  t.equal((await post(s.app, DEACTIVATE, s.bearer, { type: 'totp', code: codes[2] })).statusCode, 204)
  t.same(statuses(await list(s.app, s.bearer)), { email: 2, totp: 0, [RECOVERY]: 2 })
  await post(s.app, 'multi-factor-auth-trigger', s.bearer)
  t.equal(await s.carts(s.mail.last()), 200, 'email still steps up')
  // A recovery code does not remove email with a wrong-type code of nothing: only right codes.
  expectError(t, await post(s.app, DEACTIVATE, s.bearer, { type: 'totp', code: codes[3] }), 400, '5906')
  await s.app.close()
})

test('deactivating recovery codes needs a code of any enabled type; the last primary type takes them with it', async (t) => {
  const s = await setup()
  const codes = await withRecovery(s)
  expectError(t, await post(s.app, DEACTIVATE, s.bearer, { type: RECOVERY, code: '123456' }), 403, '5901')
  await post(s.app, 'multi-factor-auth-trigger', s.bearer)
  t.equal((await post(s.app, DEACTIVATE, s.bearer, { type: RECOVERY, code: s.mail.last() })).statusCode, 204, 'an email code removes them')
  // Regenerate: activate again, new codes.
  const again = await post(s.app, ACTIVATE, s.bearer, { type: RECOVERY, code: s.mail.last() })
  const fresh: string[] = again.json().data.attributes.codes
  t.notOk(fresh.includes(codes[1]), 'new codes')
  t.equal(await s.carts(codes[1]), 403, 'the old codes are gone')
  t.equal((await post(s.app, VERIFY, s.bearer, { type: RECOVERY, code: fresh[0] })).statusCode, 204)
  // Email, the last primary type, removed with a recovery code: the recovery codes go with it.
  s.events.length = 0
  t.equal((await post(s.app, DEACTIVATE, s.bearer, { type: 'email', code: fresh[1] })).statusCode, 204)
  t.same(statuses(await list(s.app, s.bearer)), { email: 0, totp: 0, [RECOVERY]: 0 })
  t.same(s.events.filter((e) => e.name === 'type.disabled').map((e) => e.type), ['email', RECOVERY])
  t.equal(await s.carts('anything'), 200, 'no MFA left')
  await s.app.close()
})

test('a pending recovery set goes with the last primary type too; with another primary left it stays', async (t) => {
  const s = await setup()
  await withRecovery(s, false)
  const totp = await post(s.app, ACTIVATE, s.bearer, { type: 'totp', code: s.mail.last() })
  const { secret } = totp.json().data.attributes
  t.equal((await post(s.app, VERIFY, s.bearer, { type: 'totp', code: generateSync({ secret, epoch: s.clock.now / 1000 }) })).statusCode, 204)
  t.equal((await post(s.app, DEACTIVATE, s.bearer, { type: 'email', code: s.mail.last() })).statusCode, 204)
  t.same(statuses(await list(s.app, s.bearer)), { email: 0, totp: 2, [RECOVERY]: 1 }, 'TOTP is left: recovery stays')
  s.clock.advance(60_000)
  t.equal((await post(s.app, DEACTIVATE, s.bearer, { type: 'totp', code: generateSync({ secret, epoch: s.clock.now / 1000 }) })).statusCode, 204)
  t.same(statuses(await list(s.app, s.bearer)), { email: 0, totp: 0, [RECOVERY]: 0 })
  await s.app.close()
})

test('ten simultaneous uses of one recovery code: exactly one passes', async (t) => {
  const s = await setup()
  const codes = await withRecovery(s)
  const answers = await Promise.all(Array.from({ length: 10 }, async () => await s.carts(codes[1])))
  t.equal(answers.filter((a) => a === 200).length, 1)
  t.equal(answers.filter((a) => a === 403).length, 9)
  await s.app.close()
})

test('wrong recovery codes count towards the lockout like any other', async (t) => {
  const s = await setup()
  const codes = await withRecovery(s)
  for (let i = 0; i < 10; i++) t.equal(await s.carts(generateRecoveryCode()), 403)
  t.ok(s.events.some((e) => e.name === 'principal.locked'), 'locked after ten')
  t.equal(await s.carts(codes[1]), 403, 'a right recovery code is refused while locked')
  t.ok(s.events.some((e) => e.name === 'code.locked_out'))
  s.clock.advance(15 * 60_000)
  t.equal(await s.carts(codes[1]), 200, 'and passes after the lock')
  await s.app.close()
})

test('recoveryCodesProvider options and the code format', async (t) => {
  t.throws(() => recoveryCodesProvider({ count: 0 }), { code: 'FST_GLUE_MFA_INVALID_OPTION', message: /recoveryCodesProvider\.count/ })
  t.throws(() => recoveryCodesProvider({ count: 51 }), /from 1 to 50/)
  t.throws(() => recoveryCodesProvider({ count: 2.5 as number }), /integer/)
  t.equal(recoveryCodesProvider({ count: 1 }).count, 1, 'from 1')
  t.equal(recoveryCodesProvider({ count: 50 }).count, 50, 'to 50')
  t.same(recoveryCodesProvider(), { kind: 'recovery', type: 'recovery-codes', count: 10 })
  t.same(recoveryCodesProvider({ type: 'backup', count: 12 }), { kind: 'recovery', type: 'backup', count: 12 })
  t.equal(normaliseRecoveryCode('abcd-efgh-jkmn-pqrs'), 'ABCDEFGHJKMNPQRS')
  t.equal(normaliseRecoveryCode(' o1il 2345\t6789-WXYZ '), '0111234567 89WXYZ'.replace(' ', ''))
  t.equal(normaliseRecoveryCode('ABCD-EFGH-JKMN-PQR'), null, 'too short')
  t.equal(normaliseRecoveryCode('ABCD-EFGH-JKMN-PQRU'), null, 'U is not in the alphabet')
  t.equal(normaliseRecoveryCode(''), null)
})

test('the recovery kind on its own: no state counts as no codes; a type enabled meanwhile starts nothing', async (t) => {
  const { recoveryKind } = await import('../lib/providers/recovery.js')
  const { CodeKeys, MatchedCodes } = await import('../lib/codes.js')
  const { memoryRepository } = await import('../lib/repositories/memory.js')
  const repository = memoryRepository()
  const factor = recoveryKind.create(recoveryCodesProvider({ count: 2 }), {
    repository, keys: new CodeKeys('k'.repeat(32)), matched: new MatchedCodes(), codeLength: 6, codeTtl: 1, maxAttempts: 3, resendCooldown: 0, clock: Date.now, emit: () => {}
  })
  const record = { type: RECOVERY, status: 0 as const, code: null, lastSentAt: null, secret: null, lastStep: null }
  t.equal(factor.remaining?.(record), 0)
  t.equal(factor.prove('p', record, generateRecoveryCode(), 0), null)
  t.equal(await factor.resend({ log: undefined as never, principal: { id: 'p' }, record, now: 0 }), 'none', 'nothing to send')
  t.equal(factor.countsAttempts(record), false)
  await repository.beginActivation('p', RECOVERY, 'x')
  await repository.acceptCode('p', RECOVERY, { spend: 'x' }, { now: 0, maxAttempts: 3, requireStatus: 1, enable: true, tokenId: null })
  t.equal(await factor.start({ log: undefined as never, principal: { id: 'p' }, record: null, now: 0 }), null, 'enabled by a concurrent verify: nothing started')
  t.equal((await repository.getType('p', RECOVERY))?.status, 2)
})
