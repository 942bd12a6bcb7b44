import t from 'tap'
import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sqliteRepository } from '../lib/repositories/sqlite.js'
import { expectError, list, statuses, TestClock } from './helpers.js'
import { concurrency, deactivate, enable, instance, restartDurability, trigger } from './repositories/scenarios.js'

const dir = mkdtempSync(join(tmpdir(), 'glue-mfa-persistence-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
/** Each call is a new connection to the one file, as another server process would open. */
const openFile = (name: string) => () => sqliteRepository({ filename: join(dir, name) })

t.test('restart durability on a SQLite file', async (t) => {
  await restartDurability(t, openFile('restart.db'))
})

t.test('two instances on one SQLite file (two connections)', async (t) => {
  concurrency(t, openFile('shared.db'))
})

t.test('a read-only database: reads work, every write is a clean JSON:API 500', async (t) => {
  const clock = new TestClock()
  const filename = join(dir, 'readonly.db')
  const writer = await instance(t, () => sqliteRepository({ filename }), clock)
  const code = await enable(t, writer, 'jack')
  await writer.app.close()

  const database = new Database(filename, { readonly: true })
  t.teardown(() => database.close())
  const reader = await instance(t, () => sqliteRepository({ database }), clock)
  t.same(statuses(await list(reader.app, reader.token('jack'))), { email: 2 })
  clock.advance(60_000)
  expectError(t, await trigger(reader, 'jack'), 500, undefined, 'Internal server error.')
  // Deactivation fails at its first write (accepting the code): still 5903, nothing half-written.
  expectError(t, await deactivate(reader, 'jack', code), 500, '5903', 'Failed to deactivate multi-factor authentication.')
  t.same(statuses(await list(reader.app, reader.token('jack'))), { email: 2 }, 'nothing changed')
})

t.test('a store refusing writes fails the request; once it accepts them again the next request works', async (t) => {
  const database = new Database(join(dir, 'recovers.db'))
  t.teardown(() => database.close())
  const clock = new TestClock()
  const s = await instance(t, () => sqliteRepository({ database }), clock)
  await enable(t, s, 'kate')
  clock.advance(60_000)
  database.pragma('query_only = ON')
  expectError(t, await trigger(s, 'kate'), 500, undefined, 'Internal server error.')
  database.pragma('query_only = OFF')
  t.equal((await trigger(s, 'kate')).statusCode, 204, 'no cooldown was left behind by the failed request')
})

t.test('a failed disable answers 5903 and leaves the type enabled', async (t) => {
  const database = new Database(join(dir, 'constraint.db'))
  t.teardown(() => database.close())
  const s = await instance(t, () => sqliteRepository({ database }), new TestClock())
  const code = await enable(t, s, 'liam')
  database.exec(`CREATE TRIGGER refuse_disable BEFORE UPDATE OF status ON glue_mfa_types WHEN NEW.status = 0
    BEGIN SELECT RAISE(ABORT, 'simulated constraint failure'); END`)
  expectError(t, await deactivate(s, 'liam', code), 500, '5903', 'Failed to deactivate multi-factor authentication.')
  t.same(statuses(await list(s.app, s.token('liam'))), { email: 2 }, 'still enabled')
  database.exec('DROP TRIGGER refuse_disable')
  t.equal((await deactivate(s, 'liam', code)).statusCode, 204, 'the same code deactivates once the store recovers')
})
