// Issue 13, "No silent bypass": each test below reproduces one way a request used to reach a
// protected handler without the step-up check, and shows it is closed.
import { test, type Test } from 'tap'
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type LightMyRequestResponse } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifyJwt, { type FastifyJWTOptions } from '@fastify/jwt'
import glueMfa, { emailProvider, memoryRepository, requireMfa, type GlueMfaOptions } from '../lib/index.js'
import { CODE_SECRET, JWT_SECRET, Outbox, expectError, handledSecrets, post } from './helpers.js'

interface Host {
  app: FastifyInstance
  /** A token of `customer-1`, who has email MFA enabled. */
  tok: string
  /** A valid code of `customer-1`. */
  code: string
  sign: (sub: string) => string
}

interface HostSetup {
  jwt?: Partial<FastifyJWTOptions>
  cookie?: boolean
  mfa?: Partial<GlueMfaOptions>
  /** Runs before the plugin is registered. */
  before?: (app: FastifyInstance) => void | Promise<void>
  /** Registers the plugin; the default awaits `app.register(glueMfa, options)`. */
  register?: (app: FastifyInstance, plugin: typeof glueMfa, options: GlueMfaOptions) => void | Promise<void>
  /** Runs after the plugin is registered (or after the call to register, when not awaited). */
  after?: (app: FastifyInstance) => void | Promise<void>
}

const handler = async (): Promise<{ ok: true }> => ({ ok: true })

/** A host app; `customer-1` enables email MFA through the plugin's routes with a Bearer token. */
async function host (t: Test, setup: HostSetup = {}): Promise<Host> {
  const app = Fastify()
  t.teardown(() => app.close())
  if (setup.cookie === true) await app.register(fastifyCookie)
  await app.register(fastifyJwt, { secret: JWT_SECRET, ...setup.jwt } as FastifyJWTOptions)
  const outbox = new Outbox()
  const options: GlueMfaOptions = {
    providers: [emailProvider({ send: outbox.send })],
    repository: memoryRepository(),
    codeSecret: CODE_SECRET,
    protectedResources: ['carts'],
    ...setup.mfa
  }
  await setup.before?.(app)
  await (setup.register ?? (async (a, p, o) => { await a.register(p, o) }))(app, glueMfa, options)
  await setup.after?.(app)
  await app.ready()
  const sign = (sub: string): string => {
    const token = app.jwt.sign({ sub })
    handledSecrets.add(token)
    return token
  }
  const tok = sign('customer-1')
  const activated = await post(app, 'multi-factor-auth-type-activate', tok)
  t.equal(activated.statusCode, 204, 'activate with a Bearer token')
  const verified = await post(app, 'multi-factor-auth-type-verify', tok, { code: outbox.last() })
  t.equal(verified.statusCode, 204, 'verify with a Bearer token')
  return { app, tok, code: outbox.last(), sign }
}

async function call (app: FastifyInstance, method: string, url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return await app.inject({ method: method as 'POST', url, headers })
}

function listTypes (app: FastifyInstance, headers: Record<string, string>): Promise<LightMyRequestResponse> {
  return call(app, 'GET', '/multi-factor-auth-types', headers)
}

test('1a. a token in @fastify/jwt\'s cookie is found by the guard and by the five routes', async (t) => {
  const h = await host(t, {
    cookie: true,
    jwt: { cookie: { cookieName: 'token', signed: false } },
    mfa: { resendCooldown: 0 },
    after: (app) => { app.post('/carts', async (request) => ({ principal: request.principal })) }
  })
  const cookie = { cookie: `token=${h.tok}` }
  expectError(t, await call(h.app, 'POST', '/carts', cookie), 403, '5900', 'X-MFA-Code header is missing.')
  const passed = await call(h.app, 'POST', '/carts', { ...cookie, 'x-mfa-code': h.code })
  t.equal(passed.statusCode, 200, 'with the code')
  t.same(passed.json(), { principal: { id: 'customer-1' } }, 'the principal comes from the cookie')
  t.equal((await listTypes(h.app, cookie)).statusCode, 200, 'the list reads the cookie')
  const write = await h.app.inject({ method: 'POST', url: '/multi-factor-auth-trigger', headers: { ...cookie, 'content-type': 'application/json' }, payload: { data: { type: 'multi-factor-auth-trigger', attributes: { type: 'email' } } } })
  t.equal(write.statusCode, 204, 'a POST resource reads the cookie')

  expectError(t, await listTypes(h.app, {}), 403, '002', 'Missing access token.')
  expectError(t, await listTypes(h.app, { cookie: 'other=1' }), 403, '002')
  t.same((await call(h.app, 'POST', '/carts', { cookie: 'other=1' })).json(), { principal: null }, 'no token anywhere: anonymous on protectedResources')
  expectError(t, await listTypes(h.app, { cookie: 'token=not.a.jwt' }), 401, '001', 'Invalid access token.')
  expectError(t, await call(h.app, 'POST', '/carts', { cookie: 'token=not.a.jwt' }), 401, '001')
  t.equal((await listTypes(h.app, { authorization: `Bearer ${h.tok}`, cookie: 'token=not.a.jwt' })).statusCode, 200, 'the header comes first, as in @fastify/jwt')
})

