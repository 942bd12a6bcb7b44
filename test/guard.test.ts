import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp, expectError, LogCapture, post, type TestApp } from './helpers.js'

function routes (app: FastifyInstance): void {
  app.post('/carts', async () => ({ ok: 'carts' }))
  app.get('/carts', async () => ({ ok: 'read' }))
  app.patch('/carts/:id', async () => ({ ok: 'patch' }))
  app.put('/customers/:id/addresses/:addressId', async () => ({ ok: 'address' }))
  app.delete('/customer-password/:id', async () => ({ ok: 'password' }))
  app.route({ method: ['GET', 'HEAD', 'OPTIONS'], url: '/carts/:id/items', handler: async () => ({ ok: 'safe' }) })
  app.post('/customers', { preHandler: async () => {} }, async (request) => ({ principal: request.principal }))
  app.post('/wishlists', async () => ({ ok: 'unprotected' }))
  app.post('/:anything', async () => ({ ok: 'no static segment' }))
  app.route({ method: ['GET', 'POST'], url: '/carts/:id/lines', handler: async () => ({ ok: 'lines' }) })
  app.post('/orders', { preHandler: app.requireMfa }, async (request) => ({ principal: request.principal }))
  app.setErrorHandler((_error, _request, reply) => reply.code(599).send({ host: 'reshaped' }))
}

async function enabled (): Promise<TestApp & { tok: string, code: string }> {
  const s = await buildApp({ maxAttempts: 10, protectedResources: ['carts', 'addresses', 'customer-password', 'customers', 'items', 'lines'] }, routes)
  const tok = s.token()
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  await post(s.app, 'multi-factor-auth-type-verify', tok, { code: s.outbox.last() })
  return { ...s, tok, code: s.outbox.last() }
}

async function call (app: FastifyInstance, method: string, url: string, headers: Record<string, string> = {}): Promise<Awaited<ReturnType<FastifyInstance['inject']>>> {
  return await app.inject({ method: method as 'POST', url, headers })
}

test('writes on protected resources need a code; the resource is the last static segment', async (t) => {
  const s = await enabled()
  t.teardown(() => s.app.close())
  const auth = { authorization: `Bearer ${s.tok}` }
  for (const [method, url] of [['POST', '/carts'], ['PATCH', '/carts/1'], ['PUT', '/customers/1/addresses/2'], ['DELETE', '/customer-password/1']]) {
    expectError(t, await call(s.app, method, url, auth), 403, '5900', 'X-MFA-Code header is missing.')
    expectError(t, await call(s.app, method, url, { ...auth, 'x-mfa-code': '' }), 403, '5900')
    expectError(t, await call(s.app, method, url, { ...auth, 'x-mfa-code': 'nope' }), 403, '5901', 'X-MFA-Code is invalid.')
    t.equal((await call(s.app, method, url, { ...auth, 'x-mfa-code': s.code })).statusCode, 200, `${method} ${url} with the code`)
  }
  t.equal((await call(s.app, 'GET', '/carts', auth)).statusCode, 200, 'GET passes')
  t.equal((await call(s.app, 'HEAD', '/carts/1/items', auth)).statusCode, 200, 'HEAD passes')
  t.equal((await call(s.app, 'OPTIONS', '/carts/1/items', auth)).statusCode, 200, 'OPTIONS passes')
  t.equal((await call(s.app, 'POST', '/wishlists', auth)).statusCode, 200, 'an unprotected route is untouched')
  t.equal((await call(s.app, 'POST', '/x', auth)).statusCode, 200, 'a route without a static segment has no resource type')
  t.equal((await call(s.app, 'GET', '/carts/1/lines', auth)).statusCode, 200, 'GET on a GET+POST route passes')
  expectError(t, await call(s.app, 'POST', '/carts/1/lines', auth), 403, '5900')
})

test('the guard answers its own JSON:API errors, whatever the host error handler does', async (t) => {
  const s = await enabled()
  t.teardown(() => s.app.close())
  const res = await call(s.app, 'POST', '/carts', { authorization: 'Bearer forged.token.here' })
  expectError(t, res, 401, '001', 'Invalid access token.')
  const noId = await call(s.app, 'POST', '/carts', { authorization: `Bearer ${s.token(null)}` })
  expectError(t, noId, 400, '5905')
})

test('anonymous writes pass on resources protected by type only; requireMfa always needs a token', async (t) => {
  const s = await enabled()
  t.teardown(() => s.app.close())
  const anonymous = await call(s.app, 'POST', '/customers')
  t.equal(anonymous.statusCode, 200)
  t.same(anonymous.json(), { principal: null }, 'request.principal stays null')
  expectError(t, await call(s.app, 'POST', '/orders'), 403, '002', 'Missing access token.')
})

