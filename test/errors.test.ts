import { test } from 'tap'
import { buildApp, expectError, post } from './helpers.js'

const verifyBody = JSON.stringify({ data: { type: 'multi-factor-auth-type-verify', attributes: { type: 'email' } } })

test("Fastify's own failures on the plugin's routes are JSON:API error documents", async (t) => {
  const { app, token } = await buildApp({ prefix: '/mfa' })
  t.teardown(() => app.close())
  const auth = { authorization: `Bearer ${token()}` }
  const send = async (method: string, url: string, headers: Record<string, string>, payload?: string): Promise<Awaited<ReturnType<typeof app.inject>>> =>
    await app.inject({ method: method as 'POST', url, headers: { ...auth, ...headers }, payload })

  expectError(t, await send('POST', '/mfa/multi-factor-auth-type-verify', { 'content-type': 'application/json' }, '{"data":'), 400, undefined, 'Post data is invalid.')
  expectError(t, await send('POST', '/mfa/multi-factor-auth-type-verify', { 'content-type': 'application/json' }, ''), 400, undefined, 'Post data is invalid.')
  // The 415 names the media types the routes accept.
  const unsupported = 'Unsupported content type. Use application/vnd.api+json or application/json.'
  expectError(t, await send('POST', '/mfa/multi-factor-auth-type-verify', { 'content-type': 'text/plain' }, verifyBody), 415, undefined, unsupported)
  expectError(t, await send('POST', '/mfa/multi-factor-auth-type-verify', { 'content-type': 'application/xml' }, '<a/>'), 415, undefined, unsupported)
  expectError(t, await send('POST', '/mfa/multi-factor-auth-type-verify', { 'content-type': 'application/json' }, JSON.stringify({ data: { type: 'multi-factor-auth-type-verify', attributes: { type: 'x'.repeat(1_100_000) } } })), 413, undefined, 'Request body is too large.')
  expectError(t, await send('POST', '/mfa/multi-factor-auth-type-verify', { 'content-type': 'application/json' }, '{"__proto__":{"polluted":true},"data":{}}'), 400, undefined, 'Post data is invalid.')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched')
  expectError(t, await send('GET', '/mfa/nothing-here', {}), 404, undefined, 'Not Found.')
  const wrongMethod = await send('DELETE', '/mfa/multi-factor-auth-types', {})
  expectError(t, wrongMethod, 405, undefined, 'Method Not Allowed.')
  t.equal(wrongMethod.headers.allow, 'GET, HEAD')
  t.equal((await send('GET', '/mfa/multi-factor-auth-trigger', {})).headers.allow, 'POST')
  const vnd = await send('POST', '/mfa/multi-factor-auth-type-verify', { 'content-type': 'application/vnd.api+json' }, verifyBody)
  expectError(t, vnd, 403, '5900', 'X-MFA-Code header is missing.')
})

