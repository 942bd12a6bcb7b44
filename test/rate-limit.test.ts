// Per-IP throttling of the MFA routes comes from @fastify/rate-limit, registered by the host;
// the `rateLimit` option hands it the five routes' `config.rateLimit`.
import { test, type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import fastifyRateLimit from '@fastify/rate-limit'
import glueMfa, { emailProvider, memoryRepository, type GlueMfaOptions } from '../lib/index.js'
import { CODE_SECRET, JWT_SECRET, expectError, list, post } from './helpers.js'

const RATE_LIMITED = 'Rate limit exceeded. Try again later.'

async function appWith (t: Test, options: Partial<GlueMfaOptions>, limiter: Record<string, unknown> | null = { global: false }): Promise<{ app: FastifyInstance, token: string }> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyJwt, { secret: JWT_SECRET })
  if (limiter !== null) await app.register(fastifyRateLimit, limiter)
  await app.register(glueMfa, { providers: [emailProvider({ send: async () => {} })], repository: memoryRepository(), codeSecret: CODE_SECRET, ...options })
  app.get('/host', async () => ({ ok: true }))
  await app.ready()
  return { app, token: app.jwt.sign({ sub: 'customer-1' }) }
}

test('rateLimit: the five routes get the limit; the 429 is a JSON:API error with Retry-After', async (t) => {
  const { app, token } = await appWith(t, { rateLimit: { max: 2, timeWindow: 60_000 } })
  // Counted after the token check (rate-limit's hook is the route's own, after the plugin's
  // authentication): requests without a valid token are answered 401 and use up nothing.
  for (let i = 0; i < 3; i++) t.equal((await list(app, 'not-a-token')).statusCode, 401)
  for (const remaining of ['1', '0']) {
    const res = await list(app, token)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-ratelimit-limit'], '2', 'rate-limit\'s headers on a passing request')
    t.equal(res.headers['x-ratelimit-remaining'], remaining)
  }
  const limited = await list(app, token)
  expectError(t, limited, 429, undefined, RATE_LIMITED)
  t.equal(limited.headers['retry-after'], '60', 'Retry-After kept (seconds)')
  t.equal(limited.headers['x-ratelimit-remaining'], '0')

  // Every POST route is limited too (each route counts on its own, per IP).
  for (const resource of ['multi-factor-auth-type-activate', 'multi-factor-auth-type-verify', 'multi-factor-auth-type-deactivate', 'multi-factor-auth-trigger']) {
    await post(app, resource, token, { code: '123456' })
    await post(app, resource, token, { code: '123456' })
    const res = await post(app, resource, token, { code: '123456' })
    expectError(t, res, 429, undefined, RATE_LIMITED)
    t.ok(Number(res.headers['retry-after']) > 0, `${resource}: Retry-After`)
  }
  // The host's own routes are not touched (rate-limit registered with global: false).
  for (let i = 0; i < 4; i++) t.equal((await app.inject({ url: '/host' })).statusCode, 200)
})

test('a host-wide limit reaches the MFA routes as a JSON:API 429 too; rateLimit: false exempts them', async (t) => {
  const limited = await appWith(t, {}, { max: 1, timeWindow: 60_000 })
  t.equal((await list(limited.app, limited.token)).statusCode, 200)
  const res = await list(limited.app, limited.token)
  expectError(t, res, 429, undefined, RATE_LIMITED)
  t.equal(res.headers['retry-after'], '60')

  const exempt = await appWith(t, { rateLimit: false }, { max: 1, timeWindow: 60_000 })
  for (let i = 0; i < 3; i++) t.equal((await list(exempt.app, exempt.token)).statusCode, 200, `MFA request ${i + 1}`)
  t.equal((await exempt.app.inject({ url: '/host' })).statusCode, 200)
  t.equal((await exempt.app.inject({ url: '/host' })).statusCode, 429, 'the host keeps its limit')
})

test('rateLimit without @fastify/rate-limit registered first fails at ready(), naming the option', async (t) => {
  for (const [name, setup] of [
    ['not registered', () => {}],
    ['registered after the plugin', (app: FastifyInstance) => { app.register(fastifyRateLimit, { global: false }) }]
  ] as const) {
    const app = Fastify()
    await app.register(fastifyJwt, { secret: JWT_SECRET })
    app.register(glueMfa, { providers: [emailProvider({ send: async () => {} })], repository: memoryRepository(), codeSecret: CODE_SECRET, rateLimit: { max: 5 } })
    setup(app)
    await t.rejects(async () => { await app.ready() }, { code: 'FST_GLUE_MFA_INVALID_OPTION', message: /option "rateLimit" needs @fastify\/rate-limit registered before fastify-glue-mfa/ }, name)
    await app.close()
  }
  // `false` asks for nothing, so it needs nothing.
  const { app, token } = await appWith(t, { rateLimit: false }, null)
  t.equal((await list(app, token)).statusCode, 200)
})
