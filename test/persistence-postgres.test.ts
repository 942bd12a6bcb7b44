import t from 'tap'
import { postgresRepository } from '../lib/repositories/postgres.js'
import { expectError, list, statuses, TestClock } from './helpers.js'
import { adminClient, freshPrefix, killWhenWaiting, pgUrl, postgresAvailable, runSql } from './repositories/pg.js'
import { concurrency, deactivate, enable, instance, restartDurability, trigger } from './repositories/scenarios.js'

if (await postgresAvailable(t)) {
  /** Each call is a new pool on the one database, as another server process would open. */
  const openPool = (tablePrefix: string, applicationName = 'glue-mfa-test') => () =>
    postgresRepository({ connectionString: pgUrl({ application_name: applicationName }), tablePrefix })

  t.test('restart durability on PostgreSQL', async (t) => {
    await restartDurability(t, openPool(freshPrefix(t)))
  })

  t.test('two instances on one PostgreSQL database (two pools)', async (t) => {
    concurrency(t, openPool(freshPrefix(t)))
  })

  t.test('a connection killed mid-request: a JSON:API 500, and the next request succeeds', async (t) => {
    const prefix = freshPrefix(t)
    const name = `glue-mfa-http-kill-${process.pid}`
    const clock = new TestClock()
    const s = await instance(t, openPool(prefix, name), clock)
    await enable(t, s, 'mia')
    clock.advance(60_000)
    const locker = await adminClient(t)
    const admin = await adminClient(t)

    // A read and a transaction (the send slot), each stuck behind a lock when killed.
    for (const request of [() => list(s.app, s.token('mia')), () => trigger(s, 'mia')]) {
      await locker.query('BEGIN')
      await locker.query(`LOCK TABLE "${prefix}types" IN ACCESS EXCLUSIVE MODE`)
      const pending = request()
      await killWhenWaiting(admin, name, 'Lock')
      expectError(t, await pending, 500, undefined, 'Internal server error.')
      await locker.query('ROLLBACK')
    }
    t.same(statuses(await list(s.app, s.token('mia'))), { email: 2 })
    t.equal((await trigger(s, 'mia')).statusCode, 204, 'the killed request left no cooldown behind')
  })

  t.test('a connection lost while storing a deactivation: 5903, still enabled, and the retry succeeds', async (t) => {
    const prefix = freshPrefix(t)
    const name = `glue-mfa-http-disable-${process.pid}`
    const s = await instance(t, openPool(prefix, name), new TestClock())
    const code = await enable(t, s, 'noah')
    const admin = await adminClient(t)
    // Only the disabling UPDATE sleeps, so the kill lands inside repository.disable().
    await admin.query(`
      CREATE FUNCTION "${prefix}slow_disable"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.status = 0 THEN PERFORM pg_sleep(30); END IF; RETURN NEW; END $$;
      CREATE TRIGGER slow_disable BEFORE UPDATE ON "${prefix}types" FOR EACH ROW EXECUTE FUNCTION "${prefix}slow_disable"();`)
    t.teardown(() => runSql(`DROP FUNCTION IF EXISTS "${prefix}slow_disable"() CASCADE`))

    const pending = deactivate(s, 'noah', code)
    await killWhenWaiting(admin, name, 'PgSleep')
    expectError(t, await pending, 500, '5903', 'Failed to deactivate multi-factor authentication.')
    t.same(statuses(await list(s.app, s.token('noah'))), { email: 2 }, 'still enabled')
    await admin.query(`DROP TRIGGER slow_disable ON "${prefix}types"`)
    t.equal((await deactivate(s, 'noah', code)).statusCode, 204)
    t.same(statuses(await list(s.app, s.token('noah'))), { email: 0 })
  })
}
