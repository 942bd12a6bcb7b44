import { test } from 'tap'
import { createHmac } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildExistingApp, generateRs256Keys, principalFromShopToken } from '../examples/existing-app.js'
import { CODE_SECRET, Outbox, TestClock } from './helpers.js'

const PREFIX = '/mfa'

const keys = generateRs256Keys()

async function setup (): Promise<{ app: FastifyInstance, outbox: Outbox, clock: TestClock, token: (payload?: Record<string, unknown>) => string }> {
  const outbox = new Outbox()
  const clock = new TestClock()
  const app = await buildExistingApp({ sendCode: outbox.send, codeSecret: CODE_SECRET, clock: clock.read, keys })
  await app.ready()
  const token = (payload: Record<string, unknown> = { customer_reference: 'DE--42', email: 'demo@example.com' }): string => app.jwt.sign(payload)
  return { app, outbox, clock, token }
}

async function mfa (app: FastifyInstance, resource: string, token: string, type = 'email', code?: string): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: `${PREFIX}/${resource}`,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.api+json', ...(code === undefined ? {} : { 'x-mfa-code': code }) },
    payload: { data: { type: resource, attributes: { type } } }
  })
}

test('the existing app keeps RS256 and its payload; the plugin reads customer_reference', async (t) => {
  const { app, outbox, token } = await setup()
  t.teardown(() => app.close())
  const jwt = token()
  t.equal(JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).alg, 'RS256', 'the app signs RS256')

  const profile = await app.inject({ url: '/profile', headers: { authorization: `Bearer ${jwt}` } })
  t.same(profile.json(), { customer: 'DE--42', email: 'demo@example.com' }, 'the app\'s own route is unchanged')

  const listed = await app.inject({ url: `${PREFIX}/multi-factor-auth-types`, headers: { authorization: `Bearer ${jwt}` } })
  t.equal(listed.statusCode, 200)
  t.same(listed.json(), {
    data: [
      { type: 'multi-factor-auth-types', id: 'email', attributes: { type: 'email', status: 0 } },
      { type: 'multi-factor-auth-types', id: 'totp', attributes: { type: 'totp', status: 0 } }
    ],
    links: { self: '/mfa/multi-factor-auth-types' }
  })

  t.equal((await mfa(app, 'multi-factor-auth-type-activate', jwt)).statusCode, 204)
  t.equal(outbox.messages[0].principal.id, 'DE--42', 'the principal id is the customer reference')
  t.equal(outbox.messages[0].principal.email, 'demo@example.com', 'and carries the email')
  t.equal((await mfa(app, 'multi-factor-auth-type-verify', jwt, 'email', outbox.last())).statusCode, 204)

  const totp = await mfa(app, 'multi-factor-auth-type-activate', jwt, 'totp', outbox.last())
  t.equal(totp.statusCode, 201, 'a second type needs the code of the enabled one, then provisions')
  t.match(totp.json().data.attributes.otpauthUri, /^otpauth:\/\/totp\/Existing%20Shop:demo%40example\.com\?secret=/, 'the email labels the account')
})

test('step-up on the app\'s routes: by resource type and by requireMfa, after the app\'s own authentication', async (t) => {
  const { app, outbox, token } = await setup()
  t.teardown(() => app.close())
  const jwt = token()
  const address = async (code?: string): Promise<LightMyRequestResponse> => await app.inject({
    method: 'PATCH',
    url: '/customers/DE--42/addresses/a-1',
    headers: { authorization: `Bearer ${jwt}`, ...(code === undefined ? {} : { 'x-mfa-code': code }) },
    payload: {}
  })
  const checkout = async (code?: string): Promise<LightMyRequestResponse> => await app.inject({
    method: 'POST',
    url: '/checkout',
    headers: { authorization: `Bearer ${jwt}`, ...(code === undefined ? {} : { 'x-mfa-code': code }) },
    payload: {}
  })

  t.equal((await address()).statusCode, 200, 'no MFA enabled: the write passes')
  t.equal((await checkout()).statusCode, 201)
  t.equal((await app.inject({ method: 'POST', url: '/checkout', payload: {} })).statusCode, 401, 'the app\'s own authentication runs first')

  await mfa(app, 'multi-factor-auth-type-activate', jwt)
  const code = outbox.last()
  await mfa(app, 'multi-factor-auth-type-verify', jwt, 'email', code)

  t.equal((await address()).json().errors[0].code, '5900', 'addresses are protected by type')
  t.equal((await checkout()).json().errors[0].code, '5900', 'checkout is protected by requireMfa')
  t.equal((await address(code)).statusCode, 200)
  const order = await checkout(code)
  t.equal(order.statusCode, 201)
  t.equal(order.json().customer, 'DE--42', 'request.principal is the mapped principal')
})

test('tokens the app would not accept are refused by the plugin too', async (t) => {
  const { app, token } = await setup()
  t.teardown(() => app.close())
  const listWith = async (jwt: string): Promise<LightMyRequestResponse> =>
    await app.inject({ url: `${PREFIX}/multi-factor-auth-types`, headers: { authorization: `Bearer ${jwt}` } })

  // Algorithm confusion: an HS256 token whose HMAC key is the app's public key.
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ customer_reference: 'DE--42', email: 'x@example.com', iat: Math.floor(Date.now() / 1000) })}`
  const forged = `${unsigned}.${createHmac('sha256', keys.publicKey).update(unsigned).digest('base64url')}`
  const refused = await listWith(forged)
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().errors[0].code, '001')

  const other = await buildExistingApp({ sendCode: () => {}, codeSecret: CODE_SECRET }) // its own fresh key pair
  t.teardown(() => other.close())
  await other.ready()
  t.equal((await listWith(other.jwt.sign({ customer_reference: 'DE--42', email: 'x@example.com' }))).json().errors[0].code, '001', 'another key pair')

  const noReference = await listWith(token({ sub: 'DE--42', email: 'x@example.com' }))
  t.equal(noReference.statusCode, 400)
  t.equal(noReference.json().errors[0].code, '5905', 'a payload without customer_reference has no identifier')
})

test('principalFromShopToken', async (t) => {
  t.same(principalFromShopToken({ customer_reference: 'DE--1', email: 'a@example.com' }), { id: 'DE--1', email: 'a@example.com' })
  t.same(principalFromShopToken({ customer_reference: 'DE--1' }), { id: 'DE--1', email: undefined })
  t.equal(principalFromShopToken({ customer_reference: '' }), null)
  t.equal(principalFromShopToken(undefined), null)
})
