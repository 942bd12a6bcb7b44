import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { requireMfa, type Principal } from '../lib/index.js'
import { buildApp, expectError, post } from './helpers.js'

const ACTIVATE = 'multi-factor-auth-type-activate'
const VERIFY = 'multi-factor-auth-type-verify'

/** A protected resource (`carts`) and a requireMfa route (`/password`), both answering request.mfa. */
function routes (app: FastifyInstance): void {
  app.post('/carts', async (request) => ({ mfa: request.mfa }))
  app.post('/password', { preHandler: requireMfa }, async (request) => ({ mfa: request.mfa }))
  app.post('/orders', async (request) => ({ mfa: request.mfa }))
}

test('requireEnrollment: 5914 on protected writes and requireMfa for a principal without MFA, not on the MFA routes', async (t) => {
  const asked: Array<[Principal, string]> = []
  const s = await buildApp({
    protectedResources: ['carts'],
    principal: (payload) => ({ id: payload.sub, role: payload.role }),
    requireEnrollment: async (principal, request) => {
      asked.push([principal, request.url])
      return principal.role === 'admin'
    }
  }, routes)
  const admin = s.token('admin-1', { role: 'admin' })
  const customer = s.token('customer-1', { role: 'customer' })
  const call = async (url: string, token: string, code?: string) => await s.app.inject({
    method: 'POST', url, headers: { authorization: `Bearer ${token}`, ...(code === undefined ? {} : { 'x-mfa-code': code }) }, payload: {}
  })

  for (const url of ['/carts', '/password']) {
    expectError(t, await call(url, admin), 403, '5914', 'Multi-factor authentication must be enabled for this action.')
    t.same((await call(url, customer)).json(), { mfa: null }, `${url}: no MFA needed, request.mfa null`)
  }
  t.same(asked.map(([p, url]) => [p.id, url]), [['admin-1', '/carts'], ['customer-1', '/carts'], ['admin-1', '/password'], ['customer-1', '/password']])
  t.same(s.events.filter((e) => e.principalId === 'admin-1').map((e) => e.name), ['stepup.denied', 'stepup.denied'])
  t.equal((await call('/orders', admin)).statusCode, 200, 'an unprotected route is not the guard\'s business')

  // The MFA routes stay reachable: the admin enrols, then passes with a code.
  t.equal((await post(s.app, ACTIVATE, admin)).statusCode, 204)
  t.equal((await post(s.app, VERIFY, admin, { code: s.outbox.last('admin-1') })).statusCode, 204)
  const passed = await call('/password', admin, s.outbox.last('admin-1'))
  t.same(passed.json(), { mfa: { type: 'email', at: s.clock.now } }, 'request.mfa says which type passed, and when')
  expectError(t, await call('/carts', admin), 403, '5900')
  asked.length = 0
  await call('/carts', admin, s.outbox.last('admin-1'))
  t.same(asked, [], 'not asked once a type is enabled')
  await s.app.close()
})

test('request.mfa is null on a refused or unguarded request, and a requireEnrollment that throws answers 500 without a pass', async (t) => {
  const s = await buildApp({ protectedResources: ['carts'], requireEnrollment: () => { throw new Error('directory down') } }, routes)
  const res = await s.app.inject({ method: 'POST', url: '/carts', headers: { authorization: `Bearer ${s.token()}` }, payload: {} })
  expectError(t, res, 500, undefined)
  t.same((await s.app.inject({ method: 'POST', url: '/orders', headers: { authorization: `Bearer ${s.token()}` }, payload: {} })).json(), { mfa: null })
  await s.app.close()
})

test('requireEnrollment must be a function', async (t) => {
  await t.rejects(buildApp({ requireEnrollment: true as never }), { code: 'FST_GLUE_MFA_INVALID_OPTION', message: /requireEnrollment/ })
})
