import { test, type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Validator } from '@seriousme/openapi-schema-validator'
import {
  buildServer, DEFAULT_DATABASE, describeDatabase, isDevMode, isOutboxEnabled, MFA_RATE_LIMIT, optionsFromEnv, passkeyRelyingParty, readableLogStream, type DemoServerOptions
} from '../examples/server.js'
import { LogCapture } from './helpers.js'
import { header, SoftAuthenticator } from './webauthn.js'

const JSON_API = 'application/vnd.api+json'
const SECRETS = { codeSecret: 'test-code-secret-0123456789abcdef-0123456789', jwtSecret: 'test-jwt-secret-0123456789abcdef' }

async function server (t: Test, options: DemoServerOptions = {}): Promise<FastifyInstance> {
  const app = await buildServer({ database: 'memory', logger: false, devMode: true, ...options })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

async function storefrontLogin (app: FastifyInstance, username = 'sonia@example.com', password = 'change123'): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: '/access-tokens',
    headers: { 'content-type': JSON_API },
    payload: { data: { type: 'access-tokens', attributes: { username, password } } }
  })
}

async function storefrontToken (app: FastifyInstance): Promise<string> {
  return (await storefrontLogin(app)).json().data.attributes.accessToken
}

async function backendToken (app: FastifyInstance): Promise<string> {
  return (await app.inject({ method: 'POST', url: '/backend/token', payload: { username: 'admin@example.com', password: 'change123' } })).json().accessToken
}

