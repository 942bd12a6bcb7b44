import { test } from 'tap'
import { createHmac, generateKeyPairSync } from 'node:crypto'
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import glueMfa, { emailProvider, memoryRepository } from '../lib/index.js'
import { buildApp, CODE_SECRET, expectError, list, post } from './helpers.js'

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const now = (): number => Math.floor(Date.now() / 1000)

test('token problems answer 002 or 001, exactly', async (t) => {
  const { app, token } = await buildApp()
  t.teardown(() => app.close())
  const other = Fastify()
  await other.register(fastifyJwt, { secret: 'another-secret-entirely-different-0123456789' })
  t.teardown(() => other.close())
  const good = token()
  const [header, payload] = good.split('.')
  const edited = `${header}.${b64({ sub: 'admin', iat: now() })}.${good.split('.')[2]}`

  const cases: Array<[string, Record<string, string>, number, string, string]> = [
    ['no Authorization header', {}, 403, '002', 'Missing access token.'],
    ['empty Authorization header', { authorization: '' }, 403, '002', 'Missing access token.'],
    // @fastify/jwt reads only `Bearer` (then its cookie): another scheme is no token at all.
    ['wrong scheme', { authorization: `Basic ${good}` }, 403, '002', 'Missing access token.'],
    ['Bearer, two spaces', { authorization: `Bearer  ${good}` }, 401, '001', 'Invalid access token.'],
    ['Bearer without token', { authorization: 'Bearer ' }, 401, '001', 'Invalid access token.'],
    ['garbage token', { authorization: 'Bearer not.a.jwt' }, 401, '001', 'Invalid access token.'],
    ['wrong secret', { authorization: `Bearer ${other.jwt.sign({ sub: 'customer-1' })}` }, 401, '001', 'Invalid access token.'],
    ['expired', { authorization: `Bearer ${app.jwt.sign({ sub: 'customer-1', exp: now() - 60 })}` }, 401, '001', 'Invalid access token.'],
    ['not yet valid', { authorization: `Bearer ${app.jwt.sign({ sub: 'customer-1', nbf: now() + 3600 })}` }, 401, '001', 'Invalid access token.'],
    ['alg none', { authorization: `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${payload}.` }, 401, '001', 'Invalid access token.'],
    ['signature stripped', { authorization: `Bearer ${header}.${payload}.` }, 401, '001', 'Invalid access token.'],
    ['payload edited', { authorization: `Bearer ${edited}` }, 401, '001', 'Invalid access token.'],
    ['oversized', { authorization: `Bearer ${header}.${b64({ sub: 'x'.repeat(20_000) })}.${good.split('.')[2]}` }, 401, '001', 'Invalid access token.']
  ]
  for (const [name, headers, status, code, detail] of cases) {
    t.test(name, async (t) => {
      const res = await app.inject({ method: 'GET', url: '/multi-factor-auth-types', headers })
      expectError(t, res, status, code, detail)
      const write = await app.inject({ method: 'POST', url: '/multi-factor-auth-trigger', headers, payload: { data: { type: 'multi-factor-auth-trigger', attributes: { type: 'email' } } } })
      expectError(t, write, status, code, detail)
    })
  }
})

test('an HS256 token signed with the RS256 public key is refused (algorithm confusion)', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' }
  })
  const app = Fastify()
  await app.register(fastifyJwt, { secret: { public: publicKey, private: privateKey }, sign: { algorithm: 'RS256' } })
  await app.register(glueMfa, { providers: [emailProvider({ send: () => {} })], repository: memoryRepository(), codeSecret: CODE_SECRET })
  await app.ready()
  t.teardown(() => app.close())

  t.equal((await list(app, app.jwt.sign({ sub: 'c1' }))).statusCode, 200, 'a real RS256 token passes')
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'c1', iat: now() })}`
  const forged = `${unsigned}.${createHmac('sha256', publicKey).update(unsigned).digest('base64url')}`
  expectError(t, await list(app, forged), 401, '001', 'Invalid access token.')
  const none = `${b64({ alg: 'none' })}.${b64({ sub: 'c1' })}.`
  expectError(t, await list(app, none), 401, '001', 'Invalid access token.')
})

test('principal mapping: no identifier, principal gone, custom payload shape', async (t) => {
  const gone = new Set(['ghost'])
  const storefront = await buildApp({ findPrincipal: async (p) => !gone.has(p.id) })
  t.teardown(() => storefront.app.close())
  expectError(t, await list(storefront.app, storefront.token(null, { name: 'no sub' })), 400, '5905', 'No customer identifier provided.')
  expectError(t, await list(storefront.app, storefront.token('')), 400, '5905')
  expectError(t, await list(storefront.app, storefront.token('ghost')), 400, '5907', 'Customer not found.')
  t.equal((await list(storefront.app, storefront.token(null, { sub: 42 }))).statusCode, 200, 'a numeric sub is an id')

  const backend = await buildApp({ surface: 'backend', findPrincipal: (p) => p.id !== 'ghost' })
  t.teardown(() => backend.app.close())
  expectError(t, await list(backend.app, backend.token(null)), 400, '5909', 'No user identifier provided.')
  expectError(t, await list(backend.app, backend.token('ghost')), 400, '5908', 'User not found.')

  const custom = await buildApp({ principal: (payload) => ({ id: payload.customer_reference, email: payload.email }) })
  t.teardown(() => custom.app.close())
  const res = await list(custom.app, custom.token(null, { customer_reference: 'DE--7', email: 'a@example.com' }))
  t.equal(res.statusCode, 200)
  expectError(t, await list(custom.app, custom.token(null, {})), 400, '5905')

  const nullish = await buildApp({ principal: () => null })
  t.teardown(() => nullish.app.close())
  expectError(t, await list(nullish.app, nullish.token()), 400, '5905')
})

test('identifier errors come after the body shape (the order of checks, docs/errors.md)', async (t) => {
  const { app, token } = await buildApp()
  t.teardown(() => app.close())
  const res = await post(app, 'multi-factor-auth-type-verify', token(null), { payload: { data: { type: 'wrong' } } })
  expectError(t, res, 400, undefined, 'Post data is invalid.')
  expectError(t, await post(app, 'multi-factor-auth-type-verify', token(null)), 400, '5905')
})

test('a principal mapper that throws is a 500 without details', async (t) => {
  const { app, token } = await buildApp({ principal: () => { throw new Error('database password is hunter2') } })
  t.teardown(() => app.close())
  const res = await list(app, token())
  expectError(t, res, 500, undefined, 'Internal server error.')
  t.notMatch(res.body, /hunter2/)
})
