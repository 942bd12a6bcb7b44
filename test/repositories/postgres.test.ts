import t, { type Test } from 'tap'
import pg from 'pg'
import { postgresRepository, type PgPool, type PostgresRepositoryOptions } from '../../lib/repositories/postgres.js'
import { repositoryConformance } from '../../lib/testing/index.js'
import { adminClient, freshPrefix, killWhenWaiting, pgUrl, postgresAvailable } from './pg.js'

const FAILURE = { now: 1, maxAttempts: 3, lockoutFailures: 3, lockoutWindow: 1000 }

/** A caller-owned pool, ended (after its repositories) when the test ends. */
function callerPool (t: Test, applicationName = 'glue-mfa-test'): pg.Pool {
  const pool = new pg.Pool({ connectionString: pgUrl({ application_name: applicationName }) })
  pool.on('error', () => {})
  t.teardown(() => pool.end())
  return pool
}

if (await postgresAvailable(t)) {
  t.test('two pools on one database: postgresRepository conforms', async (t) => {
    const tablePrefix = freshPrefix(t)
    await repositoryConformance(t, () => postgresRepository({ connectionString: pgUrl(), tablePrefix }))
  })

  t.test('options are checked at once, naming the option', async (t) => {
    const pool = { query: async () => ({ rows: [] }), connect: async () => { throw new Error('unused') } }
    const bad: Array<[unknown, RegExp]> = [
      [undefined, /"postgresRepository" needs exactly one of "pool" and "connectionString"/],
      [{}, /"postgresRepository" needs exactly one/],
      [{ pool, connectionString: pgUrl() }, /"postgresRepository" needs exactly one/],
      [{ connectionString: '' }, /"postgresRepository.connectionString" must be a non-empty string/],
      [{ connectionString: 5 }, /"postgresRepository.connectionString"/],
      [{ pool: {} }, /"postgresRepository.pool" must be a pg Pool/],
      [{ pool: null }, /"postgresRepository.pool"/],
      [{ pool: { query: pool.query } }, /"postgresRepository.pool"/],
      [{ pool, tablePrefix: 'x"; DROP TABLE users; --' }, /"postgresRepository.tablePrefix" must be 1 to 40 letters, digits or "_"/],
      [{ pool, tablePrefix: '' }, /"postgresRepository.tablePrefix"/],
      [{ pool, tablePrefix: '9lives' }, /"postgresRepository.tablePrefix"/],
      [{ pool, tablePrefix: 'p'.repeat(41) }, /"postgresRepository.tablePrefix"/],
      [{ pool, tablePrefix: null }, /"postgresRepository.tablePrefix"/]
    ]
    for (const [options, message] of bad) {
      t.throws(() => postgresRepository(options as PostgresRepositoryOptions), { code: 'FST_GLUE_MFA_INVALID_OPTION', message })
    }
    t.doesNotThrow(() => postgresRepository({ connectionString: 'postgres://nowhere.invalid/db' }), 'nothing connects before first use')
  })

  t.test('the tables: BIGINT times, primary keys for every lookup', async (t) => {
    const tablePrefix = freshPrefix(t)
    const repository = postgresRepository({ connectionString: pgUrl(), tablePrefix })
    t.teardown(() => repository.close?.())
    await repository.storeCode('p', 'email', { hash: 'aa', expiresAt: Number.MAX_SAFE_INTEGER })
    t.equal((await repository.getType('p', 'email'))?.code?.expiresAt, Number.MAX_SAFE_INTEGER, 'BIGINT comes back as a number')
    const admin = await adminClient(t)
    const { rows: columns } = await admin.query(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_name LIKE $1 AND data_type = 'bigint' ORDER BY 1, 2",
      [`${tablePrefix}%`])
    t.same(columns.map((c) => `${c.table_name}.${c.column_name}`.slice(tablePrefix.length)), [
      'principals.locked_until', 'principals.window_start',
      'types.code_expires_at', 'types.last_sent_at', 'types.last_step'
    ])
    const { rows: keys } = await admin.query(
      'SELECT tablename, indexdef FROM pg_indexes WHERE tablename LIKE $1 ORDER BY 1', [`${tablePrefix}%`])
    t.match(keys[0].indexdef, /UNIQUE INDEX .* USING btree \(principal_id\)$/)
    t.match(keys[1].indexdef, /UNIQUE INDEX .* USING btree \(principal_id, type\)$/)
  })

  t.test('several instances starting at once on fresh tables all work', async (t) => {
    const tablePrefix = freshPrefix(t)
    const repositories = Array.from({ length: 6 }, () => postgresRepository({ connectionString: pgUrl(), tablePrefix }))
    t.teardown(() => Promise.all(repositories.map((r) => r.close?.())))
    const results = await Promise.all(repositories.map((r, i) => r.beginActivation(`p${i}`, 'email', null)))
    t.same(results, [true, true, true, true, true, true])
  })

  t.test('table prefixes keep two stores apart in one database', async (t) => {
    const pool = callerPool(t)
    const a = postgresRepository({ pool, tablePrefix: freshPrefix(t) })
    const b = postgresRepository({ pool, tablePrefix: freshPrefix(t) })
    await a.beginActivation('p', 'email', null)
    t.equal(await b.getType('p', 'email'), null)
    t.equal((await a.getType('p', 'email'))?.status, 1)
  })

  t.test('a passed pool is used and never ended', async (t) => {
    const pool = callerPool(t)
    const repository = postgresRepository({ pool, tablePrefix: freshPrefix(t) })
    await repository.close?.()
    t.equal(await repository.lockedUntil('p'), 0)
    await repository.close?.()
    t.same((await pool.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'the pool still works')
  })

  t.test('a pool it created is ended by close()', async (t) => {
    const repository = postgresRepository({ connectionString: pgUrl(), tablePrefix: freshPrefix(t) })
    await repository.close?.() // before first use: nothing to end
    t.same(await repository.getTypes('p'), [])
    await repository.close?.()
    await t.rejects(repository.getTypes('p'), /after calling end/)
    await repository.close?.()
  })

  t.test('when the tables cannot be made, the call fails and the next one tries again', async (t) => {
    const real = callerPool(t)
    let refuse = true
    const pool: PgPool = {
      query: async (text, values) => await real.query(text, values),
      connect: async () => {
        if (refuse) throw new Error('connect ECONNREFUSED')
        return await real.connect()
      }
    }
    const repository = postgresRepository({ pool, tablePrefix: freshPrefix(t) })
    await t.rejects(repository.getTypes('p'), /ECONNREFUSED/)
    await t.rejects(repository.getTypes('p'), /ECONNREFUSED/, 'tried again')
    refuse = false
    t.same(await repository.getTypes('p'), [])
  })

  t.test('a connection killed in the middle of a statement fails that call only', async (t) => {
    const tablePrefix = freshPrefix(t)
    const name = `glue-mfa-kill-${process.pid}`
    const repository = postgresRepository({ pool: callerPool(t, name), tablePrefix })
    await repository.beginActivation('p', 'email', null)
    const admin = await adminClient(t)

    const calls: Array<() => Promise<unknown>> = [
      () => repository.reserveSend('p', 'email', 1000, 30_000), // a transaction
      () => repository.recordFailure('p', ['email'], FAILURE), // one statement
      () => repository.getTypes('p')
    ]
    for (const call of calls) {
      await admin.query('BEGIN')
      await admin.query(`LOCK TABLE "${tablePrefix}types" IN ACCESS EXCLUSIVE MODE`)
      const failed = t.rejects(call(), /terminat/)
      await killWhenWaiting(admin, name, 'Lock')
      await failed
      await admin.query('ROLLBACK')
    }
    t.same((await repository.getType('p', 'email'))?.lastSentAt, null, 'the killed transaction left nothing behind')
    t.equal(await repository.reserveSend('p', 'email', 1000, 30_000), 0, 'the next call works')
    t.equal(await repository.lockedUntil('p'), 0)
  })

  t.test('an idle connection the server closed does not crash the process or the next call', async (t) => {
    const name = `glue-mfa-idle-${process.pid}`
    const repository = postgresRepository({ connectionString: pgUrl({ application_name: name }), tablePrefix: freshPrefix(t) })
    t.teardown(() => repository.close?.())
    await repository.getTypes('p')
    const admin = await adminClient(t)
    const { rows } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [name])
    t.equal(rows.length, 1)
    // The pool learns of it from the socket and drops the client.
    await new Promise((resolve) => setTimeout(resolve, 200))
    t.same(await repository.getTypes('p'), [])
  })
}
