import { InvalidOptionError } from '../errors.js'
import { claimSurface, loadDriver, unavailable } from './boot.js'
import { checkTablePrefix, exactlyOne } from './options.js'
import { MFA_STATUS, type MfaStatus } from '../status.js'
import { lockoutStep, type LockoutCounter } from './lockout.js'
import type { AcceptResult, Admission, CodeProof, AdmitOptions, MfaRepository, TypeRecord } from './types.js'

/** The part of a better-sqlite3 statement the repository uses. */
export interface SqliteStatement {
  run: (...params: any[]) => unknown
  get: (...params: any[]) => unknown
  all: (...params: any[]) => unknown[]
  /** Rows as arrays of values instead of objects (better-sqlite3 `raw`). */
  raw: (toggle?: boolean) => SqliteStatement
}

/**
 * The part of a better-sqlite3 `Database` the repository uses; structural, so the public
 * types do not need `@types/better-sqlite3`.
 */
export interface SqliteDatabase {
  prepare: (source: string) => SqliteStatement
  exec: (source: string) => unknown
  transaction: (fn: (...args: any[]) => any) => { immediate: (...args: any[]) => any }
}

export interface SqliteRepositoryOptions {
  /**
   * A database file the repository opens (WAL mode, 5 s busy timeout) and closes on `close()`.
   * No default: give this or `database`.
   */
  filename?: string
  /**
   * An open better-sqlite3 `Database`, used as the caller configured it and never closed by the
   * repository. No default: give this or `filename`.
   */
  database?: SqliteDatabase
  /**
   * Prefix of the table names (`<prefix>types`, `<prefix>lockouts`, `<prefix>meta`): 1 to 40
   * letters, digits or `_`, not starting with a digit. Each surface needs its own.
   * @default 'glue_mfa_'
   */
  tablePrefix?: string
}

/** How long a connection waits for another one's write lock before failing (ms). */
const BUSY_TIMEOUT = 5000

interface TypeRow {
  type: string
  status: number
  code_hash: string | null
  code_expires_at: number
  code_attempts: number
  code_verified: number
  last_sent_at: number | null
  secret: string | null
  last_step: number | null
}

function toRecord (row: TypeRow): TypeRecord {
  return {
    type: row.type,
    status: row.status as MfaStatus,
    code: row.code_hash === null
      ? null
      : { hash: row.code_hash, expiresAt: row.code_expires_at, attempts: row.code_attempts, verified: row.code_verified === 1 },
    lastSentAt: row.last_sent_at,
    secret: row.secret,
    lastStep: row.last_step
  }
}

function checkOptions (options: SqliteRepositoryOptions): string {
  const { filename, database } = options ?? {}
  exactlyOne('sqliteRepository', options as Record<string, unknown> | undefined, 'filename', 'database')
  if (filename !== undefined && (typeof filename !== 'string' || filename === '')) {
    throw new InvalidOptionError('sqliteRepository.filename', 'must be a non-empty path')
  }
  if (database !== undefined && typeof database?.prepare !== 'function') {
    throw new InvalidOptionError('sqliteRepository.database', 'must be a better-sqlite3 Database')
  }
  return checkTablePrefix('sqliteRepository', options?.tablePrefix)
}

function schema (types: string, lockouts: string, meta: string): string {
  // The primary keys are the lookup indexes: every query names a principal (and a type).
  return `
    CREATE TABLE IF NOT EXISTS ${types} (
      principal_id TEXT NOT NULL,
      type TEXT NOT NULL,
      status INTEGER NOT NULL DEFAULT 0,
      code_hash TEXT,
      code_expires_at INTEGER,
      code_attempts INTEGER NOT NULL DEFAULT 0,
      code_verified INTEGER NOT NULL DEFAULT 0,
      last_sent_at INTEGER,
      secret TEXT,
      last_step INTEGER,
      PRIMARY KEY (principal_id, type)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS ${lockouts} (
      principal_id TEXT NOT NULL,
      token_id TEXT NOT NULL,
      failures INTEGER NOT NULL,
      locked_until INTEGER NOT NULL,
      last_lock INTEGER NOT NULL,
      PRIMARY KEY (principal_id, token_id)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS ${meta} (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`
}

