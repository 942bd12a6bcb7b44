// The factor kinds on their own (lib/providers/delivered.ts, computed.ts, recovery.ts): what each one's
// prove() accepts, independently of the store, which checks the same rules again when it
// accepts. A third-party store that does not re-check still gets expiry, the attempt limit and
// the TOTP replay rule from the factor, so each rule is pinned here as well as in the store
// conformance suite.
import { test } from 'tap'
import { CodeKeys, MatchedCodes } from '../../lib/codes.js'
import { computedKind } from '../../lib/providers/computed.js'
import { deliveredKind } from '../../lib/providers/delivered.js'
import { normaliseRecoveryCode, recoveryCodesProvider, recoveryKind } from '../../lib/providers/recovery.js'
import type { FactorTools } from '../../lib/providers/factor.js'
import { memoryRepository } from '../../lib/repositories/memory.js'
import type { TypeRecord } from '../../lib/repositories/types.js'

const NOW = Date.UTC(2026, 0, 1)
const keys = new CodeKeys('factor-test-code-secret-0123456789abcdef')

function tools (overrides: Partial<FactorTools> = {}): FactorTools {
  return {
    repository: memoryRepository(),
    keys,
    matched: new MatchedCodes(),
    codeLength: 6,
    codeTtl: 60_000,
    maxAttempts: 3,
    resendCooldown: 0,
    clock: () => NOW,
    emit: () => {},
    ...overrides
  }
}

function record (fields: Partial<TypeRecord> = {}): TypeRecord {
  return { type: 'email', status: 2, code: null, lastSentAt: null, secret: null, lastStep: null, ...fields }
}

test('delivered kind: a stored code proves while now < expiresAt and attempts < maxAttempts, used or not', async (t) => {
  const factor = deliveredKind.create({ kind: 'delivered', type: 'email', send: () => {} }, tools())
  const hash = keys.hash('p', 'email', '123456')
  const stored = (fields: Partial<NonNullable<TypeRecord['code']>> = {}): TypeRecord =>
    record({ code: { hash, expiresAt: NOW + 1000, attempts: 0, verified: false, ...fields } })

  t.same(factor.prove('p', stored(), '123456', NOW), { hash }, 'the right code')
  t.same(factor.prove('p', stored({ verified: true }), '123456', NOW + 999), { hash }, 'used already (grace reuse), 1 ms before expiry')
  for (const [name, now] of [['at expiry', NOW + 1000], ['after expiry', NOW + 1001]] as const) {
    t.equal(factor.prove('p', stored({ verified: true }), '123456', now), null, `a used code ${name}`)
    t.equal(factor.prove('p', stored(), '123456', now), null, `an unused code ${name}`)
  }
  t.same(factor.prove('p', stored({ attempts: 2 }), '123456', NOW), { hash }, 'maxAttempts - 1 wrong tries: still proves')
  t.equal(factor.prove('p', stored({ attempts: 3 }), '123456', NOW), null, 'at maxAttempts: blocked')
  t.equal(factor.prove('p', stored({ attempts: 4 }), '123456', NOW), null, 'beyond maxAttempts: blocked')
  t.equal(factor.prove('p', stored(), '654321', NOW), null, 'a wrong code')
  // The stored hash binds the principal (its row never holds another's hash); computed afresh,
  // without the matched-code cache, the code of another principal does not prove.
  const fresh = deliveredKind.create({ kind: 'delivered', type: 'email', send: () => {} }, tools())
  t.equal(fresh.prove('q', stored(), '123456', NOW), null, 'the code of another principal')
  t.equal(factor.prove('p', record(), '123456', NOW), null, 'no stored code')
  t.equal(factor.countsAttempts(stored()), true, 'a wrong code counts against a stored code')
  t.equal(factor.countsAttempts(record()), false, 'nothing to count against without one')
})