test('1b. a token found by @fastify/jwt\'s verify.extractToken is found by the guard and by the five routes', async (t) => {
  const h = await host(t, {
    jwt: {
      verify: {
        extractToken: (request) => {
          const value = request.headers['x-access-token']
          if (value === 'explode') throw new Error('extractor failed')
          return typeof value === 'string' ? value : (request.headers.authorization ?? '').replace(/^Bearer /, '')
        }
      }
    },
    after: (app) => { app.post('/carts', async (request) => ({ principal: request.principal })) }
  })
  const header = { 'x-access-token': h.tok }
  expectError(t, await call(h.app, 'POST', '/carts', header), 403, '5900', 'X-MFA-Code header is missing.')
  t.equal((await call(h.app, 'POST', '/carts', { ...header, 'x-mfa-code': h.code })).statusCode, 200, 'with the code')
  t.equal((await listTypes(h.app, header)).statusCode, 200, 'the list reads the extracted token')

  expectError(t, await listTypes(h.app, {}), 403, '002', 'Missing access token.')
  t.same((await call(h.app, 'POST', '/carts')).json(), { principal: null }, 'nothing extracted: anonymous on protectedResources')
  expectError(t, await listTypes(h.app, { 'x-access-token': 'not.a.jwt' }), 401, '001', 'Invalid access token.')
  expectError(t, await call(h.app, 'POST', '/carts', { 'x-access-token': 'not.a.jwt' }), 401, '001')
  // An extractor that throws finds no way around the guard.
  expectError(t, await listTypes(h.app, { 'x-access-token': 'explode' }), 401, '001')
  expectError(t, await call(h.app, 'POST', '/carts', { 'x-access-token': 'explode' }), 401, '001')
})

test('1c. @fastify/jwt with a cookie option but no @fastify/cookie: no token is found', async (t) => {
  const h = await host(t, {
    jwt: { cookie: { cookieName: 'token', signed: false } },
    after: (app) => { app.post('/carts', async (request) => ({ principal: request.principal })) }
  })
  expectError(t, await listTypes(h.app, { cookie: `token=${h.tok}` }), 403, '002')
  t.same((await call(h.app, 'POST', '/carts', { cookie: `token=${h.tok}` })).json(), { principal: null })
  expectError(t, await call(h.app, 'POST', '/carts', { authorization: `Bearer ${h.tok}` }), 403, '5900') // the header still works
})

test('2. requireMfa on a GET route needs a token and, once MFA is on, a code', async (t) => {
  const h = await host(t, {
    after: (app) => {
      app.get('/orders', { preHandler: app.requireMfa }, async (request) => ({ principal: request.principal }))
      app.get('/carts', handler)
    }
  })
  expectError(t, await call(h.app, 'GET', '/orders'), 403, '002', 'Missing access token.')
  t.equal((await call(h.app, 'HEAD', '/orders')).statusCode, 403, 'HEAD too (002, without a body)')
  const auth = { authorization: `Bearer ${h.tok}` }
  expectError(t, await call(h.app, 'GET', '/orders', auth), 403, '5900')
  expectError(t, await call(h.app, 'GET', '/orders', { ...auth, 'x-mfa-code': '000000' }), 403, '5901')
  t.same((await call(h.app, 'GET', '/orders', { ...auth, 'x-mfa-code': h.code })).json(), { principal: { id: 'customer-1' } })
  t.equal((await call(h.app, 'GET', '/orders', { authorization: `Bearer ${h.sign('no-mfa')}` })).statusCode, 200, 'no MFA, no code needed')
  t.equal((await call(h.app, 'GET', '/carts', auth)).statusCode, 200, 'protectedResources still lets reads pass')
  t.equal((await call(h.app, 'GET', '/carts')).statusCode, 200)
})

const onCarts: FastifyPluginAsync = async (scope) => { scope.post('/carts', handler) }

for (const [name, setup] of [
  ['a route declared before register', { before: (app) => { app.post('/carts', handler) } }],
  ['a route in a sibling plugin registered (and awaited) earlier', { before: async (app) => { await app.register(onCarts) } }],
  ['a route in a sibling plugin registered earlier, nothing awaited', {
    before: (app) => { app.register(async (scope) => { scope.register(onCarts) }) },
    register: (app, plugin, options) => { app.register(plugin, options) }
  }],
  ['a route declared after a register that is not awaited', {
    register: (app, plugin, options) => { app.register(plugin, options) },
    after: (app) => { app.post('/carts', handler) }
  }]
] as Array<[string, HostSetup]>) {
  test(`3. ${name} is guarded`, async (t) => {
    const h = await host(t, setup)
    const auth = { authorization: `Bearer ${h.tok}` }
    expectError(t, await call(h.app, 'POST', '/carts', auth), 403, '5900')
    t.equal((await call(h.app, 'POST', '/carts', { ...auth, 'x-mfa-code': h.code })).statusCode, 200)
  })
}

