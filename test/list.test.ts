import { test } from 'tap'
import { emailProvider, MFA_STATUS, memoryRepository, type MfaRepository } from '../lib/index.js'
import { buildApp, list, statuses } from './helpers.js'

const send = (): void => {}

test('a fresh principal sees every registered type at 0, in provider order', async (t) => {
  const { app, token } = await buildApp({ providers: [emailProvider({ send, type: 'sms' }), emailProvider({ send })] })
  t.teardown(() => app.close())
  const res = await list(app, token())
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/vnd\.api\+json/)
  t.same(res.json(), {
    data: [
      { type: 'multi-factor-auth-types', id: 'sms', attributes: { type: 'sms', status: 0 } },
      { type: 'multi-factor-auth-types', id: 'email', attributes: { type: 'email', status: 0 } }
    ],
    links: { self: '/multi-factor-auth-types' }
  })
})

test('statuses set through the repository show, per principal only', async (t) => {
  const { app, token, repository } = await buildApp({ providers: [emailProvider({ send }), emailProvider({ send, type: 'sms' })] })
  t.teardown(() => app.close())
  await repository.beginActivation('a', 'email', null)
  await repository.beginActivation('a', 'sms', null)
  await repository.acceptCode('a', 'sms', { step: 1 }, { now: 0, requireStatus: MFA_STATUS.PENDING, enable: true, maxAttempts: 3, tokenId: null })
  t.same(statuses(await list(app, token('a'))), { email: 1, sms: 2 })
  t.same(statuses(await list(app, token('b'))), { email: 0, sms: 0 }, "A's statuses never show for B")
})

test('a repository without the optional getStatuses is listed from getTypes', async (t) => {
  const { getStatuses, ...rest } = memoryRepository()
  t.type(getStatuses, 'function')
  let reads = 0
  const repository: MfaRepository = { ...rest, getTypes: async (id) => { reads++; return await rest.getTypes(id) } }
  const { app, token } = await buildApp({ repository, providers: [emailProvider({ send }), emailProvider({ send, type: 'sms' })] })
  t.teardown(() => app.close())
  await repository.beginActivation('a', 'sms', null)
  t.same(statuses(await list(app, token('a'))), { email: 0, sms: 1 })
  t.equal(reads, 1)
})

test('the list reads getStatuses when the repository has it', async (t) => {
  const inner = memoryRepository()
  const calls: string[] = []
  const repository: MfaRepository = {
    ...inner,
    getTypes: async (id) => { calls.push('getTypes'); return await inner.getTypes(id) },
    getStatuses: async (id) => { calls.push('getStatuses'); return [{ type: 'email', status: MFA_STATUS.ENABLED }] }
  }
  const { app, token } = await buildApp({ repository })
  t.teardown(() => app.close())
  t.same(statuses(await list(app, token('a'))), { email: 2 })
  t.same(calls, ['getStatuses'])
})

test("statusFormat 'label' answers the labels of newer Glue releases", async (t) => {
  const { app, token, repository } = await buildApp({ statusFormat: 'label', providers: [emailProvider({ send }), emailProvider({ send, type: 'sms' }), emailProvider({ send, type: 'push' })] })
  t.teardown(() => app.close())
  await repository.beginActivation('a', 'sms', null)
  await repository.beginActivation('a', 'push', null)
  await repository.acceptCode('a', 'push', { step: 1 }, { now: 0, requireStatus: MFA_STATUS.PENDING, enable: true, maxAttempts: 3, tokenId: null })
  t.same(statuses(await list(app, token('a'))), { email: 'deactivated', sms: 'activation is pending', push: 'activated' })
})

test('stored types no longer registered are listed after the registered ones', async (t) => {
  const { app, token, repository } = await buildApp()
  t.teardown(() => app.close())
  for (const type of ['zz-legacy', 'sms', 'gone']) await repository.beginActivation('a', type, null)
  await repository.disable('a', 'gone')
  const res = await list(app, token('a'))
  t.same(res.json().data.map((d: { id: string }) => d.id), ['email', 'sms', 'zz-legacy'], 'pending/enabled orphans sorted, disabled ones hidden')
  t.same(statuses(res), { email: 0, sms: 1, 'zz-legacy': 1 })
})

test('under a prefix, links.self carries it', async (t) => {
  const { app, token } = await buildApp({ prefix: '/backend/' })
  t.teardown(() => app.close())
  const res = await list(app, token(), '/backend')
  t.equal(res.json().links.self, '/backend/multi-factor-auth-types')
  t.equal((await list(app, token())).statusCode, 404, 'nothing at the root')
})

test('HEAD answers like GET without a body', async (t) => {
  const { app, token } = await buildApp()
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'HEAD', url: '/multi-factor-auth-types', headers: { authorization: `Bearer ${token()}` } })
  t.equal(res.statusCode, 200)
  t.equal(res.body, '')
})