test('delivered kind: the matched-code cache never outlives expiry, the attempt limit or a new code', async (t) => {
  const matched = new MatchedCodes()
  const factor = deliveredKind.create({ kind: 'delivered', type: 'email', send: () => {} }, tools({ matched }))
  const hash = keys.hash('p', 'email', '123456')
  const code = { hash, expiresAt: NOW + 1000, attempts: 0, verified: true }
  t.same(factor.prove('p', record({ code }), '123456', NOW), { hash }, 'computed, then cached')
  t.ok(matched.has(hash, '123456'), 'a match enters the cache')
  t.notOk(matched.has(hash, '654321'))
  t.equal(factor.prove('p', record({ code: { ...code, expiresAt: NOW } }), '123456', NOW), null, 'cached but expired')
  t.equal(factor.prove('p', record({ code: { ...code, attempts: 3 } }), '123456', NOW), null, 'cached but blocked')
  const next = keys.hash('p', 'email', '111111')
  t.equal(factor.prove('p', record({ code: { ...code, hash: next } }), '123456', NOW), null, 'cached, but a new code replaced it')
  t.equal(factor.prove('p', record({ code }), '654321', NOW), null, 'a wrong guess is not in the cache')
  t.notOk(matched.has(hash, '654321'), 'and never enters it')
})

test('delivered kind: a code used again skips the HMAC (the costliest step of a passing check)', async (t) => {
  let hashed = 0
  const counting = Object.assign(Object.create(keys) as CodeKeys, {
    hash: (...args: Parameters<CodeKeys['hash']>) => { hashed++; return keys.hash(...args) }
  })
  const factor = deliveredKind.create({ kind: 'delivered', type: 'email', send: () => {} }, tools({ keys: counting }))
  const hash = keys.hash('p', 'email', '123456')
  const stored = record({ code: { hash, expiresAt: NOW + 1000, attempts: 0, verified: true } })
  t.same(factor.prove('p', stored, '123456', NOW), { hash })
  t.equal(hashed, 1, 'the first match computes it')
  t.same(factor.prove('p', stored, '123456', NOW), { hash })
  t.equal(hashed, 1, 'the second is found in the cache')
  t.equal(factor.prove('p', stored, '654321', NOW), null)
  t.equal(hashed, 2, 'a wrong code is always computed')
})

test('computed kind: a step is accepted once and only after the last accepted one; the secret is bound to principal and type', async (t) => {
  const seen: Array<[string, string, number]> = []
  const provider = {
    kind: 'computed' as const,
    type: 'totp',
    createSecret: () => 'SECRET',
    provisioning: () => ({}),
    match: (secret: string, code: string, now: number) => {
      seen.push([secret, code, now])
      return code === 'right' ? 100 : code === 'epoch' ? 0 : null
    }
  }
  const factor = computedKind.create(provider, tools())
  const sealed = keys.seal('p', 'totp', 'SECRET')
  const totp = (fields: Partial<TypeRecord>): TypeRecord => record({ type: 'totp', secret: sealed, ...fields })

  t.same(factor.prove('p', totp({}), 'right', NOW), { step: 100 }, 'no step accepted yet')
  t.same(seen, [['SECRET', 'right', NOW]], 'the provider matches the opened secret, the code and the time')
  t.same(factor.prove('p', totp({ lastStep: 99 }), 'right', NOW), { step: 100 }, 'a later step')
  t.equal(factor.prove('p', totp({ lastStep: 100 }), 'right', NOW), null, 'the step already accepted: a replay')
  t.equal(factor.prove('p', totp({ lastStep: 101 }), 'right', NOW), null, 'an earlier step than the last accepted')
  t.same(factor.prove('p', totp({ lastStep: 0 }), 'right', NOW), { step: 100 }, 'after step 0')
  t.same(factor.prove('p', totp({}), 'epoch', NOW), { step: 0 }, 'step 0 with none accepted yet: null is not step 0')
  t.equal(factor.prove('p', totp({ lastStep: 0 }), 'epoch', NOW), null, 'step 0 again')
  t.equal(factor.prove('p', totp({}), 'wrong', NOW), null, 'no step matches')
  t.equal(factor.prove('q', totp({}), 'right', NOW), null, 'sealed for another principal')
  t.equal(factor.prove('p', totp({ type: 'totp', secret: keys.seal('p', 'totp2', 'SECRET') }), 'right', NOW), null, 'sealed for another type')
  t.equal(factor.prove('p', totp({ secret: null }), 'right', NOW), null, 'no secret stored')
  t.equal(factor.countsAttempts(totp({})), false, 'a wrong TOTP code counts on the counters only')
  t.equal(await factor.resend({ log: undefined as never, principal: { id: 'p' }, record: totp({}), now: NOW }), 'none', 'nothing to send')
})

