import { createHash } from 'node:crypto'
import { InvalidOptionError } from '../errors.js'
import { claimSurface, loadDriver, unavailable } from './boot.js'
import { checkTablePrefix, exactlyOne } from './options.js'
import { MFA_STATUS, type MfaStatus } from '../status.js'
import type { Admission, MfaRepository, TypeRecord, TypeStatus } from './types.js'

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
  /**
   * A `pg.Pool` the caller owns and configures; the repository never ends it.
   * No default: give this or `connectionString`.
   */
  pool?: PgPool
  /**
   * A `postgres://` or `postgresql://` URL for a pool the repository creates, and ends on
   * `close()`. No default: give this or `pool`.
   */
  connectionString?: string
  /**
   * Prefix of the table names (`<prefix>types`, `<prefix>lockouts`, `<prefix>meta`) and of the
   * admission function (`<prefix>admit`): 1 to 40 letters, digits or `_`, not starting with a
   * digit. Each surface needs its own.
   * @default 'glue_mfa_'
   */
  tablePrefix?: string
  /**
   * For a pool the repository creates: ms a call waits for a connection (a new one, or a free
   * one of the pool) before it fails, 0 (wait forever) to 2147483647. Not with `pool`.
   * @default 5000
   */
  connectionTimeout?: number
  /**
   * For a pool the repository creates: ms a query may take before the call fails and its
   * connection is dropped, 0 (no limit) to 2147483647. Not with `pool`.
   * @default 10000
   */
  queryTimeout?: number
}