test('requireMfa works on a route outside protectedResources and sets request.principal', async (t) => {
  const s = await enabled()
  t.teardown(() => s.app.close())
  const auth = { authorization: `Bearer ${s.tok}` }
  expectError(t, await call(s.app, 'POST', '/orders', auth), 403, '5900')
  const res = await call(s.app, 'POST', '/orders', { ...auth, 'x-mfa-code': s.code })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { principal: { id: 'customer-1' } })
  const other = await call(s.app, 'POST', '/orders', { authorization: `Bearer ${s.token('no-mfa')}` })
  t.same(other.json(), { principal: { id: 'no-mfa' } }, 'a principal without MFA passes')
})

test('pending types never require a code; no MFA means no header needed', async (t) => {
  const s = await buildApp({ protectedResources: ['carts'] }, routes)
  t.teardown(() => s.app.close())
  const tok = s.token()
  t.equal((await call(s.app, 'POST', '/carts', { authorization: `Bearer ${tok}` })).statusCode, 200)
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  t.equal((await call(s.app, 'POST', '/carts', { authorization: `Bearer ${tok}` })).statusCode, 200, 'pending: still no code needed')
  t.same(s.events.map((e) => e.name), ['type.pending', 'code.sent'], 'no step-up events without enabled types')
})

test('the guard is a scope-level preHandler: it keeps a route\'s own preHandlers and runs before them', async (t) => {
  const order: string[] = []
  const s = await buildApp({ protectedResources: ['carts'] }, (app) => {
    app.post('/carts', { preHandler: [async () => { order.push('host') }] }, async () => { order.push('handler'); return {} })
  })
  t.teardown(() => s.app.close())
  const tok = s.token()
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  await post(s.app, 'multi-factor-auth-type-verify', tok, { code: s.outbox.last() })
  t.equal((await call(s.app, 'POST', '/carts', { authorization: `Bearer ${tok}` })).statusCode, 403)
  t.same(order, [], 'neither the route\'s preHandler nor the handler ran')
  t.equal((await call(s.app, 'POST', '/carts', { authorization: `Bearer ${tok}`, 'x-mfa-code': s.outbox.last() })).statusCode, 200)
  t.same(order, ['host', 'handler'])
})

test('a repository failure in the guard is a JSON:API 500', async (t) => {
  const s = await enabled()
  t.teardown(() => s.app.close())
  s.repository.getTypes = async () => { throw new Error('connection lost') }
  const res = await call(s.app, 'POST', '/carts', { authorization: `Bearer ${s.tok}`, 'x-mfa-code': s.code })
  expectError(t, res, 500, undefined, 'Internal server error.')
})

test('the guard accepts a code of any enabled type and counts a wrong one against each', async (t) => {
  const s = await enabled()
  t.teardown(() => s.app.close())
  await call(s.app, 'POST', '/carts', { authorization: `Bearer ${s.tok}`, 'x-mfa-code': '42' })
  t.equal((await s.repository.getType('customer-1', 'email'))?.code?.attempts, 1)
  t.same(s.events.slice(-2).map((e) => e.name), ['code.rejected', 'stepup.denied'])
})

test('the resource type of a route pattern: its last static segment, whatever the slashes', async (t) => {
  const { resourceTypeOf } = await import('../lib/guard.js')
  t.equal(resourceTypeOf('/carts'), 'carts')
  t.equal(resourceTypeOf('/carts/'), 'carts', 'a trailing slash')
  t.equal(resourceTypeOf('//carts//'), 'carts', 'doubled slashes')
  t.equal(resourceTypeOf('/customers/:id/addresses/:addressId'), 'addresses', 'parameters are skipped')
  t.equal(resourceTypeOf('/carts/:id/'), 'carts', 'a parameter and a trailing slash')
  t.equal(resourceTypeOf('/files/*'), 'files', 'a wildcard is skipped')
  t.equal(resourceTypeOf('/files/*.pdf'), 'files', 'a segment with a wildcard in it is skipped')
  t.equal(resourceTypeOf('/'), null)
  t.equal(resourceTypeOf(''), null)
  t.equal(resourceTypeOf('/:id'), null, 'parameters only')
})

