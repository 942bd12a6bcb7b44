import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Static } from '@sinclair/typebox'
import Fastify, { type FastifyRequest } from 'fastify'
import { expect, test } from 'tstyche'
import type { Principal } from '../../lib/index.js'
import { actionBody, CodeHeaders, listResponse, type ActionBody } from '../../lib/schemas.js'

const VERIFY = 'multi-factor-auth-type-verify'

// The routes are declared on `app.withTypeProvider<TypeBoxTypeProvider>()` with these schemas,
// so what these tests see of a body is what the plugin's handlers see.
const app = Fastify().withTypeProvider<TypeBoxTypeProvider>()

test('a POST body is typed from its schema', () => {
  expect<ActionBody<typeof VERIFY>>().type.toBe<{ data: { type: typeof VERIFY, attributes: { type?: string } } }>()
  expect<Static<ReturnType<typeof actionBody<typeof VERIFY>>>>().type.toBe<ActionBody<typeof VERIFY>>()
})

test('a body of the wrong shape is not a body', () => {
  type Verify = typeof VERIFY
  expect<ActionBody<Verify>>().type.toBeAssignableFrom<{ data: { type: Verify, attributes: { type: 'email' } } }>()
  expect<ActionBody<Verify>>().type.toBeAssignableFrom<{ data: { type: Verify, attributes: {} } }>()
  // Another resource's type, any string as the type, a type name that is not a string, no attributes, no data.
  expect<ActionBody<Verify>>().type.not.toBeAssignableFrom<{ data: { type: 'multi-factor-auth-trigger', attributes: { type: 'email' } } }>()
  expect<ActionBody<Verify>>().type.not.toBeAssignableFrom<{ data: { type: string, attributes: { type: 'email' } } }>()
  expect<ActionBody<Verify>>().type.not.toBeAssignableFrom<{ data: { type: Verify, attributes: { type: number } } }>()
  expect<ActionBody<Verify>>().type.not.toBeAssignableFrom<{ data: { type: Verify } }>()
  expect<ActionBody<Verify>>().type.not.toBeAssignableFrom<{ type: Verify, attributes: { type: 'email' } }>()
})

test('a handler typed by the schemas: reading the body or headers the wrong way does not compile', () => {
  app.post('/verify', { schema: { body: actionBody(VERIFY), headers: CodeHeaders } }, async (request) => {
    expect(request.body.data.type).type.toBe<typeof VERIFY>()
    expect(request.body.data.attributes.type).type.toBe<string | undefined>()
    expect(request.headers['x-mfa-code']).type.toBe<string | undefined>()
    // The code travels in the X-MFA-Code header, never in the body.
    // @ts-expect-error Property 'code' does not exist
    String(request.body.data.attributes.code)
    // @ts-expect-error Property 'id' does not exist
    String(request.body.data.id)
    // The type name may be absent: it must be checked before use.
    // @ts-expect-error is possibly 'undefined'
    request.body.data.attributes.type.trim()
  })
})

test('the list answers the status as a number or as a label, typed from its schema', () => {
  type Item = Static<ReturnType<typeof listResponse>>['data'][number]
  expect<Item['type']>().type.toBe<'multi-factor-auth-types'>()
  expect<Item['attributes']['status']>().type.toBe<string | number>()
  app.get('/types', { schema: { response: { 200: listResponse('number') } } }, async (_request, reply) => {
    // An answer without `links` does not match the schema.
    // @ts-expect-error Property 'links' is missing
    await reply.send({ data: [] })
    return await reply.send({ data: [{ type: 'multi-factor-auth-types', id: 'email', attributes: { type: 'email', status: 0 } }], links: { self: '/types' } })
  })
})

test('the principal: null until authenticated, never cast', () => {
  expect<FastifyRequest['principal']>().type.toBe<Principal | null>()
  expect<Principal>().type.toBeAssignableFrom({ id: 'c-1', email: 'a@b.c' })
  expect<Principal>().type.not.toBeAssignableFrom({ email: 'a@b.c' })
})
