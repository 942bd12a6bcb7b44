// The escalating lockout as an attacker with a stolen token meets it: a simulated year of
// guessing against the default options, per-token counting, and a store that fails while
// admitting. The fake clock (`clock` option) makes a year take a second.
import { test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { generateSync } from 'otplib'
import { emailProvider, memoryRepository, type MfaRepository } from '../lib/index.js'
import { totpProvider } from '../lib/providers/totp.js'
import { buildApp, expectError, Outbox, post, type TestApp } from './helpers.js'

const YEAR = 365 * 24 * 3_600_000
const EMAIL_SPACE = 900_000 // 6 digits, the first 1-9
const TOTP_VALID = 3 / 1_000_000 // ±1 step: three valid codes of 10^6

const codeAt = (secret: string, ms: number): string => generateSync({ secret, epoch: Math.floor(ms / 1000) })

interface Victim extends TestApp {
  mail: Outbox
  /** The right code now, of the first enabled type. */
  right: () => string
  /** A code that is none of the valid ones now. */
  wrong: () => string
  cart: (token: string, code?: string) => Promise<LightMyRequestResponse>
}

/** A victim with `factors` enabled, default options (the defaults are what the figures promise). */
async function victim (factors: Array<'email' | 'totp'>, repository: MfaRepository = memoryRepository()): Promise<Victim> {
  const mail = new Outbox()
  const built = await buildApp({
    repository,
    providers: [emailProvider({ send: mail.send }), totpProvider({ issuer: 'Test' })],
    protectedResources: ['carts']
  }, (app) => { app.post('/carts', async () => ({ ok: true })) })
  const owner = built.token('victim')
  let secret: string | null = null
  for (const factor of factors) {
    const previous = factor === factors[0] ? undefined : (secret === null ? mail.last('victim') : codeAt(secret, built.clock.now))
    const res = await post(built.app, 'multi-factor-auth-type-activate', owner, { type: factor, code: previous })
    if (factor === 'totp') secret = res.json().data.attributes.secret
    const code = factor === 'totp' ? codeAt(secret as string, built.clock.now) : mail.last('victim')
    const verified = await post(built.app, 'multi-factor-auth-type-verify', owner, { type: factor, code })
    if (verified.statusCode !== 204) throw new Error(`enabling ${factor}: ${verified.body}`)
    built.clock.advance(30_000) // the next TOTP step, so the verifying one is not replayed
  }
  const right = (): string => factors[0] === 'totp' ? codeAt(secret as string, built.clock.now) : mail.last('victim')
  const wrong = (): string => {
    const valid = new Set(secret === null ? [] : [-1, 0, 1].map((s) => codeAt(secret as string, built.clock.now + s * 30_000)))
    let guess = 100_000
    while (valid.has(String(guess)) || String(guess) === mail.messages.at(-1)?.code) guess++
    return String(guess)
  }
  const cart = async (token: string, code?: string): Promise<LightMyRequestResponse> => await built.app.inject({
    method: 'POST', url: '/carts', headers: { authorization: `Bearer ${token}`, ...(code === undefined ? {} : { 'x-mfa-code': code }) }
  })
  return { ...built, mail, right, wrong, cart }
}

const count = (s: TestApp, name: string): number => s.events.filter((e) => e.name === name && e.principalId === 'victim').length

for (const factors of [['email'], ['totp'], ['email', 'totp']] as Array<Array<'email' | 'totp'>>) {
  for (const tokens of ['one stolen token', 'a fresh token (jti) for every burst']) {
    test(`a year of guessing, ${factors.join(' + ')}, ${tokens}: at most 0.1 % success odds, and the owner gets back in`, async (t) => {
      const s = await victim(factors)
      t.teardown(() => s.app.close())
      const stolen = s.token('victim')
      const rejectedBefore = count(s, 'code.rejected')
      const end = s.clock.now + YEAR
      let requests = 0
      for (let burst = 0; s.clock.now < end; burst++) {
        // Five guesses the moment a lock ends (more would only be refused), then wait it out.
        const token = tokens === 'one stolen token' ? stolen : s.token('victim', { jti: `thief-${burst}` })
        for (let i = 0; i < 5; i++) {
          const res = await s.cart(token, s.wrong())
          requests++
          if (res.statusCode !== 403) throw new Error(`guess answered ${res.statusCode}`)
        }
        s.clock.now = Math.max(s.clock.now + 1000, await s.repository.lockedUntil('victim'))
      }
      const evaluated = count(s, 'code.rejected') - rejectedBefore
      // Each evaluated guess is compared with every enabled type: its odds add up.
      const perGuess = (factors.includes('email') ? 1 / EMAIL_SPACE : 0) + (factors.includes('totp') ? TOTP_VALID : 0)
      const odds = evaluated * perGuess
      t.ok(evaluated <= 230, `${evaluated} of ${requests} guesses compared in a year`)
      t.ok(odds <= 0.001, `success odds over the year ≤ 0.1 %: ${(odds * 100).toFixed(3)} %`)
      t.equal(count(s, 'code.locked_out') + evaluated, requests, 'every other guess was refused unread')

      // The attack stops; once the last lock ends, the owner's right code passes.
      s.clock.now = Math.max(s.clock.now, await s.repository.lockedUntil('victim'))
      if (factors[0] === 'email') await post(s.app, 'multi-factor-auth-trigger', s.token('victim'))
      t.equal((await s.cart(s.token('victim'), s.right())).statusCode, 200, 'the owner passes step-up')
    })
  }
}

test('a stolen token locks itself; the owner\'s own token goes on', async (t) => {
  const s = await victim(['totp'])
  t.teardown(() => s.app.close())
  const thief = s.token('victim', { jti: 'stolen' })
  const owner = s.token('victim', { jti: 'owner' })
  for (let i = 0; i < 15; i++) expectError(t, await s.cart(thief, s.wrong()), 403, '5901')
  t.equal(count(s, 'code.rejected'), 10, 'ten guesses compared on the stolen token')
  t.equal(count(s, 'code.locked_out'), 5, 'then refused unread')
  t.equal((await s.cart(owner, s.right())).statusCode, 200, 'the owner passes with the right code')
  expectError(t, await s.cart(thief, s.right()), 403, '5901')
  t.equal(count(s, 'code.locked_out'), 6, 'the owner\'s success does not unlock the stolen token')

  // Many tokens: the principal-wide counter, at three times the threshold, is the ceiling.
  s.clock.advance(30_000)
  for (let i = 0; i < 40; i++) await s.cart(s.token('victim', { jti: `minted-${i}` }), s.wrong())
  t.equal(count(s, 'code.rejected'), 40, 'thirty more compared across many tokens, then the principal locks')
  expectError(t, await s.cart(owner, s.right()), 403, '5901')
  t.equal(count(s, 'code.locked_out'), 17, 'now the owner waits too')
  s.clock.now = await s.repository.lockedUntil('victim')
  t.equal((await s.cart(owner, s.right())).statusCode, 200, 'and passes when the lock ends')
})

test('tokens without jti share the principal\'s counter at the base threshold', async (t) => {
  const s = await victim(['totp'])
  t.teardown(() => s.app.close())
  for (let i = 0; i < 12; i++) await s.cart(s.token('victim'), s.wrong())
  t.equal(count(s, 'code.rejected'), 10)
  expectError(t, await s.cart(s.token('victim', { jti: 'owner' }), s.right()), 403, '5901')
  t.equal(count(s, 'code.locked_out'), 3, 'a principal locked by them locks every token')
})

test('a store that fails while admitting: every submission denied, none compared, nothing left uncounted', async (t) => {
  const inner = memoryRepository()
  let failing = false
  const repository: MfaRepository = {
    ...inner,
    admit: async (...args) => {
      if (failing) throw new Error('store down')
      return await inner.admit(...args)
    }
  }
  const s = await victim(['email'], repository)
  t.teardown(() => s.app.close())
  const tok = s.token('victim')
  failing = true
  for (const code of [s.wrong(), s.right()]) {
    expectError(t, await s.cart(tok, code), 500, undefined, 'Internal server error.')
    expectError(t, await post(s.app, 'multi-factor-auth-type-deactivate', tok, { code }), 500, '5903')
  }
  t.equal(count(s, 'code.rejected') + count(s, 'code.locked_out'), 0, 'nothing was compared: the right code answers as a wrong one does')
  t.same(s.events.filter((e) => e.name === 'stepup.passed' || e.name === 'type.disabled'), [])
  failing = false
  t.equal((await s.cart(tok, s.right())).statusCode, 200, 'the store back: the right code passes')
})
