// Burst attacks (burst-attack.ts) on the memory store (one app in this process) and on SQLite:
// one server process, and two server processes on one file, recovery codes' and passkeys'
// included. Also checks the burst driver.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { memoryRepository } from '../../lib/index.js'
import { BurstLedger, buildBurstApp } from './burst-app.js'
import { attack, attackAll, attackPasskey, attackRecovery, N, runsWith, startChild } from './burst-attack.js'
import { burst } from './burst.js'

t.comment(runsWith())

// The server processes start now, while the first tests run (tsx takes a while to start).
const dir = mkdtempSync(join(tmpdir(), 'glue-mfa-burst-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const sqliteEnv = { MFA_BURST_SQLITE_FILE: join(dir, 'mfa.db') }
const sqliteServers = Promise.all([startChild(t, sqliteEnv), startChild(t, sqliteEnv)])
// Awaited by its test; a failure to start is that test's, not an unhandled rejection.
sqliteServers.catch(() => {})

t.test('the driver releases a burst together', async (t) => {
  // A plain server whose requests wait, once their body is complete, until all N have come
  // (or 5 s passed): all in flight at once, and how far apart they came.
  const app = Fastify({ logger: false })
  const arrivals: number[] = []
  let release = (): void => {}
  const all = new Promise<void>((resolve) => { release = resolve })
  app.post('/probe', async () => {
    arrivals.push(performance.now())
    if (arrivals.length === N) release()
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 5000))])
    return { ok: true }
  })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0, backlog: 2048 })
  const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const { responses, releaseMs } = await burst(Array.from({ length: N }, (_, i) => ({
    origin, method: 'POST', path: '/probe', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ i })
  })))
  t.equal(responses.filter((res) => res.status === 200 && res.body === '{"ok":true}').length, N, `${N} answers`)
  const spread = Math.round(Math.max(...arrivals) - Math.min(...arrivals))
  t.ok(arrivals.length === N && spread < 5000, `all ${N} were in flight at once; the final bytes went out in ${releaseMs} ms, ` +
    `the handlers started within ${spread} ms`)
  await t.rejects(burst([{ origin: 'http://192.0.2.1:80', method: 'GET', path: '/' }]), /loopback/, 'loopback only')
})

t.test('memory store, one app', async (t) => {
  const app = await buildBurstApp(memoryRepository(), new BurstLedger())
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0, backlog: 2048 })
  const target = { name: 'memory', origins: [`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`] }
  await attackAll(t, target)
  await t.test(`step-up, ${N} guesses over two tokens with a jti, the right code at the end`, async (t) => {
    await attack(t, target, { scenario: 'step-up', position: 'end', n: N, jtiTokens: 2 })
  })
  await attackRecovery(t, target)
  await attackPasskey(t, target)
})

t.test('SQLite', async (t) => {
  const [first, second] = await sqliteServers
  for (const [name, origins] of [['one process', [first]], ['two processes on one file', [first, second]]] as const) {
    await t.test(name, async (t) => {
      const target = { name: `sqlite-${origins.length}`, origins: [...origins] }
      await attackAll(t, target)
      await attackRecovery(t, target)
      await attackPasskey(t, target)
    })
  }
})