test('body shape errors: Post data is invalid. / Invalid type. Expected "<the route\'s type>".', async (t) => {
  const { app, token } = await buildApp()
  t.teardown(() => app.close())
  const resource = 'multi-factor-auth-type-activate'
  // Glue's exact 'Invalid type.' comes first, so clients matching it still match; then the fix.
  const invalidType = 'Invalid type. Expected "multi-factor-auth-type-activate".'
  const cases: Array<[string, unknown, string]> = [
    ['no data', {}, 'Post data is invalid.'],
    ['data not an object', { data: 'x' }, 'Post data is invalid.'],
    ['no attributes', { data: { type: resource } }, 'Post data is invalid.'],
    ['attributes null', { data: { type: resource, attributes: null } }, 'Post data is invalid.'],
    ['array body', [1, 2], 'Post data is invalid.'],
    // Sent as they are: JSON documents that are not objects.
    ['a JSON number', '5', 'Post data is invalid.'],
    ['JSON null', 'null', 'Post data is invalid.'],
    ['wrong data.type', { data: { type: 'multi-factor-auth-trigger', attributes: { type: 'email' } } }, invalidType],
    ['data.type a number', { data: { type: 5, attributes: { type: 'email' } } }, invalidType],
    ['no data.type', { data: { attributes: { type: 'email' } } }, 'Post data is invalid.']
  ]
  for (const [name, payload, detail] of cases) {
    t.test(name, async (t) => { expectError(t, await post(app, resource, token(), { payload }), 400, undefined, detail) })
  }
  expectError(t, await post(app, resource, token(), { payload: { data: { type: resource, attributes: {} } } }), 400, '5902')
  const cases5902: Array<[string, unknown]> = [['null', null], ['empty', ''], ['a number', 5], ['an object', { a: 1 }], ['an array', ['email']]]
  for (const [name, type] of cases5902) {
    t.test(`attributes.type ${name}`, async (t) => {
      expectError(t, await post(app, resource, token(), { type }), 400, '5902', 'Multi-factor authentication type is missing.')
    })
  }
  expectError(t, await post(app, resource, token(), { type: 'pigeon' }), 400, '5906', 'Multi-factor authentication type is not found.')
  // Each route names its own type.
  for (const other of ['multi-factor-auth-type-verify', 'multi-factor-auth-type-deactivate', 'multi-factor-auth-trigger']) {
    expectError(t, await post(app, other, token(), { payload: { data: { type: resource, attributes: { type: 'email' } } } }), 400, undefined, `Invalid type. Expected "${other}".`)
  }
})

test('headers that fail their schema are a JSON:API 400', async (t) => {
  const { app } = await buildApp()
  t.teardown(() => app.close())
  const { toJsonApiError } = await import('../lib/jsonapi.js')
  const error = Object.assign(new Error('bad'), { validation: [{ instancePath: '/x-mfa-code' }], validationContext: 'headers', statusCode: 400 })
  t.same(toJsonApiError(error as never), { status: 400, detail: 'Request headers are invalid.' })
  const bodyError = Object.assign(new Error('bad'), { validation: [{ instancePath: '/data/type' }], validationContext: 'body', statusCode: 400 })
  t.same(toJsonApiError(bodyError as never), { status: 400, detail: 'Invalid type.' }, 'without a known resource type: Glue\'s text alone')
  t.same(toJsonApiError(bodyError as never, 'carts'), { status: 400, detail: 'Invalid type. Expected "carts".' })
  const odd = Object.assign(new Error('teapot'), { statusCode: 418 })
  t.same(toJsonApiError(odd as never), { status: 418, detail: "I'm a Teapot." })
  const weird = Object.assign(new Error('weird'), { statusCode: 499 })
  t.same(toJsonApiError(weird as never), { status: 499, detail: 'Bad Request.' })
  const noStatus = new Error('boom')
  t.same(toJsonApiError(noStatus as never), { status: 500, detail: 'Internal server error.' })
})

test('a type name that is not a string answers 5902 in its turn: after the principal and the code header', async (t) => {
  const { app, token } = await buildApp()
  t.teardown(() => app.close())
  const verify = 'multi-factor-auth-type-verify'
  for (const type of [5, { a: 1 }, ['email'], true, null]) {
    t.test(JSON.stringify(type), async (t) => {
      expectError(t, await post(app, verify, token(null), { type, code: '123456' }), 400, '5905')
      expectError(t, await post(app, verify, token(), { type }), 403, '5900')
      expectError(t, await post(app, verify, token(), { type, code: '123456' }), 400, '5902')
    })
  }
  // A wrong frame still answers first, whatever the type name.
  expectError(t, await post(app, verify, token(), { payload: { data: { type: 'x', attributes: { type: 5 } } } }), 400, undefined, `Invalid type. Expected "${verify}".`)
  expectError(t, await post(app, verify, token(), { payload: { data: { type: verify, attributes: [] } } }), 400, undefined, 'Post data is invalid.')
})
