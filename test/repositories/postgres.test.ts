import t, { type Test } from 'tap'
import pg from 'pg'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { postgresRepository, type PgClient, type PgPool, type PostgresRepositoryOptions } from '../../lib/repositories/postgres.js'
import { repositoryConformance } from '../../lib/testing/index.js'
import { adminClient, freshPrefix, killWhenWaiting, pgUrl, postgresAvailable } from './pg.js'

const ADMIT = { now: 1, principal: { failures: 3, duration: 1000, maxDuration: 4000 }, token: null }

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
      [{ connectionString: '' }, /"postgresRepository.connectionString" must be a postgres:\/\/ or postgresql:\/\/ URL/],
      [{ connectionString: 5 }, /"postgresRepository.connectionString"/],
      [{ pool: {} }, /"postgresRepository.pool" must be a pg Pool/],
      [{ pool: null }, /"postgresRepository.pool"/],
      [{ pool: { query: pool.query } }, /"postgresRepository.pool"/],
      [{ pool, tablePrefix: 'x"; DROP TABLE users; --' }, /"postgresRepository.tablePrefix" must be 1 to 40 letters, digits or "_"/],
      [{ pool, tablePrefix: '' }, /"postgresRepository.tablePrefix"/],
      [{ pool, tablePrefix: '9lives' }, /"postgresRepository.tablePrefix"/],
      [{ pool, tablePrefix: 'p'.repeat(41) }, /"postgresRepository.tablePrefix"/],
      [{ pool, tablePrefix: null }, /"postgresRepository.tablePrefix"/],
      [{ pool, connectionTimeout: 1000 }, /"postgresRepository.connectionTimeout" applies only to a pool the repository creates/],
      [{ pool, queryTimeout: 1000 }, /"postgresRepository.queryTimeout" applies only to a pool the repository creates/],
      [{ connectionString: pgUrl(), connectionTimeout: -1 }, /"postgresRepository.connectionTimeout" must be an integer number of ms from 0/],
      [{ connectionString: pgUrl(), connectionTimeout: 1.5 }, /"postgresRepository.connectionTimeout"/],
      [{ connectionString: pgUrl(), queryTimeout: '1000' }, /"postgresRepository.queryTimeout" must be an integer/],
      [{ connectionString: pgUrl(), queryTimeout: 2 ** 31 }, /"postgresRepository.queryTimeout"/]
    ]
    for (const [options, message] of bad) {
      t.throws(() => postgresRepository(options as PostgresRepositoryOptions), { code: 'FST_GLUE_MFA_INVALID_OPTION', message })
    }
    t.doesNotThrow(() => postgresRepository({ connectionString: 'postgres://nowhere.invalid/db' }), 'nothing connects before first use')
    t.doesNotThrow(() => postgresRepository({ connectionString: pgUrl(), connectionTimeout: 0, queryTimeout: 2 ** 31 - 1 }), '0 is no limit')
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
      'lockouts.last_lock', 'lockouts.locked_until',
      'types.code_expires_at', 'types.last_sent_at', 'types.last_step'
    ])
    const { rows: keys } = await admin.query(
      'SELECT tablename, indexdef FROM pg_indexes WHERE tablename LIKE $1 ORDER BY 1', [`${tablePrefix}%`])
    t.match(keys[0].indexdef, /UNIQUE INDEX .* USING btree \(principal_id, token_id\)$/)
    t.match(keys[1].indexdef, /UNIQUE INDEX .* USING btree \(key\)$/)
    t.match(keys[2].indexdef, /UNIQUE INDEX .* USING btree \(principal_id, type\)$/)
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
      () => repository.countAttempts('p', ['email'], 3), // one statement
      () => repository.admit('p', ADMIT), // one call of the admission function
      () => repository.getTypes('p')
    ]
    for (const call of calls) {
      await admin.query('BEGIN')
      await admin.query(`LOCK TABLE "${tablePrefix}types", "${tablePrefix}lockouts" IN ACCESS EXCLUSIVE MODE`)
      const failed = t.rejects(call(), /terminat/)
      await killWhenWaiting(admin, name, 'Lock')
      await failed
      await admin.query('ROLLBACK')
    }
    t.same((await repository.getType('p', 'email'))?.lastSentAt, null, 'the killed transaction left nothing behind')
    t.equal(await repository.reserveSend('p', 'email', 1000, 30_000), 0, 'the next call works')
    t.equal(await repository.lockedUntil('p'), 0)
    t.equal((await repository.getType('p', 'email'))?.code, null)
    t.same(await repository.admit('p', ADMIT), { admitted: true, locked: false }, 'the killed admission counted nothing')
    t.same(await repository.admit('p', ADMIT), { admitted: true, locked: false })
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

  t.test('a server that accepts but never answers: the call fails after connectionTimeout', async (t) => {
    const sockets: Socket[] = []
    const silent = createServer((socket) => { sockets.push(socket) })
    silent.listen(0, '127.0.0.1')
    await once(silent, 'listening')
    t.teardown(() => {
      for (const socket of sockets) socket.destroy()
      silent.close()
    })
    const { port } = silent.address() as { port: number }
    const repository = postgresRepository({ connectionString: `postgres://nobody@127.0.0.1:${port}/db`, connectionTimeout: 300 })
    t.teardown(() => repository.close?.())
    const started = Date.now()
    await t.rejects(repository.getTypes('p'), /timeout/)
    t.ok(Date.now() - started < 3000, `failed after ${Date.now() - started} ms`)
  })

  t.test('a query stuck behind a lock: the call fails after queryTimeout, and the next one works', async (t) => {
    const tablePrefix = freshPrefix(t)
    // The tables are made and the row written with the default timeout: on a busy machine
    // creating tables can take longer than the 300 ms this test puts on the stuck queries.
    const setup = postgresRepository({ connectionString: pgUrl(), tablePrefix })
    await setup.beginActivation('p', 'email', null)
    await setup.close?.()
    const repository = postgresRepository({ connectionString: pgUrl(), tablePrefix, queryTimeout: 300 })
    t.teardown(() => repository.close?.())
    const admin = await adminClient(t)
    await admin.query('BEGIN')
    await admin.query(`LOCK TABLE "${tablePrefix}types" IN ACCESS EXCLUSIVE MODE`)
    const started = Date.now()
    await t.rejects(repository.getTypes('p'), /Query read timeout/)
    await t.rejects(repository.reserveSend('p', 'email', 1000, 30_000), /Query read timeout/, 'a transaction too')
    t.ok(Date.now() - started < 3000, `failed after ${Date.now() - started} ms`)
    await admin.query('ROLLBACK')
    t.equal((await repository.getType('p', 'email'))?.status, 1, 'the next call works')
    t.equal((await repository.getType('p', 'email'))?.lastSentAt, null, 'the timed-out transaction left nothing behind')
  })

  t.test('the server ending a connection between two statements of a transaction fails that call only', async (t) => {
    const real = callerPool(t)
    const admin = await adminClient(t)
    const tablePrefix = freshPrefix(t)
    let kill = false
    let fail = false
    let bare = false
    const pool: PgPool = {
      query: async (text, values) => await real.query(text, values),
      connect: async () => {
        const client = await real.connect()
        const wrapped: PgClient = {
          query: async (text, values) => {
            if (fail && text !== 'BEGIN') {
              fail = false
              throw new Error('statement failed')
            }
            const result = await client.query(text, values)
            if (text === 'BEGIN' && kill) {
              kill = false
              // Checked out and between statements: the server's FATAL arrives now, with no
              // query to fail, as when the server shuts down under load.
              await admin.query('SELECT pg_terminate_backend($1)', [(client as unknown as { processID: number }).processID])
              await new Promise((resolve) => setTimeout(resolve, 300))
            }
            return result
          },
          release: (err) => { client.release(err) }
        }
        // A hand-made pool's clients may have no on/removeListener.
        if (!bare) {
          wrapped.on = (event, listener) => client.on(event, listener)
          wrapped.removeListener = (event, listener) => client.removeListener(event, listener)
        }
        return wrapped
      }
    }
    const repository = postgresRepository({ pool, tablePrefix })
    t.equal(await repository.reserveSend('p', 'email', 1000, 30_000), 0)
    kill = true
    await t.rejects(repository.reserveSend('q', 'email', 1000, 30_000), /not queryable|terminat/)
    t.equal((await repository.getType('q', 'email'))?.lastSentAt ?? null, null, 'nothing of it was stored')
    t.equal(await repository.reserveSend('q', 'email', 1000, 30_000), 0, 'the next call works')
    bare = true
    t.equal(await repository.reserveSend('r', 'email', 1000, 30_000), 0, 'a client without on/removeListener works')
    fail = true
    await t.rejects(repository.reserveSend('s', 'email', 1000, 30_000), /statement failed/)
    t.equal(await repository.reserveSend('s', 'email', 1000, 30_000), 0)
  })
}