test('3. the requireMfa export guards a route declared before the plugin, in any scope below it', async (t) => {
  const h = await host(t, {
    before: async (app) => {
      t.equal(app.requireMfa, undefined, 'the decorator does not exist yet: preHandler: app.requireMfa would be no guard')
      app.post('/orders', { preHandler: requireMfa }, async (request) => ({ principal: request.principal }))
      await app.register(async (scope) => { scope.get('/orders/:id', { preHandler: [requireMfa] }, handler) })
    }
  })
  expectError(t, await call(h.app, 'POST', '/orders'), 403, '002')
  const auth = { authorization: `Bearer ${h.tok}` }
  expectError(t, await call(h.app, 'POST', '/orders', auth), 403, '5900')
  t.same((await call(h.app, 'POST', '/orders', { ...auth, 'x-mfa-code': h.code })).json(), { principal: { id: 'customer-1' } })
  expectError(t, await call(h.app, 'GET', '/orders/1', auth), 403, '5900')
  t.equal((await call(h.app, 'GET', '/orders/1', { ...auth, 'x-mfa-code': h.code })).statusCode, 200)
})

test('3. the requireMfa export in a scope without the plugin is a JSON:API 500, never a pass', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(() => app.close())
  await app.register(fastifyJwt, { secret: JWT_SECRET })
  await app.register(async (scope) => {
    await scope.register(glueMfa, { providers: [emailProvider({ send: () => {} })], repository: memoryRepository(), codeSecret: CODE_SECRET })
  })
  app.post('/orders', { preHandler: requireMfa }, handler)
  const res = await call(app, 'POST', '/orders', { authorization: `Bearer ${app.jwt.sign({ sub: 'customer-1' })}` })
  expectError(t, res, 500, undefined, 'Internal server error.')
  t.match(lines.join('\n'), /fastify-glue-mfa is not registered in the scope of POST \/orders/, 'the log says why')
})

test('6. a method override after routing cannot skip the guard on a write-only route', async (t) => {
  const h = await host(t, {
    mfa: { protectedResources: ['carts', 'lines'] },
    before: (app) => {
      // The naive override: rewrites the method after Fastify has routed the request.
      app.addHook('onRequest', (request, _reply, done) => {
        const override = request.headers['x-http-method-override']
        if (typeof override === 'string') request.raw.method = override.toUpperCase()
        done()
      })
    },
    after: (app) => {
      app.post('/carts', handler)
      app.route({ method: ['PUT', 'DELETE'], url: '/carts/:id', handler })
      app.route({ method: ['GET', 'POST'], url: '/carts/:id/lines', handler })
    }
  })
  const auth = { authorization: `Bearer ${h.tok}` }
  for (const override of ['GET', 'HEAD', 'OPTIONS']) {
    expectError(t, await call(h.app, 'POST', '/carts', { ...auth, 'x-http-method-override': override }), 403, '5900')
    expectError(t, await call(h.app, 'DELETE', '/carts/1', { ...auth, 'x-http-method-override': override }), 403, '5900')
  }
  t.equal((await call(h.app, 'POST', '/carts', { ...auth, 'x-http-method-override': 'GET', 'x-mfa-code': h.code })).statusCode, 200)
  // On a route serving reads and writes the method at guard time decides (the README says so).
  t.equal((await call(h.app, 'POST', '/carts/1/lines', { ...auth, 'x-http-method-override': 'GET' })).statusCode, 200)
  expectError(t, await call(h.app, 'GET', '/carts/1/lines', { ...auth, 'x-http-method-override': 'POST' }), 403, '5900')
})

test('1. a namespaced @fastify/jwt whose request decorator is named jwtVerify still works', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyJwt, { secret: JWT_SECRET, namespace: 'customer', jwtVerify: 'jwtVerify' })
  await app.register(glueMfa, { providers: [emailProvider({ send: () => {} })], repository: memoryRepository(), codeSecret: CODE_SECRET })
  const signer = Fastify()
  t.teardown(() => signer.close())
  await signer.register(fastifyJwt, { secret: JWT_SECRET })
  t.equal((await listTypes(app, { authorization: `Bearer ${signer.jwt.sign({ sub: 'customer-1' })}` })).statusCode, 200)
  expectError(t, await listTypes(app, {}), 403, '002')
  expectError(t, await listTypes(app, { authorization: 'Bearer not.a.jwt' }), 401, '001')
})
