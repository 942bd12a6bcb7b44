// PostgreSQL for the tests: the URL, the skip-or-fail rule, fresh table prefixes, and an
// admin connection for the fault tests.
import type { Test } from 'tap'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { userInfo } from 'node:os'

/** MFA_TEST_PG_URL; as with libpq (psql), a URL without a user name means the OS user. */
export function pgUrl (params: Record<string, string> = {}): string {
  const url = new URL(process.env.MFA_TEST_PG_URL ?? 'postgres://127.0.0.1:5432/test')
  if (url.username === '' && process.env.PGUSER === undefined) url.username = userInfo().username
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value)
  return url.toString()
}

/**
 * True when PostgreSQL answers. Otherwise the file fails under MFA_REQUIRE_PG=1 (CI), or
 * prints one line and is skipped.
 */
export async function postgresAvailable (t: Test): Promise<boolean> {
  const client = new pg.Client({ connectionString: pgUrl(), connectionTimeoutMillis: 5000 })
  try {
    await client.connect()
    await client.end()
    return true
  } catch (err) {
    if (process.env.MFA_REQUIRE_PG === '1') {
      const url = new URL(pgUrl())
      if (url.password !== '') url.password = '***'
      t.fail(`MFA_REQUIRE_PG=1 but PostgreSQL at ${url} cannot be reached: ${(err as Error).message}`)
    } else {
      t.comment('PostgreSQL suite not run: set MFA_TEST_PG_URL=postgres://user@host:5432/db to run it')
      t.plan(0, 'PostgreSQL not reachable')
    }
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