/** Bounds of a pool the repository creates, so a database that stops answering fails calls instead of hanging them. */
const CONNECTION_TIMEOUT = 5000
const QUERY_TIMEOUT = 10_000
const POSTGRES_URL = /^postgres(?:ql)?:\/\/\S/i
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
  if (connectionString !== undefined && (typeof connectionString !== 'string' || !POSTGRES_URL.test(connectionString))) {
    const scheme = typeof connectionString === 'string' ? /^([a-z][a-z0-9+.-]*):/i.exec(connectionString)?.[1] : undefined
    throw new InvalidOptionError('postgresRepository.connectionString',
      `must be a postgres:// or postgresql:// URL${scheme === undefined ? '' : ` (not ${scheme}:)`}`)
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
  // Lockout counters: the principal-wide one has token_id '', a token's its `jti`.
  const lockouts = `"${prefix}lockouts"`
  const admit = `"${prefix}admit"`
  // Which surface the tables belong to (storefront or backend): one store never serves both.
  const meta = `"${prefix}meta"`
  const { DISABLED, PENDING, ENABLED } = MFA_STATUS
  // One counter's step of the escalating lockout, as lockoutStep (lockout.ts) computes it.
  const step = (counter: string, rule: string, tokenId: string): string => `
    IF ${counter}.failures + 1 >= ${rule}[1] THEN
      lock_ms := CASE WHEN ${counter}.last_lock = 0 THEN ${rule}[2] ELSE least(${counter}.last_lock * 2, ${rule}[3]) END;
      UPDATE ${lockouts} SET failures = failures + 1, locked_until = p_now + lock_ms, last_lock = lock_ms
      WHERE principal_id = p_principal AND token_id = ${tokenId};
      locked := true;
    ELSE
      UPDATE ${lockouts} SET failures = failures + 1 WHERE principal_id = p_principal AND token_id = ${tokenId};
    END IF;`
  // Finds and row-locks one counter, creating it first if needed; an accepted code deleting it
  // in between makes the loop create it again.
  const row = (counter: string, tokenId: string): string => `
    LOOP
      SELECT failures, l.locked_until, last_lock INTO ${counter} FROM ${lockouts} l
      WHERE principal_id = p_principal AND token_id = ${tokenId} FOR UPDATE;
      EXIT WHEN FOUND;
      INSERT INTO ${lockouts} (principal_id, token_id, failures, locked_until, last_lock)
      VALUES (p_principal, ${tokenId}, 0, 0, 0) ON CONFLICT DO NOTHING;
    END LOOP;`
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
      CREATE TABLE IF NOT EXISTS ${meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS ${lockouts} (
        principal_id TEXT NOT NULL,
        token_id TEXT NOT NULL,
        failures INTEGER NOT NULL,
        locked_until BIGINT NOT NULL,
        last_lock BIGINT NOT NULL,
        PRIMARY KEY (principal_id, token_id)
      );
      -- The admission in one round trip: the counters are row-locked (principal first, then the
      -- token, always in that order), checked and counted, atomically.
      CREATE OR REPLACE FUNCTION ${admit} (p_principal TEXT, p_token TEXT, p_now BIGINT, p_rule BIGINT[],
        p_token_rule BIGINT[], OUT admitted BOOLEAN, OUT locked_until BIGINT, OUT locked BOOLEAN)
      LANGUAGE plpgsql AS $admit$
      #variable_conflict use_column
      DECLARE
        c RECORD;
        t RECORD;
        lock_ms BIGINT;
      BEGIN
        locked := false;
        ${row('c', "''")}
        locked_until := c.locked_until;
        IF p_token IS NOT NULL THEN
          ${row('t', 'p_token')}
          locked_until := greatest(locked_until, t.locked_until);
        END IF;
        IF p_now < locked_until THEN
          admitted := false;
          RETURN;
        END IF;
        admitted := true;
        ${step('c', 'p_rule', "''")}
        IF p_token IS NOT NULL THEN
          ${step('t', 'p_token_rule', 'p_token')}
        END IF;
      END
      $admit$;`,
    getTypes: `SELECT * FROM ${types} WHERE principal_id = $1 ORDER BY type`,
    getStatuses: `SELECT type, status FROM ${types} WHERE principal_id = $1`,
    getType: `SELECT * FROM ${types} WHERE principal_id = $1 AND type = $2`,
    surface: `SELECT value FROM ${meta} WHERE key = 'surface'`,
    claimSurface: `INSERT INTO ${meta} (key, value) VALUES ('surface', $1) ON CONFLICT (key) DO NOTHING`,
    lockedUntil: `SELECT locked_until FROM ${lockouts} WHERE principal_id = $1 AND token_id = ''`,
    admit: `SELECT * FROM ${admit}($1, $2, $3::bigint, $4::bigint[], $5::bigint[])`,
    beginActivation: `
      INSERT INTO ${types} AS t (principal_id, type, status, secret, code_hash, code_expires_at)
      VALUES ($1, $2, ${PENDING}, $3, $4, $5::bigint)
      ON CONFLICT (principal_id, type) DO UPDATE SET status = ${PENDING}, code_hash = excluded.code_hash,
        code_expires_at = excluded.code_expires_at, code_attempts = 0, code_verified = FALSE, secret = excluded.secret, last_step = NULL
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
    // A right code: the compare-and-set and the counters reset, in one statement; the last
    // parameter is the token id ('' for none).
    acceptHash: accept(types, lockouts, 'code_verified = TRUE', 'code_hash = $5 AND $6::bigint < code_expires_at AND code_attempts < $7::int', '$8'),
    acceptStep: accept(types, lockouts, 'last_step = $5::bigint', '(last_step IS NULL OR last_step < $5::bigint)', '$6'),
    // One hash out of the comma-separated set (hex hashes: none is part of another; '' is none,
    // even of an empty set, whose ',,' would otherwise hold it).
    acceptSpend: accept(types, lockouts, "secret = btrim(replace(',' || secret || ',', ',' || $5 || ',', ','), ',')",
      "$5 <> '' AND position(',' IN $5) = 0 AND position(',' || $5 || ',' IN ',' || secret || ',') > 0", '$6'),
    // A signed challenge: the newest code, used once (dropped), the factor's new state stored.
    acceptChallenge: accept(types, lockouts,
      'code_hash = NULL, code_expires_at = NULL, code_attempts = 0, code_verified = FALSE, secret = $8',
      'code_hash = $5 AND $6::bigint < code_expires_at AND code_attempts < $7::int', '$9'),
    countAttempts: `
      UPDATE ${types} SET code_attempts = code_attempts + 1
      WHERE principal_id = $1 AND type = ANY($2::text[]) AND code_hash IS NOT NULL
      RETURNING type, code_attempts`,
    status: `SELECT status FROM ${types} WHERE principal_id = $1 AND type = $2`,
    disable: `
      UPDATE ${types} SET status = ${DISABLED}, code_hash = NULL, code_expires_at = NULL, code_attempts = 0,
        code_verified = FALSE, secret = NULL, last_step = NULL
      WHERE principal_id = $1 AND type = $2 AND status <> ${DISABLED}
      RETURNING 1`,
    // The admin reset in one statement: a data-modifying WITH runs to completion whether or not
    // the UPDATE reads it. $2 is the type, or null for every type.
    reset: `
      WITH cleared AS (DELETE FROM ${lockouts} WHERE principal_id = $1)
      UPDATE ${types} SET status = ${DISABLED}, code_hash = NULL, code_expires_at = NULL, code_attempts = 0,
        code_verified = FALSE, secret = NULL, last_step = NULL
      WHERE principal_id = $1 AND ($2::text IS NULL OR type = $2::text) AND status <> ${DISABLED}
      RETURNING type`,
    clearLockout: `DELETE FROM ${lockouts} WHERE principal_id = $1`,
    revokeCodes: `
      UPDATE ${types} SET code_hash = NULL, code_expires_at = NULL, code_attempts = 0, code_verified = FALSE
      WHERE principal_id = $1 AND code_hash IS NOT NULL`
  }
}

