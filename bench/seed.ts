// Bulk seeding of the SQL stores for the list and scale cases, done by the runner before the
// server children start (so the children's peak RSS is that of serving, not of seeding). The
// tables are made by the repositories themselves; the rows go in with bulk SQL.
import Database from 'better-sqlite3'
import pg from 'pg'
import { postgresRepository, sqliteRepository } from '../lib/index.js'
import { LIST_PRINCIPAL } from './common.js'

/** The id of the i-th filler principal; fixed width, so keys go in in order. */
function fillerId (i: number): string {
  return `user-${String(i).padStart(8, '0')}`
}

/** A code hash of the stored width (64 hex digits); filler rows never verify. */
const FILLER_HASH = 'f'.repeat(64)
const FAR_FUTURE = Date.UTC(2100, 0, 1)

/**
 * `rows` filler principals, each with an email row (status cycling 0/1/2, a code on 1 and 2),
 * in one IMMEDIATE transaction with one prepared statement; `analyze` runs ANALYZE afterwards.
 * The principal the list asks for is enabled by each server through the plugin (server.ts).
 * Answers the ms it took.
 */
export async function seedSqlite (filename: string, tablePrefix: string, rows: number, analyze = false): Promise<number> {
  const started = performance.now()
  const repository = sqliteRepository({ filename, tablePrefix })
  await repository.getTypes(LIST_PRINCIPAL) // creates the tables
  await repository.close?.()

  const db = new Database(filename)
  try {
    db.pragma('journal_mode = WAL')
    const insert = db.prepare(`INSERT INTO "${tablePrefix}types" (principal_id, type, status, code_hash, code_expires_at)
      VALUES (?, 'email', ?, ?, ?)`)
    db.transaction(() => {
      for (let i = 1; i <= rows; i++) {
        const status = i % 3
        insert.run(fillerId(i), status, status === 0 ? null : FILLER_HASH, status === 0 ? null : FAR_FUTURE)
      }
    }).immediate()
    // Everything into the main file, so the server does not read through a large WAL.
    db.pragma('wal_checkpoint(TRUNCATE)')
    // No ANALYZE unless asked (BENCH_SQLITE_ANALYZE=1): better-sqlite3 builds SQLite with STAT4,
    // and with STAT4 samples present a statement comparing a bound value with an indexed column
    // re-prepares itself on every run (see BENCHMARKS.md).
    if (analyze) db.exec('ANALYZE')
  } finally {
    db.close()
  }
  return performance.now() - started
}

/** The same filler rows in PostgreSQL, from one INSERT … SELECT generate_series, then VACUUM ANALYZE. */
export async function seedPostgres (connectionString: string, tablePrefix: string, rows: number): Promise<number> {
  const started = performance.now()
  const repository = postgresRepository({ connectionString, tablePrefix })
  await repository.getTypes(LIST_PRINCIPAL) // creates the tables
  await repository.close?.()

  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    const types = `"${tablePrefix}types"`
    await client.query(`
      INSERT INTO ${types} (principal_id, type, status, code_hash, code_expires_at)
      SELECT 'user-' || lpad(g::text, 8, '0'), 'email', g % 3,
        CASE WHEN g % 3 = 0 THEN NULL ELSE md5(g::text) || md5((-g)::text) END,
        CASE WHEN g % 3 = 0 THEN NULL ELSE $2::bigint END
      FROM generate_series(1, $1::int) AS g`, [rows, FAR_FUTURE])
    // Fresh statistics and visibility: the plan and the page state do not change mid-run.
    await client.query(`VACUUM ANALYZE ${types}`)
  } finally {
    await client.end()
  }
  return performance.now() - started
}

/** Null when PostgreSQL answers, else why not. */
export async function postgresUnreachable (connectionString: string): Promise<string | null> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return null
  } catch (err) {
    return (err as Error).message
  } finally {
    await client.end().catch(() => {})
  }
}

/** Drops the tables of every prefix this run used. */
export async function dropPostgresTables (connectionString: string, prefixes: string[]): Promise<void> {
  if (prefixes.length === 0) return
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 3000 })
  await client.connect()
  try {
    for (const prefix of prefixes) {
      await client.query(`DROP TABLE IF EXISTS "${prefix}types", "${prefix}principals"`)
    }
  } finally {
    await client.end()
  }
}
