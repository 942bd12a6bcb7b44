import { test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import fastifySwagger from '@fastify/swagger'
import { Validator } from '@seriousme/openapi-schema-validator'
import glueMfa, { emailProvider, memoryRepository, totpProvider, type GlueMfaOptions } from '../lib/index.js'
import { CODE_SECRET, JWT_SECRET } from './helpers.js'

const JSON_API = 'application/vnd.api+json'
const POSTS = ['multi-factor-auth-type-activate', 'multi-factor-auth-type-verify', 'multi-factor-auth-type-deactivate', 'multi-factor-auth-trigger']
const LIST = 'multi-factor-auth-types'
const ERROR_STATUSES = ['400', '401', '403', '404', '413', '415', '429', '500']
// A GET has no body to be too large or of the wrong media type.
const LIST_ERROR_STATUSES = ['400', '401', '403', '404', '429', '500']

/** An app documenting itself as a host would: @fastify/swagger first, then the plugin (twice). */
async function documented (openapi: string, overrides: Partial<GlueMfaOptions> = {}): Promise<{ app: FastifyInstance, doc: any }> {
  const app = Fastify()
  await app.register(fastifySwagger, {
    openapi: {
      openapi,
      info: { title: 'shop', version: '1.0.0' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } }
    }
  })
  const options = (prefix: string): GlueMfaOptions => ({
    providers: [emailProvider({ send: () => {} }), totpProvider({ issuer: 'Shop' })],
    repository: memoryRepository(),
    codeSecret: CODE_SECRET,
    prefix,
    ...overrides
  })
  await app.register(async (storefront) => {
    await storefront.register(fastifyJwt, { secret: JWT_SECRET })
    await storefront.register(glueMfa, options(''))
  })
  await app.register(async (backend) => {
    await backend.register(fastifyJwt, { secret: `${JWT_SECRET}-backend` })
    await backend.register(glueMfa, { ...options('/backend'), surface: 'backend' })
  })
  await app.ready()
  return { app, doc: app.swagger() }
}

async function validate (doc: unknown): Promise<{ valid: boolean, errors?: unknown }> {
  const validator = new Validator()
  return await validator.validate(doc as Record<string, unknown>)
}

for (const version of ['3.0.3', '3.1.0']) {
  test(`OpenAPI ${version}: the document is valid`, async (t) => {
    const { app, doc } = await documented(version)
    t.teardown(() => app.close())
    const result = await validate(doc)
    t.ok(result.valid, `valid OpenAPI ${version}: ${JSON.stringify(result.errors)}`)
    t.equal(doc.openapi, version)
  })
}

test('all five resources, under each prefix, with nothing but their own method', async (t) => {
  const { app, doc } = await documented('3.0.3')
  t.teardown(() => app.close())
  const expected: Record<string, string[]> = {}
  for (const prefix of ['', '/backend']) {
    expected[`${prefix}/${LIST}`] = ['get']
    for (const resource of POSTS) expected[`${prefix}/${resource}`] = ['post']
  }
  const actual = Object.fromEntries(Object.entries(doc.paths as Record<string, object>).map(([path, item]) => [path, Object.keys(item).sort()]))
  t.same(actual, expected, 'the hidden 405 routes stay out of the document')
  t.same(doc.components.securitySchemes, { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } })
})