async function mfa (app: FastifyInstance, url: string, token: string, type = 'email', code?: string): Promise<LightMyRequestResponse> {
  const resource = url.split('/').at(-1) as string
  return await app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${token}`, 'content-type': JSON_API, ...(code === undefined ? {} : { 'x-mfa-code': code }) },
    payload: { data: { type: resource, attributes: { type } } }
  })
}

async function outboxCode (app: FastifyInstance): Promise<string> {
  return (await app.inject({ url: '/dev/outbox' })).json().data[0].attributes.code
}

function glueError (res: LightMyRequestResponse): string {
  const error = res.json().errors[0]
  return `${res.statusCode} ${error.code ?? '-'} ${error.detail}`
}

test('the rules: dev mode is NODE_ENV development or unset; the outbox also needs MFA_DEMO_OUTBOX not 0', async (t) => {
  const cases: Array<[NodeJS.ProcessEnv, boolean, boolean]> = [
    [{}, true, true],
    [{ NODE_ENV: '' }, true, true],
    [{ NODE_ENV: 'development' }, true, true],
    [{ NODE_ENV: 'development', MFA_DEMO_OUTBOX: '1' }, true, true],
    [{ MFA_DEMO_OUTBOX: '0' }, true, false],
    [{ NODE_ENV: 'development', MFA_DEMO_OUTBOX: '0' }, true, false],
    [{ NODE_ENV: 'production' }, false, false],
    [{ NODE_ENV: 'production', MFA_DEMO_OUTBOX: '1' }, false, false],
    [{ NODE_ENV: 'test' }, false, false]
  ]
  for (const [env, dev, outbox] of cases) {
    t.equal(isDevMode(env), dev, `dev mode: ${JSON.stringify(env)}`)
    t.equal(isOutboxEnabled(env), outbox, `outbox: ${JSON.stringify(env)}`)
    t.equal(optionsFromEnv(env).outbox, outbox)
  }

  const dev = optionsFromEnv({})
  t.equal(dev.database, DEFAULT_DATABASE, 'SQLite under data/ by default')
  t.equal(dev.devMode, true)
  const prod = optionsFromEnv({ NODE_ENV: 'production', DATABASE_URL: 'postgres://u:pw@db/x', MFA_CODE_SECRET: 'c', JWT_SECRET: 'j' })
  t.same([prod.database, prod.devMode, prod.codeSecret, prod.jwtSecret], ['postgres://u:pw@db/x', false, 'c', 'j'], 'DATABASE_URL selects PostgreSQL')
  t.equal(describeDatabase('postgres://u:pw@db/x'), 'PostgreSQL postgres://u:***@db/x', 'the password stays out of the startup message')
  t.equal(describeDatabase('memory'), 'in memory (lost on restart)')
  t.equal(describeDatabase('data/x.db'), 'SQLite data/x.db')
})

test('the passkeys\' relying party follows HOST and PORT: localhost on loopback, the domain name itself, none on an IP address', async (t) => {
  const cases: Array<[string | undefined, number, ReturnType<typeof passkeyRelyingParty>]> = [
    [undefined, 3000, { rpID: 'localhost', origin: 'http://localhost:3000' }],
    ['', 3000, { rpID: 'localhost', origin: 'http://localhost:3000' }],
    ['127.0.0.1', 8080, { rpID: 'localhost', origin: 'http://localhost:8080' }],
    ['localhost', 3000, { rpID: 'localhost', origin: 'http://localhost:3000' }],
    ['0.0.0.0', 3000, { rpID: 'localhost', origin: 'http://localhost:3000' }],
    ['::', 3000, { rpID: 'localhost', origin: 'http://localhost:3000' }],
    ['::1', 3000, { rpID: 'localhost', origin: 'http://localhost:3000' }],
    ['[::1]', 3000, { rpID: 'localhost', origin: 'http://localhost:3000' }],
    ['demo.example.com', 3000, { rpID: 'demo.example.com', origin: 'https://demo.example.com' }],
    ['Demo.Example.COM', 3000, { rpID: 'demo.example.com', origin: 'https://demo.example.com' }],
    ['192.168.1.20', 3000, false],
    ['fe80::1', 3000, false],
    ['not a host', 3000, false]
  ]
  for (const [host, port, expected] of cases) t.same(passkeyRelyingParty(host, port), expected, `HOST ${JSON.stringify(host)}, PORT ${port}`)
  t.same(optionsFromEnv({}).passkey, { rpID: 'localhost', origin: 'http://localhost:3000' }, 'npm start: HOST and PORT unset')
  t.same(optionsFromEnv({ HOST: '0.0.0.0', PORT: '8443' }).passkey, { rpID: 'localhost', origin: 'http://localhost:8443' }, 'npm start: every address, another port')
  t.same(optionsFromEnv({ HOST: 'mfa.example.org', PORT: '8080' }).passkey, { rpID: 'mfa.example.org', origin: 'https://mfa.example.org' }, 'npm start: a domain name (behind a TLS proxy)')
  t.equal(optionsFromEnv({ HOST: '10.0.0.5' }).passkey, false, 'npm start: an IP address, no passkeys')
})

test('both surfaces offer the passkey type, for the relying party given (the default: localhost:3000); false leaves it out', async (t) => {
  const activatePasskey = async (app: FastifyInstance, url: string, token: string): Promise<LightMyRequestResponse> => await mfa(app, url, token, 'passkey')
  for (const [options, rpID, origin] of [
    [{}, 'localhost', 'http://localhost:3000'],
    [{ passkey: passkeyRelyingParty('127.0.0.1', 45678) }, 'localhost', 'http://localhost:45678'],
    [{ passkey: passkeyRelyingParty('shop.example.com', 3000) }, 'shop.example.com', 'https://shop.example.com']
  ] as Array<[DemoServerOptions, string, string]>) {
    const app = await server(t, options)
    const customer = await storefrontToken(app)
    const admin = await backendToken(app)
    const listed = await app.inject({ url: '/multi-factor-auth-types', headers: { authorization: `Bearer ${customer}` } })
    t.same(listed.json().data.map((d: any) => d.id), ['email', 'totp', 'passkey', 'recovery-codes'], `storefront types (${rpID})`)
    const storefront = await activatePasskey(app, '/multi-factor-auth-type-activate', customer)
    t.equal(storefront.statusCode, 201)
    t.match(storefront.json(), { data: { type: 'multi-factor-auth-type-activate', id: 'passkey', attributes: { type: 'passkey', options: { rp: { id: rpID, name: 'Glue MFA demo' }, user: { name: 'sonia@example.com' }, challenge: /^[\w-]+$/ } } } },
      `storefront: registration options for rpID ${rpID}`)
    const backend = await activatePasskey(app, '/backend/multi-factor-auth-type-activate', admin)
    t.equal(backend.statusCode, 201)
    t.match(backend.json().data.attributes.options, { rp: { id: rpID, name: 'Glue MFA demo back office' }, user: { name: 'admin@example.com' } }, `back office: registration options for rpID ${rpID}`)
    const config = (await app.inject({ url: '/demo/web-config' })).json()
    t.same(config.passkey, { rpID, origin }, 'the page is told the rpID and origin, to send a visitor on another address there')
  }

  // The origin is checked exactly: a passkey made on http://127.0.0.1:<port> is refused, one
  // made on http://localhost:<port> enabled, and its assertion passes a protected request.
  const app = await server(t, { passkey: passkeyRelyingParty('0.0.0.0', 45678) })
  const customer = await storefrontToken(app)
  const options = (await activatePasskey(app, '/multi-factor-auth-type-activate', customer)).json().data.attributes.options
  const onIp = new SoftAuthenticator('localhost', 'http://127.0.0.1:45678')
  t.equal(glueError(await mfa(app, '/multi-factor-auth-type-verify', customer, 'passkey', header(onIp.register(options)))), '403 5901 X-MFA-Code is invalid.', 'made on 127.0.0.1: refused')
  const onLocalhost = new SoftAuthenticator('localhost', 'http://localhost:45678')
  t.equal((await mfa(app, '/multi-factor-auth-type-verify', customer, 'passkey', header(onLocalhost.register(options)))).statusCode, 204, 'made on localhost: enabled')
  const challenge = await mfa(app, '/multi-factor-auth-trigger', customer, 'passkey')
  t.equal(challenge.statusCode, 201, 'the trigger answers a challenge')
  const cart = await app.inject({
    method: 'POST',
    url: '/carts',
    headers: { authorization: `Bearer ${customer}`, 'content-type': JSON_API, 'x-mfa-code': header(onLocalhost.assert(challenge.json().data.attributes.options)) },
    payload: { data: { type: 'carts', attributes: {} } }
  })
  t.equal(cart.statusCode, 201, 'the assertion passes the protected request')

  const none = await server(t, { passkey: false })
  const listed = await none.inject({ url: '/backend/multi-factor-auth-types', headers: { authorization: `Bearer ${await backendToken(none)}` } })
  t.same(listed.json().data.map((d: any) => d.id), ['email', 'totp', 'recovery-codes'], 'passkey: false: no passkey type')
  t.equal((await none.inject({ url: '/demo/web-config' })).json().passkey, null)
})

test('dev mode with the outbox off: no outbox route, no code logged, but dev-only keys still allowed', async (t) => {
  const logs = new LogCapture()
  const app = await server(t, { outbox: false, logger: { level: 'trace', stream: logs.stream } })
  t.equal((await app.inject({ url: '/dev/outbox' })).statusCode, 404)
  t.equal(glueError(await mfa(app, '/multi-factor-auth-type-activate', await storefrontToken(app))).split(' ')[1], '5910')
  t.notOk(logs.lines.some((l) => l.includes('dev outbox: code for')))
})

test('production mode refuses to start on dev-only secrets', async (t) => {
  await t.rejects(buildServer({ database: 'memory', logger: false, devMode: false }), /outside development mode .* set MFA_CODE_SECRET/)
  await t.rejects(buildServer({ database: 'memory', logger: false, devMode: false, codeSecret: SECRETS.codeSecret }), /JWT_SECRET/)
})

test('dev mode: the outbox shows each code, and the log says it', async (t) => {
  const logs = new LogCapture()
  const app = await server(t, { logger: { level: 'info', stream: logs.stream } })
  const token = await storefrontToken(app)
  t.equal((await mfa(app, '/multi-factor-auth-type-activate', token)).statusCode, 204)
  const outbox = await app.inject({ url: '/dev/outbox' })
  t.equal(outbox.statusCode, 200)
  t.match(outbox.headers['content-type'], /^application\/vnd\.api\+json/)
  const [message] = outbox.json().data
  t.match(message, { type: 'dev-outbox-messages', id: '1', attributes: { surface: 'storefront', to: 'sonia@example.com', principal: 'DE--1', mfaType: 'email' } })
  t.match(message.attributes.code, /^[1-9][0-9]{5}$/)
  t.ok(logs.lines.some((l) => l.includes(`dev outbox: code for DE--1 (sonia@example.com, storefront email) is ${message.attributes.code as string}`) && l.includes('"level":30')), 'logged at info level')
})

test('production mode: no outbox route, no code logged, email undeliverable (5910), TOTP works', async (t) => {
  const logs = new LogCapture()
  const app = await server(t, { devMode: false, ...SECRETS, logger: { level: 'trace', stream: logs.stream } })
  t.equal((await app.inject({ url: '/dev/outbox' })).statusCode, 404, 'no outbox')
  const token = await storefrontToken(app)
  t.equal(glueError(await mfa(app, '/multi-factor-auth-type-activate', token)), '400 5910 Something went wrong while sending your code. Please try again later or contact the system administrator.')
  t.equal((await mfa(app, '/multi-factor-auth-type-activate', token, 'totp')).statusCode, 201)
  t.notOk(logs.lines.some((l) => l.includes('dev outbox: code for')), 'no code in the log')
  t.ok(logs.lines.some((l) => l.includes('no mailer configured')), 'a warning says why email cannot work')

  const sent: string[] = []
  const mailed = await server(t, { devMode: false, ...SECRETS, mailer: async ({ code }) => { sent.push(code) } })
  t.equal((await mfa(mailed, '/multi-factor-auth-type-activate', await storefrontToken(mailed))).statusCode, 204, 'with a mailer, email works')
  t.equal(sent.length, 1)
  t.equal((await mailed.inject({ url: '/dev/outbox' })).statusCode, 404, 'and still no outbox')
})

test('logins: Glue-style /access-tokens and /backend/token; wrong credentials are a JSON:API 401', async (t) => {
  const app = await server(t)
  const ok = await storefrontLogin(app)
  t.equal(ok.statusCode, 201)
  t.match(ok.headers['content-type'], /^application\/vnd\.api\+json/)
  t.match(ok.json(), { data: { type: 'access-tokens', attributes: { tokenType: 'Bearer', expiresIn: 28800, accessToken: /^ey/ } } })

  for (const [username, password] of [['sonia@example.com', 'wrong'], ['nobody@example.com', 'change123']]) {
    const refused = await storefrontLogin(app, username, password)
    t.equal(glueError(refused), '401 003 Failed to authenticate user.', `${username} / ${password}`)
    t.match(refused.headers['content-type'], /^application\/vnd\.api\+json/)
  }
  const shape = await app.inject({ method: 'POST', url: '/access-tokens', headers: { 'content-type': JSON_API }, payload: { data: { type: 'carts', attributes: {} } } })
  t.equal(glueError(shape), '400 - Invalid type.')
  const broken = await app.inject({ method: 'POST', url: '/access-tokens', headers: { 'content-type': JSON_API }, payload: '{"data":' })
  t.equal(glueError(broken), '400 - Post data is invalid.')
  const text = await app.inject({ method: 'POST', url: '/access-tokens', headers: { 'content-type': 'application/xml' }, payload: '<a/>' })
  t.equal(glueError(text), '415 - Unsupported Media Type.', 'Fastify\'s own errors in JSON:API shape, without its wording')

  const backend = await app.inject({ method: 'POST', url: '/backend/token', payload: { username: 'admin@example.com', password: 'change123' } })
  t.equal(backend.statusCode, 200)
  t.match(backend.json(), { tokenType: 'Bearer', expiresIn: 3600, accessToken: /^ey/ })
  t.equal(glueError(await app.inject({ method: 'POST', url: '/backend/token', payload: { username: 'admin@example.com', password: 'x' } })), '401 003 Failed to authenticate user.')
  t.equal(glueError(await app.inject({ url: '/nowhere' })), '404 - Not Found.')
})

test('two surfaces: separate tokens, separate state, backend error codes', async (t) => {
  const app = await server(t)
  const customer = await storefrontToken(app)
  const user = await backendToken(app)
  const list = async (url: string, token: string): Promise<LightMyRequestResponse> => await app.inject({ url, headers: { authorization: `Bearer ${token}` } })

  t.equal(glueError(await list('/backend/multi-factor-auth-types', customer)), '401 001 Invalid access token.', 'a storefront token is no good in the back office')
  t.equal(glueError(await list('/multi-factor-auth-types', user)), '401 001 Invalid access token.', 'and the other way round')

  t.equal((await mfa(app, '/backend/multi-factor-auth-type-activate', user)).statusCode, 204)
  const backendList = (await list('/backend/multi-factor-auth-types', user)).json()
  t.same(backendList.links, { self: '/backend/multi-factor-auth-types' })
  t.equal(backendList.data[0].attributes.status, 1, 'back office: email pending')
  t.equal((await list('/multi-factor-auth-types', customer)).json().data[0].attributes.status, 0, 'storefront untouched')
  t.equal((await app.inject({ url: '/dev/outbox' })).json().data[0].attributes.surface, 'backend')
  t.equal(glueError(await app.inject({ method: 'PUT', url: '/backend/multi-factor-auth-types' })), '405 - Method Not Allowed.')
})

test('the MFA routes are rate-limited per IP (30 a minute each): a JSON:API 429 with Retry-After', async (t) => {
  const app = await server(t)
  const customer = await storefrontToken(app)
  const list = async (): Promise<LightMyRequestResponse> => await app.inject({ url: '/multi-factor-auth-types', headers: { authorization: `Bearer ${customer}` } })
  for (let i = 1; i <= MFA_RATE_LIMIT.max; i++) {
    const res = await list()
    if (res.statusCode !== 200) t.fail(`request ${i}: ${res.statusCode}`)
  }
  const limited = await list()
  t.equal(glueError(limited), '429 - Rate limit exceeded. Try again later.')
  t.equal(limited.headers['retry-after'], '60')
  t.equal((await app.inject({ url: '/backend/multi-factor-auth-types', headers: { authorization: `Bearer ${await backendToken(app)}` } })).statusCode, 200, 'each route counts on its own')
  t.equal((await storefrontLogin(app)).statusCode, 201, 'the demo\'s own routes are not limited')

  const unlimited = await server(t, { rateLimit: false })
  const token = await storefrontToken(unlimited)
  for (let i = 0; i <= MFA_RATE_LIMIT.max; i++) {
    const res = await unlimited.inject({ url: '/multi-factor-auth-types', headers: { authorization: `Bearer ${token}` } })
    if (res.statusCode !== 200) t.fail(`rateLimit: false, request ${i + 1}: ${res.statusCode}`)
  }
  t.pass('rateLimit: false turns it off')
})

test('protected demo resources: carts and customer-password by type, refunds by requireMfa', async (t) => {
  const app = await server(t)
  const customer = await storefrontToken(app)
  const user = await backendToken(app)
  const cart = async (headers: Record<string, string>): Promise<LightMyRequestResponse> => await app.inject({
    method: 'POST', url: '/carts', headers: { 'content-type': JSON_API, ...headers }, payload: { data: { type: 'carts', attributes: { currency: 'EUR' } } }
  })
  const password = async (id: string, code?: string, attributes = { password: 'change123', newPassword: 'changed-456', confirmPassword: 'changed-456' }): Promise<LightMyRequestResponse> => await app.inject({
    method: 'PATCH',
    url: `/customer-password/${id}`,
    headers: { authorization: `Bearer ${customer}`, 'content-type': JSON_API, ...(code === undefined ? {} : { 'x-mfa-code': code }) },
    payload: { data: { type: 'customer-password', attributes } }
  })
  const refund = async (headers: Record<string, string>): Promise<LightMyRequestResponse> => await app.inject({
    method: 'POST', url: '/backend/refunds', headers, payload: { orderReference: 'DE--1-1', amount: 500 }
  })

  t.equal(glueError(await cart({})), '403 002 Missing access token.', 'the host\'s own authentication')
  t.equal(glueError(await cart({ authorization: 'Bearer nope' })), '401 001 Invalid access token.')
  const created = await cart({ authorization: `Bearer ${customer}` })
  t.equal(created.statusCode, 201, 'no MFA yet: a cart without a code')
  t.match(created.json(), { data: { type: 'carts', attributes: { currency: 'EUR', store: 'DE' } }, links: { self: /^\/carts\// } })
  t.equal(glueError(await refund({})), '403 002 Missing access token.', 'requireMfa always wants a token')
  t.equal((await refund({ authorization: `Bearer ${user}` })).statusCode, 201)

  // Enable email on both surfaces.
  await mfa(app, '/multi-factor-auth-type-activate', customer)
  const customerCode = await outboxCode(app)
  t.equal((await mfa(app, '/multi-factor-auth-type-verify', customer, 'email', customerCode)).statusCode, 204)
  await mfa(app, '/backend/multi-factor-auth-type-activate', user)
  const userCode = await outboxCode(app)
  t.equal((await mfa(app, '/backend/multi-factor-auth-type-verify', user, 'email', userCode)).statusCode, 204)

  t.equal(glueError(await cart({ authorization: `Bearer ${customer}` })), '403 5900 X-MFA-Code header is missing.')
  t.equal((await cart({ authorization: `Bearer ${customer}`, 'x-mfa-code': customerCode })).statusCode, 201)
  t.equal((await app.inject({ url: '/carts', headers: { authorization: `Bearer ${customer}` } })).json().data.length, 2, 'GET needs no code')

  t.equal(glueError(await password('DE--1')), '403 5900 X-MFA-Code header is missing.')
  t.equal(glueError(await password('DE--2', customerCode)), '403 - Unauthorized request.', 'only one\'s own password')
  t.equal(glueError(await password('DE--1', customerCode, { password: 'wrong', newPassword: 'changed-456', confirmPassword: 'changed-456' })), '400 - The current password is wrong.')
  t.equal((await password('DE--1', customerCode)).statusCode, 204)
  t.equal((await storefrontLogin(app, 'sonia@example.com', 'changed-456')).statusCode, 201, 'the new password logs in')
  t.equal((await storefrontLogin(app)).statusCode, 401, 'the old one no longer')

  t.equal(glueError(await refund({ authorization: `Bearer ${user}` })), '403 5900 X-MFA-Code header is missing.')
  t.equal(glueError(await refund({ authorization: `Bearer ${user}`, 'x-mfa-code': customerCode })), '403 5901 X-MFA-Code is invalid.', 'a storefront code is no good in the back office')
  const refunded = await refund({ authorization: `Bearer ${user}`, 'x-mfa-code': userCode })
  t.equal(refunded.statusCode, 201)
  t.equal(refunded.json().refundedBy, 'user-1')
})

test('support: the back office resets a customer\'s MFA behind its own step-up; the customer is told', async (t) => {
  const app = await server(t)
  const customer = await storefrontToken(app)
  t.equal((await mfa(app, '/multi-factor-auth-type-activate', customer)).statusCode, 204)
  t.equal((await mfa(app, '/multi-factor-auth-type-verify', customer, 'email', await outboxCode(app))).statusCode, 204)
  const cart = async (): Promise<number> => (await app.inject({
    method: 'POST', url: '/carts', headers: { authorization: `Bearer ${customer}`, 'content-type': JSON_API }, payload: { data: { type: 'carts', attributes: { currency: 'EUR' } } }
  })).statusCode
  t.equal(await cart(), 403, 'the customer needs a code')

  // The back-office user enables their own MFA: the reset then needs their code.
  const admin = await backendToken(app)
  t.equal((await mfa(app, '/backend/multi-factor-auth-type-activate', admin)).statusCode, 204)
  const adminCode = await outboxCode(app)
  t.equal((await mfa(app, '/backend/multi-factor-auth-type-verify', admin, 'email', adminCode)).statusCode, 204)
  const reset = async (reference: string, code?: string, payload: unknown = {}): Promise<LightMyRequestResponse> => await app.inject({
    method: 'POST',
    url: `/backend/customers/${reference}/mfa-reset`,
    headers: { authorization: `Bearer ${admin}`, ...(code === undefined ? {} : { 'x-mfa-code': code }) },
    payload: payload as Record<string, unknown>
  })
  t.equal(glueError(await reset('DE--1')), '403 5900 X-MFA-Code header is missing.', 'the admin\'s own step-up')
  t.equal(glueError(await reset('DE--9', adminCode)), '404 - Customer not found.')
  const done = await reset('DE--1', adminCode)
  t.equal(done.statusCode, 200)
  t.same(done.json(), {
    customerReference: 'DE--1',
    disabled: ['email'],
    types: [{ type: 'email', status: 0 }, { type: 'totp', status: 0 }, { type: 'passkey', status: 0 }, { type: 'recovery-codes', status: 0, remaining: 0 }],
    resetBy: 'user-1'
  })
  t.equal(await cart(), 201, 'the customer is in without a code')

  const notifications = (await app.inject({ url: '/dev/notifications' })).json().data.map((d: any) => d.attributes)
  t.same(notifications.map((n: any) => [n.surface, n.to, n.event]), [
    ['storefront', 'sonia@example.com', 'admin.reset'],
    ['backend', 'admin@example.com', 'type.enabled'],
    ['storefront', 'sonia@example.com', 'type.enabled']
  ], 'each user is told, by email, newest first')
  t.notOk(JSON.stringify(notifications).includes(adminCode), 'no code in a notification')
})

test('production mode has no notifications route either', async (t) => {
  const app = await server(t, { devMode: false, ...SECRETS })
  t.equal((await app.inject({ url: '/dev/notifications' })).statusCode, 404)
})

test('Swagger UI and a valid OpenAPI document with the bearer scheme', async (t) => {
  const app = await server(t)
  const ui = await app.inject({ url: '/documentation/' })
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /text\/html/)
  const doc = (await app.inject({ url: '/documentation/json' })).json()
  const result = await new Validator().validate(doc)
  t.ok(result.valid, `valid: ${JSON.stringify(result.errors)}`)
  t.same(doc.components.securitySchemes.bearerAuth.scheme, 'bearer')
  for (const path of ['/multi-factor-auth-types', '/backend/multi-factor-auth-types', '/multi-factor-auth-type-activate', '/backend/multi-factor-auth-trigger', '/access-tokens', '/backend/token', '/carts', '/customer-password/{id}', '/backend/refunds', '/dev/outbox']) {
    t.ok(doc.paths[path], `${path} documented`)
  }
  t.notOk(Object.keys(doc.paths).some((p) => p.startsWith('/documentation')), 'the UI\'s own routes stay out')
})

test('state in a SQLite file under a folder the server creates, kept across restarts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'glue-mfa-server-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const database = join(dir, 'nested', 'demo.db')
  const first = await buildServer({ database, logger: false, devMode: true })
  await first.ready()
  const token = await storefrontToken(first)
  t.equal((await mfa(first, '/multi-factor-auth-type-activate', token, 'totp')).statusCode, 201)
  await first.close()
  t.ok(existsSync(database), 'the file and its folder exist')

  const second = await server(t, { database })
  const listed = await second.inject({ url: '/multi-factor-auth-types', headers: { authorization: `Bearer ${await storefrontToken(second)}` } })
  t.same(listed.json().data.map((d: any) => [d.id, d.attributes.status]), [['email', 0], ['totp', 1], ['passkey', 0], ['recovery-codes', 0]], 'the pending TOTP survived the restart')
})

test('state in PostgreSQL when the database is a postgres:// URL', async (t) => {
  const url = process.env.MFA_TEST_PG_URL
  if (url === undefined || url === '') {
    t.comment('MFA_TEST_PG_URL is not set: skipped')
    return
  }
  const prefix = `demo_${randomBytes(4).toString('hex')}_`
  const app = await server(t, { database: url, tablePrefix: prefix })
  const token = await storefrontToken(app)
  t.equal((await mfa(app, '/multi-factor-auth-type-activate', token)).statusCode, 204)
  const code = await outboxCode(app)
  t.equal((await mfa(app, '/multi-factor-auth-type-verify', token, 'email', code)).statusCode, 204)
  const listed = await app.inject({ url: '/multi-factor-auth-types', headers: { authorization: `Bearer ${token}` } })
  t.equal(listed.json().data[0].attributes.status, 2)
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(async () => {
    const tables = await client.query('SELECT tablename FROM pg_tables WHERE tablename LIKE $1', [`${prefix}%`])
    for (const { tablename } of tables.rows) await client.query(`DROP TABLE IF EXISTS "${tablename as string}"`)
    await client.end()
  })
  t.equal((await mfa(app, '/backend/multi-factor-auth-type-activate', await backendToken(app))).statusCode, 204)
  const rows = await client.query('SELECT tablename FROM pg_tables WHERE tablename LIKE $1 ORDER BY tablename', [`${prefix}%`])
  const tables = rows.rows.map((r: { tablename: string }) => r.tablename.slice(prefix.length))
  t.ok(tables.some((name: string) => name.startsWith('backend_')) && tables.some((name: string) => !name.startsWith('backend_')), `storefront and back-office tables: ${tables.join(', ')}`)
})

test('the readable dev log: one short line per entry', async (t) => {
  const lines: string[] = []
  const stream = readableLogStream({ write: (s: string) => { lines.push(s); return true } } as unknown as NodeJS.WritableStream)
  const time = Date.UTC(2026, 0, 1, 12, 34, 56)
  await new Promise<void>((resolve) => stream.write([
    JSON.stringify({ level: 30, time, msg: 'incoming request', req: { method: 'GET', url: '/x' } }),
    JSON.stringify({ level: 30, time, msg: 'request completed', res: { statusCode: 204 }, responseTime: 1.4 }),
    JSON.stringify({ level: 30, time, msg: 'mfa type.enabled', mfaEvent: { principalId: 'DE--1', type: 'email' } }),
    JSON.stringify({ level: 50, time, msg: 'boom', err: { type: 'Error', message: 'down' } }),
    'not json'
  ].join('\n') + '\n', () => resolve()))
  t.same(lines, [
    '12:34:56 INFO  incoming request GET /x\n',
    '12:34:56 INFO  request completed → 204 (1 ms)\n',
    '12:34:56 INFO  mfa type.enabled (DE--1, email)\n',
    '12:34:56 ERROR boom Error: down\n',
    'not json\n'
  ])
})
