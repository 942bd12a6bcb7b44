import { createHash } from 'node:crypto'
import { InvalidOptionError } from '../errors.js'
import { checkTablePrefix, exactlyOne } from './options.js'
import { MFA_STATUS, type MfaStatus } from '../status.js'
import type { MfaRepository, TypeRecord, TypeStatus } from './types.js'

/** What a `pg` query answers, as far as the repository reads it. */
export interface PgResult {
  rows: any[]
}

/** A pooled `pg` client: queries, then `release(err)` (an error destroys it). */
export interface PgClient {
  query: (text: string, values?: unknown[]) => Promise<PgResult>
  release: (err?: Error | boolean) => void
  /** pg's clients are EventEmitters: 'error' is listened to while the client is checked out. */
  on?: (event: 'error', listener: (err: Error) => void) => unknown
  removeListener?: (event: 'error', listener: (err: Error) => void) => unknown
}

/**
 * The part of a `pg` Pool the repository uses; structural, so the public types do not need
 * `@types/pg`. Listen for the pool's `error` event yourself (pg's advice for any pool).
 */
/** A named query: PostgreSQL parses and plans it once per connection instead of on every call. */
export interface PgQueryConfig {
  name: string
  text: string
  values?: unknown[]
}

export interface PgPool {
  query: (text: string | PgQueryConfig, values?: unknown[]) => Promise<PgResult>
  connect: () => Promise<PgClient>
}

export interface PostgresRepositoryOptions {
  /** A pool the caller owns; the repository never ends it. */
  pool?: PgPool
  /** A connection string for a pool the repository creates, and ends on `close()`. */
  connectionString?: string
  /** Prefix of the two table names [`glue_mfa_`]. */
  tablePrefix?: string
  /**
   * For a pool the repository creates: ms a call waits for a connection (a new one, or a free
   * one of the pool) before it fails; 0 waits forever [5000].
   */
  connectionTimeout?: number
  /**
   * For a pool the repository creates: ms a query may take before the call fails and its
   * connection is dropped; 0 means no limit [10000].
   */
  queryTimeout?: number
}

/** Bounds of a pool the repository creates, so a database that stops answering fails calls instead of hanging them. */
const CONNECTION_TIMEOUT = 5000
const QUERY_TIMEOUT = 10_000
/** Advisory lock key serialising this package's DDL ('gluemfa' in ASCII). */
const DDL_LOCK = '29111174069839457'

interface TypeRow {
  type: string
  status: number
  code_hash: string | null
  code_expires_at: string
  code_attempts: number
  code_verified: boolean
  last_sent_at: string | null
  secret: string | null
  last_step: string | null
}

/** BIGINT columns arrive as strings from pg; epoch ms and time steps fit a JS number. */
function toNumber (value: string | null): number | null {
  return value === null ? null : Number(value)
}

function toRecord (row: TypeRow): TypeRecord {
  return {
    type: row.type,
    status: row.status as MfaStatus,
    code: row.code_hash === null
      ? null
      : { hash: row.code_hash, expiresAt: Number(row.code_expires_at), attempts: row.code_attempts, verified: row.code_verified },
    lastSentAt: toNumber(row.last_sent_at),
    secret: row.secret,
    lastStep: toNumber(row.last_step)
  }
}

function checkOptions (options: PostgresRepositoryOptions): string {
  const { pool, connectionString } = options ?? {}
  exactlyOne('postgresRepository', options as Record<string, unknown> | undefined, 'pool', 'connectionString')
  if (connectionString !== undefined && (typeof connectionString !== 'string' || connectionString === '')) {
    throw new InvalidOptionError('postgresRepository.connectionString', 'must be a non-empty string')
  }
  if (pool !== undefined && (typeof pool?.query !== 'function' || typeof pool.connect !== 'function')) {
    throw new InvalidOptionError('postgresRepository.pool', 'must be a pg Pool')
  }
  for (const name of ['connectionTimeout', 'queryTimeout'] as const) {
    const value = options[name]
    if (value === undefined) continue
    if (pool !== undefined) throw new InvalidOptionError(`postgresRepository.${name}`, 'applies only to a pool the repository creates (set it on your own pool)')
    if (!Number.isInteger(value) || value < 0 || value > 2_147_483_647) {
      throw new InvalidOptionError(`postgresRepository.${name}`, 'must be an integer number of ms from 0 (no limit) to 2147483647')
    }
  }
  return checkTablePrefix('postgresRepository', options?.tablePrefix)
}