/** Creates the tables if needed, then prepares every statement once. */
function prepare (db: SqliteDatabase, prefix: string) {
  const types = `"${prefix}types"`
  // Lockout counters: the principal-wide one has token_id '', a token's its `jti`.
  const lockouts = `"${prefix}lockouts"`
  // Which surface the tables belong to (storefront or backend): one store never serves both.
  const meta = `"${prefix}meta"`
  const found = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN (?, ?, ?)")
    .get(`${prefix}types`, `${prefix}lockouts`, `${prefix}meta`) as { n: number }
  // Skipped when the tables exist, so a read-only connection can still read.
  if (found.n < 3) db.transaction(() => db.exec(schema(types, lockouts, meta))).immediate()

  const key = 'principal_id = @principalId AND type = @type'
  const { DISABLED, PENDING, ENABLED } = MFA_STATUS
  // `? || ''` instead of a bare `?` where only the first key column is compared: better-sqlite3
  // builds SQLite with STAT4, and once ANALYZE (or PRAGMA optimize) has stored samples, a bare
  // parameter there makes SQLite re-prepare the statement whenever its value changes, i.e. on
  // every call (twice the cost). The expression hides the value from the planner; the plan is
  // the same primary-key search (test/repositories/sqlite.test.ts, BENCHMARKS.md).
  const byPrincipal = "principal_id = ? || ''"
  const statements = {
    getTypes: db.prepare(`SELECT * FROM ${types} WHERE ${byPrincipal} ORDER BY type`),
    // Raw rows: the list reads only these two values, and arrays skip building a keyed object per row.
    getStatuses: db.prepare(`SELECT type, status FROM ${types} WHERE ${byPrincipal}`).raw(true),
    getType: db.prepare(`SELECT * FROM ${types} WHERE principal_id = ? AND type = ?`),
    surface: db.prepare(`SELECT value FROM ${meta} WHERE key = 'surface'`),
    claimSurface: db.prepare(`INSERT INTO ${meta} (key, value) VALUES ('surface', ?) ON CONFLICT (key) DO NOTHING`),
    lockedUntil: db.prepare(`SELECT locked_until FROM ${lockouts} WHERE principal_id = ? AND token_id = ''`),
    counters: db.prepare(`SELECT token_id, failures, locked_until, last_lock FROM ${lockouts} WHERE principal_id = ? AND token_id IN ('', ?)`),
    setCounter: db.prepare(`
      INSERT INTO ${lockouts} (principal_id, token_id, failures, locked_until, last_lock)
      VALUES (@principalId, @tokenId, @failures, @lockedUntil, @lastLock)
      ON CONFLICT (principal_id, token_id) DO UPDATE SET failures = excluded.failures,
        locked_until = excluded.locked_until, last_lock = excluded.last_lock`),
    resetCounters: db.prepare(`DELETE FROM ${lockouts} WHERE principal_id = ? AND token_id IN ('', ?)`),
    countAttempt: db.prepare(`
      UPDATE ${types} SET code_attempts = code_attempts + 1 WHERE ${key} AND code_hash IS NOT NULL
      RETURNING code_attempts`),
    beginActivation: db.prepare(`
      INSERT INTO ${types} AS t (principal_id, type, status, secret, code_hash, code_expires_at)
      VALUES (@principalId, @type, ${PENDING}, @secret, @hash, @expiresAt)
      ON CONFLICT (principal_id, type) DO UPDATE SET status = ${PENDING}, code_hash = excluded.code_hash,
        code_expires_at = excluded.code_expires_at, code_attempts = 0, code_verified = 0, secret = excluded.secret, last_step = NULL
      WHERE t.status <> ${ENABLED}
      RETURNING 1`),
    reserveSend: db.prepare(`
      INSERT INTO ${types} AS t (principal_id, type, last_sent_at) VALUES (@principalId, @type, @now)
      ON CONFLICT (principal_id, type) DO UPDATE SET last_sent_at = @now
      WHERE t.last_sent_at IS NULL OR @now >= t.last_sent_at + @cooldown
      RETURNING 1`),
    lastSentAt: db.prepare(`SELECT last_sent_at FROM ${types} WHERE ${key}`),
    releaseSend: db.prepare(`UPDATE ${types} SET last_sent_at = @previous WHERE ${key} AND last_sent_at = @reservedAt`),
    storeCode: db.prepare(`
      INSERT INTO ${types} (principal_id, type, code_hash, code_expires_at) VALUES (@principalId, @type, @hash, @expiresAt)
      ON CONFLICT (principal_id, type) DO UPDATE SET code_hash = excluded.code_hash,
        code_expires_at = excluded.code_expires_at, code_attempts = 0, code_verified = 0`),
    acceptHash: db.prepare(`
      UPDATE ${types} SET code_verified = 1, status = @status
      WHERE ${key} AND status = @requireStatus AND code_hash = @hash
        AND @now < code_expires_at AND code_attempts < @maxAttempts
      RETURNING 1`),
    acceptStep: db.prepare(`
      UPDATE ${types} SET last_step = @step, status = @status
      WHERE ${key} AND status = @requireStatus AND (last_step IS NULL OR last_step < @step)
      RETURNING 1`),
    // One hash out of the comma-separated set (hex hashes: none is part of another; '' is none,
    // even of an empty set, whose ',,' would otherwise hold it).
    acceptSpend: db.prepare(`
      UPDATE ${types} SET secret = trim(replace(',' || secret || ',', ',' || @spend || ',', ','), ','), status = @status
      WHERE ${key} AND status = @requireStatus AND @spend <> '' AND instr(@spend, ',') = 0 AND instr(',' || secret || ',', ',' || @spend || ',') > 0
      RETURNING 1`),
    // A signed challenge: the newest code, used once (dropped), the factor's new state stored.
    acceptChallenge: db.prepare(`
      UPDATE ${types} SET code_hash = NULL, code_expires_at = NULL, code_attempts = 0, code_verified = 0,
        secret = @secret, status = @status
      WHERE ${key} AND status = @requireStatus AND code_hash = @challenge
        AND @now < code_expires_at AND code_attempts < @maxAttempts
      RETURNING 1`),
    status: db.prepare(`SELECT status FROM ${types} WHERE ${key}`),
    disable: db.prepare(`
      UPDATE ${types} SET status = ${DISABLED}, code_hash = NULL, code_expires_at = NULL, code_attempts = 0,
        code_verified = 0, secret = NULL, last_step = NULL
      WHERE ${key} AND status <> ${DISABLED}
      RETURNING 1`),
    // The admin operations: every type of a principal (or one), every counter of a principal.
    resetTypes: db.prepare(`
      UPDATE ${types} SET status = ${DISABLED}, code_hash = NULL, code_expires_at = NULL, code_attempts = 0,
        code_verified = 0, secret = NULL, last_step = NULL
      WHERE principal_id = @principalId || '' AND (@type IS NULL OR type = @type) AND status <> ${DISABLED}
      RETURNING type`),
    clearLockout: db.prepare(`DELETE FROM ${lockouts} WHERE ${byPrincipal}`),
    revokeCodes: db.prepare(`
      UPDATE ${types} SET code_hash = NULL, code_expires_at = NULL, code_attempts = 0, code_verified = 0
      WHERE ${byPrincipal} AND code_hash IS NOT NULL`)
  }

  // Changes made of several statements run as BEGIN IMMEDIATE transactions, so another
  // connection (or process) on the same file waits for them instead of interleaving.
  const reserveSend = db.transaction((principalId: string, type: string, now: number, cooldown: number): number => {
    if (statements.reserveSend.get({ principalId, type, now, cooldown }) !== undefined) return 0
    const row = statements.lastSentAt.get({ principalId, type }) as { last_sent_at: number }
    return row.last_sent_at + cooldown
  })
  const admit = db.transaction((principalId: string, options: AdmitOptions): Admission => {
    const { now, token } = options
    const tokenId = token?.id ?? ''
    let principal: LockoutCounter = { failures: 0, lockedUntil: 0, lastLock: 0 }
    let own: LockoutCounter = principal
    for (const [id, failures, lockedUntil, lastLock] of statements.counters.all(principalId, tokenId) as Array<[string, number, number, number]>) {
      const counter = { failures, lockedUntil, lastLock }
      if (id === '') principal = counter
      else own = counter
    }
    const lockedUntil = Math.max(principal.lockedUntil, token === null ? 0 : own.lockedUntil)
    if (now < lockedUntil) return { admitted: false, lockedUntil }
    const next = lockoutStep(principal, options.principal, now)
    statements.setCounter.run({ principalId, tokenId: '', failures: next.failures, lockedUntil: next.lockedUntil, lastLock: next.lastLock })
    let locked = next.locked
    if (token !== null) {
      const nextOwn = lockoutStep(own, token.rule, now)
      statements.setCounter.run({ principalId, tokenId, failures: nextOwn.failures, lockedUntil: nextOwn.lockedUntil, lastLock: nextOwn.lastLock })
      locked ||= nextOwn.locked
    }
    return { admitted: true, locked }
  })
  const acceptCode = db.transaction((params: Record<string, unknown>, proof: CodeProof, tokenId: string | null): AcceptResult => {
    const statement = 'step' in proof
      ? statements.acceptStep
      : 'hash' in proof ? statements.acceptHash : 'challenge' in proof ? statements.acceptChallenge : statements.acceptSpend
    if (statement.get(params) === undefined) {
      const row = statements.status.get(params) as { status: number } | undefined
      return row?.status === params.requireStatus ? 'code-invalid' : 'status-changed'
    }
    statements.resetCounters.run(params.principalId, tokenId ?? '')
    return 'accepted'
  })
  statements.counters.raw(true)
  const countAttempts = db.transaction((principalId: string, typeNames: string[], maxAttempts: number): string[] => typeNames.filter((type) => {
    const row = statements.countAttempt.get({ principalId, type }) as { code_attempts: number } | undefined
    return row?.code_attempts === maxAttempts
  }))
  const reset = db.transaction((principalId: string, type: string | null): string[] => {
    const disabled = (statements.resetTypes.all({ principalId, type }) as Array<{ type: string }>).map((row) => row.type)
    statements.clearLockout.run(principalId)
    return disabled
  })
  return {
    ...statements,
    reserveSendTx: reserveSend.immediate,
    admitTx: admit.immediate,
    acceptCodeTx: acceptCode.immediate,
    countAttemptsTx: countAttempts.immediate,
    resetTx: reset.immediate
  }
}

