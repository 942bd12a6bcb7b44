import { test } from 'tap'
import { buildApp, list, statuses } from './helpers.js'

test('a fresh principal sees every type at 0', async (t) => {
  const { app, token } = await buildApp()
  t.teardown(() => app.close())
  const res = await list(app, token())
  t.equal(res.statusCode, 200)
  t.same(statuses(res), { email: 0 })
})