function statements (prefix: string) {
  const types = `"${prefix}types"`
  const principals = `"${prefix}principals"`
  const { DISABLED, PENDING, ENABLED } = MFA_STATUS
  // The principal's failure counter (memory.ts): a window that has ended starts over;
  // reaching the limit locks for one window and starts a new count (failures 0).
  const expired = '$3::bigint >= c.window_start + $4::bigint'
  const next = `(CASE WHEN ${expired} THEN 0 ELSE c.failures END + 1)`
  const lock = `${next} >= $5::int`
  return {
    // The primary keys are the lookup indexes: every query names a principal (and a type).
    schema: `
      CREATE TABLE IF NOT EXISTS ${types} (
        principal_id TEXT NOT NULL,
        type TEXT NOT NULL,
        status SMALLINT NOT NULL DEFAULT 0,
        code_hash TEXT,
        code_expires_at BIGINT,
        code_attempts INTEGER NOT NULL DEFAULT 0,
        code_verified BOOLEAN NOT NULL DEFAULT FALSE,
        last_sent_at BIGINT,
        secret TEXT,
        last_step BIGINT,
        PRIMARY KEY (principal_id, type)
      );
      CREATE TABLE IF NOT EXISTS ${principals} (
        principal_id TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        window_start BIGINT NOT NULL,
        locked_until BIGINT NOT NULL
      );`,
    getTypes: `SELECT * FROM ${types} WHERE principal_id = $1 ORDER BY type`,
    getStatuses: `SELECT type, status FROM ${types} WHERE principal_id = $1`,
    getType: `SELECT * FROM ${types} WHERE principal_id = $1 AND type = $2`,
    lockedUntil: `SELECT locked_until FROM ${principals} WHERE principal_id = $1`,
    beginActivation: `
      INSERT INTO ${types} AS t (principal_id, type, status, secret) VALUES ($1, $2, ${PENDING}, $3)
      ON CONFLICT (principal_id, type) DO UPDATE SET status = ${PENDING}, code_hash = NULL, code_expires_at = NULL,
        code_attempts = 0, code_verified = FALSE, secret = excluded.secret, last_step = NULL
      WHERE t.status <> ${ENABLED}
      RETURNING 1`,
    // Locks the row even when the slot is refused, so the follow-up read is stable.
    reserveSend: `
      INSERT INTO ${types} AS t (principal_id, type, last_sent_at) VALUES ($1, $2, $3::bigint)
      ON CONFLICT (principal_id, type) DO UPDATE SET last_sent_at = $3::bigint
      WHERE t.last_sent_at IS NULL OR $3::bigint >= t.last_sent_at + $4::bigint
      RETURNING 1`,
    lastSentAt: `SELECT last_sent_at FROM ${types} WHERE principal_id = $1 AND type = $2`,
    releaseSend: `UPDATE ${types} SET last_sent_at = $4::bigint WHERE principal_id = $1 AND type = $2 AND last_sent_at = $3::bigint`,
    storeCode: `
      INSERT INTO ${types} (principal_id, type, code_hash, code_expires_at) VALUES ($1, $2, $3, $4::bigint)
      ON CONFLICT (principal_id, type) DO UPDATE SET code_hash = excluded.code_hash,
        code_expires_at = excluded.code_expires_at, code_attempts = 0, code_verified = FALSE`,
    acceptHash: `
      UPDATE ${types} SET code_verified = TRUE, status = $4::smallint
      WHERE principal_id = $1 AND type = $2 AND status = $3::smallint AND code_hash = $5
        AND $6::bigint < code_expires_at AND code_attempts < $7::int
      RETURNING 1`,
    acceptStep: `
      UPDATE ${types} SET last_step = $5::bigint, status = $4::smallint
      WHERE principal_id = $1 AND type = $2 AND status = $3::smallint AND (last_step IS NULL OR last_step < $5::bigint)
      RETURNING 1`,
    status: `SELECT status FROM ${types} WHERE principal_id = $1 AND type = $2`,
    // One statement: the attempts of the codes and the principal's counter move together.
    recordFailure: `
      WITH codes AS (
        UPDATE ${types} SET code_attempts = code_attempts + 1
        WHERE principal_id = $1 AND type = ANY($2::text[]) AND code_hash IS NOT NULL
        RETURNING type, code_attempts
      ), counter AS (
        INSERT INTO ${principals} AS c (principal_id, failures, window_start, locked_until)
        VALUES ($1, $6::int, $3::bigint, $7::bigint)
        ON CONFLICT (principal_id) DO UPDATE SET
          failures = CASE WHEN ${lock} THEN 0 ELSE ${next} END,
          window_start = CASE WHEN ${lock} OR ${expired} THEN $3::bigint ELSE c.window_start END,
          locked_until = CASE WHEN ${lock} THEN $3::bigint + $4::bigint ELSE c.locked_until END
        RETURNING failures
      )
      SELECT (SELECT failures FROM counter) = 0 AS locked,
        ARRAY(SELECT type FROM codes WHERE code_attempts = $8::int) AS blocked`,
    disable: `
      UPDATE ${types} SET status = ${DISABLED}, code_hash = NULL, code_expires_at = NULL, code_attempts = 0,
        code_verified = FALSE, secret = NULL, last_step = NULL
      WHERE principal_id = $1 AND type = $2 AND status <> ${DISABLED}
      RETURNING 1`
  }
}

