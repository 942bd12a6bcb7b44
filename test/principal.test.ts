// lib/principal.ts on its own: what a verified token's payload becomes (principal, token id,
// sign-in time), without an app. A token that maps to no usable principal must answer "no
// identifier", never share one MFA state or fail with a 500.
import type { FastifyRequest } from 'fastify'
import { test } from 'tap'
import { createAuthenticator, type Principal } from '../lib/principal.js'

type Mapper = (payload: any) => Principal | null | undefined

function authenticator (principal: Mapper = (payload) => ({ id: payload.sub })): ReturnType<typeof createAuthenticator> {
  return createAuthenticator({ backend: false, principal, findPrincipal: undefined, extractsToken: false })
}

/** A request whose (already verified) token carries `payload`. */
function requestWith (payload: unknown): FastifyRequest {
  return { principal: null, jwtVerify: async () => payload } as unknown as FastifyRequest
}

test('a mapper that yields no usable id gives no principal: 5905, not a shared state or a 500', async (t) => {
  const cases: Array<[string, Mapper]> = [
    ['undefined', () => undefined],
    ['null', () => null],
    ['an empty id', () => ({ id: '' })],
    ['a numeric id', () => ({ id: 7 as unknown as string })]
  ]
  for (const [name, mapper] of cases) {
    const auth = authenticator(mapper)
    const request = requestWith({ sub: 'customer-1' })
    await auth.verifyToken(request)
    t.equal(request.principal, null, name)
    await t.rejects(auth.requirePrincipal(request), { code: 'FST_GLUE_MFA_5905' }, `${name}: 5905`)
  }
  const request = requestWith({ sub: 'customer-1' })
  await authenticator().verifyToken(request)
  t.same(request.principal, { id: 'customer-1' }, 'a string id is the principal')
})

test('token id: a non-empty string jti only', async (t) => {
  const auth = authenticator()
  for (const [jti, expected] of [['t-1', 't-1'], ['', null], [42, null], [undefined, null]] as const) {
    const request = requestWith({ sub: 'customer-1', jti })
    await auth.verifyToken(request)
    t.equal(auth.tokenIdOf(request), expected, `jti ${JSON.stringify(jti)}`)
  }
})

test('sign-in time: auth_time, else iat, in ms; a non-finite one counts as none', async (t) => {
  const auth = authenticator()
  // JSON.parse turns 1e999 into Infinity: such a token must not be "freshly signed in" forever.
  const infinite = JSON.parse('{"sub":"customer-1","auth_time":1e999}')
  for (const [payload, expected] of [
    [{ sub: 'customer-1', auth_time: 100, iat: 200 }, 100_000],
    [{ sub: 'customer-1', iat: 200 }, 200_000],
    [{ sub: 'customer-1', auth_time: '100', iat: 200 }, 200_000],
    [{ sub: 'customer-1' }, null],
    [infinite, null],
    [{ sub: 'customer-1', iat: Number.NaN }, null]
  ] as const) {
    const request = requestWith(payload)
    await auth.verifyToken(request)
    t.equal(auth.signedInAt(request), expected, JSON.stringify(payload))
  }
})