function accept (types: string, lockouts: string, set: string, valid: string, tokenId: string): string {
  return `
    WITH accepted AS (
      UPDATE ${types} SET ${set}, status = $4::smallint
      WHERE principal_id = $1 AND type = $2 AND status = $3::smallint AND ${valid}
      RETURNING 1
    ), reset AS (
      DELETE FROM ${lockouts} WHERE principal_id = $1 AND token_id IN ('', ${tokenId}) AND EXISTS (SELECT 1 FROM accepted)
    )
    SELECT 1 FROM accepted`
}

/** The connection string without its password, for error messages. */
function safeUrl (connectionString: string): string {
  try {
    const url = new URL(connectionString)
    return `${url.protocol}//${url.username === '' ? '' : `${url.username}@`}${url.host}${url.pathname}`
  } catch {
    return 'the connectionString given'
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
 * for several server instances sharing one database. Every change that requests
 * can race is one statement (an upsert or a conditional UPDATE) or one transaction.
 */
export function postgresRepository (options: PostgresRepositoryOptions): MfaRepository {
  const prefix = checkOptions(options)
  const sql = statements(prefix)
  let created: Promise<PgPool & { end: () => Promise<void> }> | undefined
  let ready: Promise<PgPool> | undefined

  async function createPool (connectionString: string): Promise<PgPool & { end: () => Promise<void> }> {
    const { default: pg } = await loadDriver('postgresRepository', 'pg', async () => await import('pg'))
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

    async beginActivation (principalId, type, secret, code = null) {
      return (await query(sql.beginActivation, [principalId, type, secret, code?.hash ?? null, code?.expiresAt ?? null])).length > 0
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

    async admit (principalId, options) {
      const { now, principal, token } = options
      const rule = (r: typeof principal): number[] => [r.failures, r.duration, r.maxDuration]
      const [row] = await query(sql.admit, [principalId, token?.id ?? null, now, rule(principal), token === null ? null : rule(token.rule)])
      return row.admitted === true
        ? { admitted: true, locked: row.locked }
        : { admitted: false, lockedUntil: Number(row.locked_until) } satisfies Admission
    },

    async acceptCode (principalId, type, proof, options) {
      const { now, maxAttempts, requireStatus, enable, tokenId } = options
      const status = enable ? MFA_STATUS.ENABLED : requireStatus
      const changed = 'hash' in proof
        ? await query(sql.acceptHash, [principalId, type, requireStatus, status, proof.hash, now, maxAttempts, tokenId ?? ''])
        : 'step' in proof
          ? await query(sql.acceptStep, [principalId, type, requireStatus, status, proof.step, tokenId ?? ''])
          : 'challenge' in proof
            ? await query(sql.acceptChallenge, [principalId, type, requireStatus, status, proof.challenge, now, maxAttempts, proof.secret, tokenId ?? ''])
            : await query(sql.acceptSpend, [principalId, type, requireStatus, status, proof.spend, tokenId ?? ''])
      if (changed.length > 0) return 'accepted'
      // Why it was refused, read after the refusal: a status that is not (or no longer) the
      // required one is 'status-changed'; otherwise the code or step was not valid.
      const [row] = await query(sql.status, [principalId, type])
      return row?.status === requireStatus ? 'code-invalid' : 'status-changed'
    },

    async countAttempts (principalId, types, maxAttempts) {
      const rows = await query(sql.countAttempts, [principalId, types])
      const blocked = new Set(rows.filter((row) => row.code_attempts === maxAttempts).map((row) => row.type as string))
      return types.filter((type) => blocked.has(type))
    },

    async disable (principalId, type) {
      return (await query(sql.disable, [principalId, type])).length > 0
    },

    async ready (context) {
      try {
        await db() // the pool, the tables and the admission function: a round trip to the server
      } catch (err) {
        throw unavailable('postgresRepository', `cannot use ${options.pool === undefined ? `the database at ${safeUrl(options.connectionString as string)}` : 'its pool'}`, err)
      }
      if (context === undefined) return
      await claimSurface('postgresRepository', prefix, context.surface,
        async () => (await query(sql.surface, []))[0]?.value, async () => await query(sql.claimSurface, [context.surface]))
    },

    async close () {
      // Only a pool this repository created is ended; a passed one belongs to the caller.
      const pool = await created?.catch(() => undefined) // a pool that was never made (no driver) has nothing to end
      created = undefined // a second close() has nothing left to end
      await pool?.end()
    },

    async reset (principalId, type) {
      return (await query(sql.reset, [principalId, type])).map((row) => row.type as string)
    },

    async clearLockout (principalId) {
      await query(sql.clearLockout, [principalId])
    },

    async revokeCodes (principalId) {
      await query(sql.revokeCodes, [principalId])
    }
  }
}