function ignore (): void {}

/** Runs `fn` in a transaction on one client; a failed client is destroyed, which rolls back. */
async function transaction<T> (pool: PgPool, fn: (client: PgClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  // A server that ends the connection between two statements (a restart) makes pg emit
  // 'error' on the client, which the pool does not listen to while it is checked out: unheard,
  // it would crash the process. The next statement then fails, and release(err) destroys it.
  client.on?.('error', ignore)
  try {
    await client.query('BEGIN')
    const result = await fn(client)
    await client.query('COMMIT')
    client.removeListener?.('error', ignore)
    client.release()
    return result
  } catch (err) {
    client.removeListener?.('error', ignore)
    client.release(err as Error)
    throw err
  }
}

/**
 * A repository on PostgreSQL through `pg` (an optional peer dependency, loaded on first use),
 * for several server instances sharing one database (spec §9.3). Every change that requests
 * can race is one statement (an upsert or a conditional UPDATE) or one transaction.
 */
export function postgresRepository (options: PostgresRepositoryOptions): MfaRepository {
  const sql = statements(checkOptions(options))
  let created: Promise<PgPool & { end: () => Promise<void> }> | undefined
  let ready: Promise<PgPool> | undefined

  async function createPool (connectionString: string): Promise<PgPool & { end: () => Promise<void> }> {
    const { default: pg } = await import('pg')
    const pool = new pg.Pool({
      connectionString,
      connectionTimeoutMillis: options.connectionTimeout ?? CONNECTION_TIMEOUT,
      query_timeout: options.queryTimeout ?? QUERY_TIMEOUT
    })
    // A server that ends connections (a restart) makes pg emit 'error' on the pool for idle
    // clients and on a client itself between statements; unheard, either would crash the
    // process. Every failure still reaches the call that meets it, so both are only heard.
    pool.on('error', ignore)
    pool.on('connect', (client) => { client.on('error', ignore) })
    return pool
  }

  async function open (): Promise<PgPool> {
    const pool = options.pool ?? await (created ??= createPool(options.connectionString as string))
    // Two instances starting at once must not race on CREATE TABLE IF NOT EXISTS.
    await transaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [DDL_LOCK])
      await client.query(sql.schema)
    })
    return pool
  }

  // The tables are made on first use and memoised; a failed attempt is retried by the next call.
  function db (): Promise<PgPool> {
    ready ??= open().catch((err) => {
      ready = undefined
      throw err
    })
    return ready
  }

  // Each statement is sent as a named (prepared) statement, named after its text so two
  // repositories with different table prefixes on one pool never share a name.
  const names = new Map<string, string>()
  function nameOf (text: string): string {
    let name = names.get(text)
    if (name === undefined) {
      name = `glue_mfa_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`
      names.set(text, name)
    }
    return name
  }

  async function query (text: string, values: unknown[]): Promise<any[]> {
    return (await (await db()).query({ name: nameOf(text), text, values })).rows
  }

  return {
    async getTypes (principalId) {
      return (await query(sql.getTypes, [principalId])).map(toRecord)
    },

    async getStatuses (principalId) {
      return await query(sql.getStatuses, [principalId]) as TypeStatus[]
    },

    async getType (principalId, type) {
      const [row] = await query(sql.getType, [principalId, type])
      return row === undefined ? null : toRecord(row)
    },

    async lockedUntil (principalId) {
      const [row] = await query(sql.lockedUntil, [principalId])
      return row === undefined ? 0 : Number(row.locked_until)
    },

    async beginActivation (principalId, type, secret) {
      return (await query(sql.beginActivation, [principalId, type, secret])).length > 0
    },

    async reserveSend (principalId, type, now, cooldown) {
      return await transaction(await db(), async (client) => {
        if ((await client.query(sql.reserveSend, [principalId, type, now, cooldown])).rows.length > 0) return 0
        const { rows } = await client.query(sql.lastSentAt, [principalId, type])
        return Number(rows[0].last_sent_at) + cooldown
      })
    },

    async releaseSend (principalId, type, reservedAt, previous) {
      await query(sql.releaseSend, [principalId, type, reservedAt, previous])
    },

    async storeCode (principalId, type, code) {
      await query(sql.storeCode, [principalId, type, code.hash, code.expiresAt])
    },

    async acceptCode (principalId, type, proof, options) {
      const { now, maxAttempts, requireStatus, enable } = options
      const status = enable ? MFA_STATUS.ENABLED : requireStatus
      const changed = 'hash' in proof
        ? await query(sql.acceptHash, [principalId, type, requireStatus, status, proof.hash, now, maxAttempts])
        : await query(sql.acceptStep, [principalId, type, requireStatus, status, proof.step])
      if (changed.length > 0) return 'accepted'
      // Why it was refused, read after the refusal: a status that is not (or no longer) the
      // required one is 'state'; otherwise the code or step was not valid.
      const [row] = await query(sql.status, [principalId, type])
      return row?.status === requireStatus ? 'code' : 'state'
    },

    async recordFailure (principalId, types, options) {
      const { now, maxAttempts, lockoutFailures, lockoutWindow } = options
      // A first failure is an insert: it locks at once only when the limit is 1.
      const first = lockoutFailures <= 1
      const [row] = await query(sql.recordFailure, [
        principalId, types, now, lockoutWindow, lockoutFailures, first ? 0 : 1, first ? now + lockoutWindow : 0, maxAttempts
      ])
      const blocked = new Set<string>(row.blocked)
      return { blocked: types.filter((type) => blocked.has(type)), locked: row.locked as boolean }
    },

    async disable (principalId, type) {
      return (await query(sql.disable, [principalId, type])).length > 0
    },

    async close () {
      // Only a pool this repository created is ended; a passed one belongs to the caller.
      const pool = created
      created = undefined // a second close() has nothing left to end
      if (pool !== undefined) await (await pool).end()
    }
  }
}