test('a protected route declared with a trailing slash, or with a single preHandler of its own, keeps its step-up', async (t) => {
  const order: string[] = []
  const s = await buildApp({ protectedResources: ['carts', 'baskets'] }, (app) => {
    app.post('/carts/', async () => ({ ok: 'trailing' }))
    app.post('/baskets/:id/', { preHandler: async () => { order.push('host') } }, async () => ({ ok: 'basket' }))
  })
  t.teardown(() => s.app.close())
  const tok = s.token()
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  await post(s.app, 'multi-factor-auth-type-verify', tok, { code: s.outbox.last() })
  const auth = { authorization: `Bearer ${tok}` }
  for (const url of ['/carts/', '/baskets/1/']) {
    expectError(t, await call(s.app, 'POST', url, auth), 403, '5900')
    t.equal((await call(s.app, 'POST', url, { ...auth, 'x-mfa-code': s.outbox.last() })).statusCode, 200, `${url} with the code`)
  }
  t.same(order, ['host'], 'the route\'s own preHandler ran once, after the step-up passed')
})

test('a step-up that fails on the server is logged as an error; a refused code is not', async (t) => {
  const logs = new LogCapture()
  const s = await buildApp({ protectedResources: ['carts'] }, routes, logs)
  t.teardown(() => s.app.close())
  const tok = s.token()
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  await post(s.app, 'multi-factor-auth-type-verify', tok, { code: s.outbox.last() })
  const failed = (): Array<Record<string, any>> => logs.lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'fastify-glue-mfa: step-up failed')
  expectError(t, await call(s.app, 'POST', '/carts', { authorization: `Bearer ${tok}`, 'x-mfa-code': '1' }), 403, '5901')
  expectError(t, await call(s.app, 'POST', '/carts', { authorization: `Bearer ${tok}` }), 403, '5900')
  t.same(failed(), [], 'refusals are answers, not errors')
  s.repository.getTypes = async () => { throw new Error('connection lost') }
  expectError(t, await call(s.app, 'POST', '/carts', { authorization: `Bearer ${tok}`, 'x-mfa-code': s.outbox.last() }), 500, undefined, 'Internal server error.')
  const lines = failed()
  t.equal(lines.length, 1, 'one error line')
  t.equal(lines[0].level, 50, 'at level error')
  t.equal(lines[0].err?.message, 'connection lost', 'with the store\'s error')
})

test('around the protected routes: not-found answers 404, a read-only route stays unguarded whatever method it shows, the token is verified once', async (t) => {
  let verified = 0
  const s = await buildApp({ protectedResources: ['carts'] }, (app) => {
    app.addHook('onRequest', (request, _reply, done) => {
      const verify = request.jwtVerify.bind(request)
      // @fastify/jwt's promise form calls its callback form again: only calls without a callback count.
      request.jwtVerify = ((...args: unknown[]) => {
        if (!args.some((a) => typeof a === 'function')) verified++
        return (verify as (...a: unknown[]) => unknown)(...args)
      }) as typeof request.jwtVerify
      const override = request.headers['x-http-method-override']
      if (typeof override === 'string') request.raw.method = override
      done()
    })
    app.get('/carts/:id', async () => ({ ok: 'read' }))
    app.post('/carts', { preHandler: app.requireMfa }, async (request) => ({ principal: request.principal }))
  })
  t.teardown(() => s.app.close())
  const tok = s.token()
  await post(s.app, 'multi-factor-auth-type-activate', tok)
  await post(s.app, 'multi-factor-auth-type-verify', tok, { code: s.outbox.last() })
  const auth = { authorization: `Bearer ${tok}` }
  t.equal((await call(s.app, 'POST', '/nowhere', auth)).statusCode, 404, 'the not-found handler has no route url: not guarded, not a 500')
  t.equal((await call(s.app, 'GET', '/carts/1', { ...auth, 'x-http-method-override': 'POST' })).statusCode, 200, 'a route that declares reads only is never guarded')
  verified = 0
  const res = await call(s.app, 'POST', '/carts', { ...auth, 'x-mfa-code': s.outbox.last() })
  t.same(res.json(), { principal: { id: 'customer-1' } })
  t.equal(verified, 1, 'the resource guard and requireMfa on one route: the token is verified once')
})

test('the guard is left on the instance under Symbol.for(\'fastify-glue-mfa.guard\'), which the ESM and CommonJS builds share', async (t) => {
  const { kGuard } = await import('../lib/guard.js')
  t.equal(kGuard, Symbol.for('fastify-glue-mfa.guard'))
  const s = await buildApp()
  t.teardown(() => s.app.close())
  t.type((s.app as unknown as Record<symbol, { requireMfa: unknown }>)[Symbol.for('fastify-glue-mfa.guard')]?.requireMfa, 'function')
})
