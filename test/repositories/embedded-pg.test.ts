// The fallback of `npm test` on a machine without PostgreSQL: the embedded server starts (as
// the OS user "postgres" when the tests run as root), takes the repository's schema, and is
// gone, directory and all, after stop. Run everywhere, CI included, so the fallback cannot rot
// where a system PostgreSQL hides it.
import t from 'tap'
import pg from 'pg'
import { existsSync, statSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { postgresRepository } from '../../lib/repositories/postgres.js'
import { EmbeddedUnavailable, startEmbeddedPostgres } from './embedded-pg.js'

t.test('an embedded PostgreSQL starts on a free port, serves the repository, and is removed on stop', async (t) => {
  let server: Awaited<ReturnType<typeof startEmbeddedPostgres>>
  try {
    server = await startEmbeddedPostgres()
  } catch (err) {
    // This machine cannot run it (a root-only checkout directory): nothing to test here.
    if (!(err instanceof EmbeddedUnavailable)) throw err
    t.comment(`embedded PostgreSQL not started: ${err.message}`)
    t.plan(0, 'embedded PostgreSQL cannot run in this checkout')
    return
  }
  let stopped = false
  t.teardown(async () => { if (!stopped) await server.stop() })
  t.comment(`embedded PostgreSQL up in ${server.startup} ms`)
  t.match(server.url, /^postgres:\/\/postgres:[0-9a-f]+@127\.0\.0\.1:\d+\/test$/)

  const client = new pg.Client({ connectionString: server.url })
  await client.connect()
  const { rows } = await client.query("SELECT current_database() AS db, current_setting('server_version_num')::int AS version")
  t.same(rows[0].db, 'test')
  t.ok(rows[0].version >= 160000, `PostgreSQL ${rows[0].version}`)
  if (userInfo().uid === 0) {
    t.not(statSync(join(server.dir, 'data')).uid, 0, 'as root, the cluster belongs to (and runs as) another OS user')
  }
  await client.end()

  const repository = postgresRepository({ connectionString: server.url })
  t.same(await repository.getTypes('anyone'), [], 'the repository creates its schema and reads')
  await repository.close?.()

  await server.stop()
  stopped = true
  t.notOk(existsSync(server.dir), 'its directory is removed')
  const after = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 2000 })
  await t.rejects(after.connect(), 'nothing listens any more')
})