/**
 * A persistent repository on SQLite through better-sqlite3 (an optional peer dependency,
 * loaded on first use). better-sqlite3 is synchronous, so each method runs to completion
 * without yielding; changes spanning statements are IMMEDIATE transactions, so several
 * connections or processes on one file stay consistent.
 */
export function sqliteRepository (options: SqliteRepositoryOptions): MfaRepository {
  const prefix = checkOptions(options)
  let owned: { close: () => unknown } | undefined
  let ready: Promise<ReturnType<typeof prepare>> | undefined

  async function open (): Promise<ReturnType<typeof prepare>> {
    if (options.database !== undefined) return prepare(options.database, prefix)
    const { default: Database } = await loadDriver('sqliteRepository', 'better-sqlite3@12', async () => await import('better-sqlite3'))
    const db = new Database(options.filename, { timeout: BUSY_TIMEOUT })
    try {
      db.pragma('journal_mode = WAL')
      const statements = prepare(db, prefix)
      owned = db
      return statements
    } catch (err) {
      db.close()
      throw err
    }
  }

  // Opened on first use and memoised; a failed open is retried by the next call.
  function store (): Promise<ReturnType<typeof prepare>> {
    ready ??= open().catch((err) => {
      ready = undefined
      throw err
    })
    return ready
  }

  return {
    async getTypes (principalId) {
      return ((await store()).getTypes.all(principalId) as TypeRow[]).map(toRecord)
    },

    async getStatuses (principalId) {
      return ((await store()).getStatuses.all(principalId) as Array<[string, MfaStatus]>).map(([type, status]) => ({ type, status }))
    },

    async getType (principalId, type) {
      const row = (await store()).getType.get(principalId, type) as TypeRow | undefined
      return row === undefined ? null : toRecord(row)
    },

    async lockedUntil (principalId) {
      const row = (await store()).lockedUntil.get(principalId) as { locked_until: number } | undefined
      return row?.locked_until ?? 0
    },

    async admit (principalId, options) {
      return (await store()).admitTx(principalId, options)
    },

    async beginActivation (principalId, type, secret, code = null) {
      return (await store()).beginActivation.get({ principalId, type, secret, hash: code?.hash ?? null, expiresAt: code?.expiresAt ?? null }) !== undefined
    },

    async reserveSend (principalId, type, now, cooldown) {
      return (await store()).reserveSendTx(principalId, type, now, cooldown)
    },

    async releaseSend (principalId, type, reservedAt, previous) {
      (await store()).releaseSend.run({ principalId, type, reservedAt, previous })
    },

    async storeCode (principalId, type, code) {
      (await store()).storeCode.run({ principalId, type, hash: code.hash, expiresAt: code.expiresAt })
    },

    async acceptCode (principalId, type, proof, options) {
      const { now, maxAttempts, requireStatus, enable } = options
      const status = enable ? MFA_STATUS.ENABLED : requireStatus
      const params = { principalId, type, now, maxAttempts, requireStatus, status, ...proof }
      return (await store()).acceptCodeTx(params, proof, options.tokenId)
    },

    async countAttempts (principalId, types, maxAttempts) {
      return (await store()).countAttemptsTx(principalId, types, maxAttempts)
    },

    async disable (principalId, type) {
      return (await store()).disable.get({ principalId, type }) !== undefined
    },

    async ready (context) {
      let statements: Awaited<ReturnType<typeof store>>
      try {
        statements = await store() // opened, tables made or checked, statements prepared
      } catch (err) {
        throw unavailable('sqliteRepository', `cannot open ${options.filename === undefined ? 'its database' : `"${options.filename}"`}`, err)
      }
      if (context === undefined) return
      await claimSurface('sqliteRepository', prefix, context.surface,
        () => (statements.surface.get() as { value: string } | undefined)?.value, () => statements.claimSurface.run(context.surface))
    },

    async close () {
      // Only a database this repository opened is closed; a passed one belongs to the caller.
      owned?.close()
      owned = undefined
    },

    async reset (principalId, type) {
      return (await store()).resetTx(principalId, type)
    },

    async clearLockout (principalId) {
      (await store()).clearLockout.run(principalId)
    },

    async revokeCodes (principalId) {
      (await store()).revokeCodes.run(principalId)
    }
  }
}