test('computed kind: activation stores the sealed secret and shows the provisioning; nothing when enabled meanwhile', async (t) => {
  const repository = memoryRepository()
  const provider = {
    kind: 'computed' as const,
    type: 'totp',
    createSecret: () => 'SECRET',
    provisioning: (principal: { id: string }, secret: string) => ({ uri: `otpauth://${principal.id}/${secret}` }),
    match: () => 1
  }
  const factor = computedKind.create(provider, tools({ repository }))
  t.same(await factor.start({ log: undefined as never, principal: { id: 'p' }, record: null, now: NOW }), { provisioning: { uri: 'otpauth://p/SECRET' }, delivery: 'none' })
  const stored = await repository.getType('p', 'totp')
  t.equal(stored?.status, 1, 'pending')
  t.equal(keys.open('p', 'totp', stored?.secret as string), 'SECRET', 'sealed for principal and type')
  await repository.acceptCode('p', 'totp', { step: 1 }, { now: NOW, maxAttempts: 3, requireStatus: 1, enable: true, tokenId: null })
  t.equal(await factor.start({ log: undefined as never, principal: { id: 'p' }, record: null, now: NOW }), null, 'enabled by a concurrent verify: nothing started')
})

test('recovery kind: a code proves only when its hash is in the set, and a malformed one costs no HMAC', async (t) => {
  let hashed = 0
  const counting = Object.assign(Object.create(keys) as CodeKeys, {
    hash: (...args: Parameters<CodeKeys['hash']>) => { hashed++; return keys.hash(...args) }
  })
  const factor = recoveryKind.create(recoveryCodesProvider({ count: 3 }), tools({ keys: counting }))
  const hashOf = (code: string): string => keys.hash('p', 'recovery-codes', normaliseRecoveryCode(code) as string)
  const codes = ['AAAA-BBBB-CCCC-DDDD', 'EEEE-FFFF-GGGG-HHHH', 'JJJJ-KKKK-MMMM-NNNN']
  const set = record({ type: 'recovery-codes', secret: codes.map(hashOf).join(',') })

  for (const code of codes) t.same(factor.prove('p', set, code, NOW), { spend: hashOf(code) }, `${code}, wherever it is in the set`)
  t.same(factor.prove('p', set, 'eeee ffff gggg hhhh', NOW), { spend: hashOf(codes[1]) }, 'in another spelling')
  hashed = 0
  t.equal(factor.prove('p', set, 'PPPP-QQQQ-RRRR-SSSS', NOW), null, 'a well-formed code not in the set')
  t.equal(hashed, 1, 'is hashed once and compared')
  t.equal(factor.prove('q', set, codes[0], NOW), null, 'a code of another principal')
  t.equal(factor.prove('p', record({ type: 'recovery-codes', secret: hashOf(codes[1]) }), codes[0], NOW), null, 'a code already spent')
  hashed = 0
  for (const malformed of ['', 'null', 'AAAA-BBBB-CCCC-DDD', 'AAAA-BBBB-CCCC-DDDU', '123456']) {
    t.equal(factor.prove('p', set, malformed, NOW), null, `${JSON.stringify(malformed)} is not a recovery code`)
  }
  t.equal(hashed, 0, 'refused before any HMAC')
  t.equal(factor.remaining?.(set), 3)
  t.equal(factor.remaining?.(record({ type: 'recovery-codes', secret: '' })), 0, 'all spent: an empty set, not one empty hash')
})

test('recovery kind: activation shows the codes once, stores their hashes and sends nothing', async (t) => {
  const repository = memoryRepository()
  const factor = recoveryKind.create(recoveryCodesProvider({ count: 3 }), tools({ repository }))
  const started = await factor.start({ log: undefined as never, principal: { id: 'p' }, record: null, now: NOW })
  const codes = started?.provisioning?.codes as string[]
  t.equal(codes.length, 3)
  t.equal(started?.delivery, 'none', 'nothing was sent')
  const stored = await repository.getType('p', 'recovery-codes')
  t.equal(stored?.status, 1, 'pending')
  t.same(stored?.secret?.split(','), codes.map((code) => keys.hash('p', 'recovery-codes', normaliseRecoveryCode(code) as string)))
})