test('every operation: summary, tag, bearer security and JSON:API error responses', async (t) => {
  const { app, doc } = await documented('3.0.3')
  t.teardown(() => app.close())
  const operations = [
    [LIST, doc.paths[`/${LIST}`].get],
    ...POSTS.map((resource) => [resource, doc.paths[`/${resource}`].post])
  ] as Array<[string, any]>
  for (const [resource, operation] of operations) {
    t.type(operation.summary, 'string', `${resource}: summary`)
    t.type(operation.description, 'string', `${resource}: description`)
    t.same(operation.tags, ['multi-factor authentication'], `${resource}: tag`)
    t.same(operation.security, [{ bearerAuth: [] }], `${resource}: bearer security`)
    const statuses = resource === LIST ? LIST_ERROR_STATUSES : ERROR_STATUSES
    t.same(Object.keys(operation.responses).filter((status) => Number(status) >= 400), statuses, `${resource}: the errors it can answer, and only those`)
    for (const status of statuses) {
      const response = operation.responses[status]
      t.ok(response, `${resource}: ${status} documented`)
      t.same(Object.keys(response?.content ?? {}), [JSON_API], `${resource}: ${status} is ${JSON_API}`)
      const schema = response?.content?.[JSON_API]?.schema
      t.same(schema?.required, ['errors'], `${resource}: ${status} is an error document`)
      t.same(schema?.properties?.errors?.items?.required, ['status', 'detail'], `${resource}: ${status} error object`)
      t.type(schema?.properties?.errors?.items?.properties?.code, 'object', `${resource}: ${status} error code`)
    }
  }
})

test('the list: 200 with the status as an integer, or as a label', async (t) => {
  const numbers = await documented('3.0.3')
  t.teardown(() => numbers.app.close())
  const ok = numbers.doc.paths[`/${LIST}`].get.responses['200']
  t.same(Object.keys(ok.content), [JSON_API])
  const item = ok.content[JSON_API].schema.properties.data.items
  t.same(item.properties.type.enum, [LIST])
  t.equal(item.properties.attributes.properties.status.type, 'integer')
  t.notOk(numbers.doc.paths[`/${LIST}`].get.parameters?.some((p: any) => p.in === 'header' && p.name === 'x-mfa-code'), 'the list takes no code')

  const labels = await documented('3.0.3', { statusFormat: 'label' })
  t.teardown(() => labels.app.close())
  const labelItem = labels.doc.paths[`/${LIST}`].get.responses['200'].content[JSON_API].schema.properties.data.items
  t.equal(labelItem.properties.attributes.properties.status.type, 'string')
})

test('the four POST resources: body, x-mfa-code header, 204 without content, 201 for activate', async (t) => {
  const { app, doc } = await documented('3.0.3')
  t.teardown(() => app.close())
  for (const resource of POSTS) {
    const operation = doc.paths[`/${resource}`].post
    t.same(Object.keys(operation.requestBody.content).sort(), ['application/json', JSON_API].sort(), `${resource}: both request media types`)
    const body = operation.requestBody.content[JSON_API].schema
    t.same(body.properties.data.properties.type.enum, [resource], `${resource}: data.type names the resource`)
    const typeName = body.properties.data.properties.attributes.properties.type
    t.equal(typeName.type, 'string', `${resource}: attributes.type is a string`)
    t.type(typeName.description, 'string', `${resource}: attributes.type is described`)
    t.ok(operation.requestBody.required, `${resource}: body required`)
    const header = operation.parameters.find((p: any) => p.in === 'header' && p.name === 'x-mfa-code')
    t.ok(header, `${resource}: x-mfa-code header parameter`)
    t.equal(header?.required, false, `${resource}: the header is optional in the schema (the handler answers 5900)`)
    t.same(header?.schema, { type: 'string' })
    t.notOk(operation.parameters.some((p: any) => p.name.toLowerCase() === 'authorization'), `${resource}: the token is the security scheme, not a parameter`)
    t.same(operation.responses['204'], { description: 'Done' }, `${resource}: 204 without content`)
  }
  const activate = doc.paths['/multi-factor-auth-type-activate'].post.responses
  const provisioning = activate['201']?.content?.[JSON_API]?.schema
  t.same(provisioning?.properties?.data?.properties?.type?.enum, ['multi-factor-auth-type-activate'], 'activate: 201 provisioning data')
  t.notOk(doc.paths['/multi-factor-auth-type-verify'].post.responses['201'], 'only activate answers 201')
})

test('the validator notices a broken document (it is not a no-op)', async (t) => {
  const { app, doc } = await documented('3.0.3')
  t.teardown(() => app.close())
  const broken = structuredClone(doc)
  broken.paths[`/${LIST}`].get.responses = { 200: { content: {} } } // a response needs a description
  t.notOk((await validate(broken)).valid)
})
