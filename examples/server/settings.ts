/**
 * What the example server is built from: its options, as `npm start` reads them from the
 * environment, and the MFA stores they select.
 */
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { FastifyServerOptions } from 'fastify'
import { memoryRepository, postgresRepository, sqliteRepository, type CodeMessage, type MfaRepository } from '../../lib/index.js'
import { readableLogStream } from './log.js'

export interface DemoServerOptions {
  /**
   * Where MFA state lives: 'memory', a `postgres://` (or `postgresql://`) URL, or a SQLite
   * file name (its directory is created) [data/glue-mfa-demo.db].
   */
  database?: string
  /** Development mode: the secrets below may be left out (fixed dev-only keys are used) [false]. */
  devMode?: boolean
  /** The dev mail outbox: `GET /dev/outbox`, and each email code logged at info level [devMode]. */
  outbox?: boolean
  /** HMAC key of codes at rest, at least 32 bytes. Required unless `devMode`. */
  codeSecret?: string
  /** Key the demo access tokens are signed with (each surface gets its own, derived). Required unless `devMode`. */
  jwtSecret?: string
  /** Your mailer. Without one, codes go to the dev outbox, or, with the outbox off, delivery fails (5910). */
  mailer?: (message: CodeMessage) => Promise<void>
  /** Fastify's `logger` option [true]. */
  logger?: FastifyServerOptions['logger']
  /** Epoch ms clock of both MFA registrations (tests move it instead of sleeping) [Date.now]. */
  clock?: () => number
  /** Table prefix of the storefront in SQLite/PostgreSQL; the back office adds `backend_` [glue_mfa_]. */
  tablePrefix?: string
  /** Per-IP limit of each MFA route, through @fastify/rate-limit; `false`: none [MFA_RATE_LIMIT]. */
  rateLimit?: { max: number, timeWindow: number } | false
  /**
   * The passkey type of both surfaces: the relying-party id and the exact origin the page is
   * opened on, or `false`: no passkey type. `npm start` takes it from HOST and PORT
   * ({@link passkeyRelyingParty}). A server that listens on port 0 (tests) knows its port only
   * after listen: pick the port first and pass `passkeyRelyingParty('127.0.0.1', port)`
   * [`{ rpID: 'localhost', origin: 'http://localhost:3000' }`, the default HOST and PORT].
   */
  passkey?: PasskeyRelyingParty | false
}

/** Who a passkey is made for: `rpID` (a domain, never an IP address) and the page's origin. */
export interface PasskeyRelyingParty {
  rpID: string
  origin: string
}

/** The addresses that mean "this machine": the page is opened on `http://localhost:<port>`. */
export const LOOPBACK_HOSTS = ['127.0.0.1', '::1', 'localhost', '0.0.0.0', '::', '']

/**
 * The passkey relying party of a server listening on `host:port`. WebAuthn needs a secure
 * context and a domain name: on loopback or every address (and HOST unset) the page is opened
 * on `http://localhost:<port>` (localhost is a secure context), so `rpID: 'localhost'`. A domain
 * name is the relying party itself, behind an https proxy on port 443 (`https://<host>`: plain
 * http on another name is not a secure context). Any other IP address: no passkeys (`false`),
 * browsers refuse an IP address as the relying-party id.
 */
export function passkeyRelyingParty (host: string | undefined, port: number): PasskeyRelyingParty | false {
  const name = (host ?? '').trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (LOOPBACK_HOSTS.includes(name)) return { rpID: 'localhost', origin: `http://localhost:${port}` }
  if (name.includes(':') || /^[0-9.]+$/.test(name) || !/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(name)) return false
  return { rpID: name, origin: `https://${name}` }
}

/** Dev-only keys, so a SQLite file survives restarts in dev mode. Never used in production mode. */
const DEV_CODE_SECRET = 'glue-mfa-demo-DEV-ONLY-code-secret-do-not-use-in-production'
const DEV_JWT_SECRET = 'glue-mfa-demo-DEV-ONLY-jwt-secret-do-not-use-in-production'
export const DEFAULT_DATABASE = 'data/glue-mfa-demo.db'
/** `npm start` listens on PORT [3000] and HOST [127.0.0.1]. */
export const DEFAULT_PORT = 3000
export const DEFAULT_HOST = '127.0.0.1'
/** Each MFA route answers one IP address 30 times a minute, then 429 with Retry-After. */
export const MFA_RATE_LIMIT = { max: 30, timeWindow: 60_000 }

/** Development mode: NODE_ENV is 'development' or unset. Anything else ('production', 'test') is not. */
export function isDevMode (env: NodeJS.ProcessEnv): boolean {
  return env.NODE_ENV === undefined || env.NODE_ENV === '' || env.NODE_ENV === 'development'
}

/**
 * The dev outbox rule: `GET /dev/outbox` exists, and codes are logged, only in development
 * mode and when MFA_DEMO_OUTBOX is not '0'.
 */
export function isOutboxEnabled (env: NodeJS.ProcessEnv): boolean {
  return isDevMode(env) && env.MFA_DEMO_OUTBOX !== '0'
}

/** buildServer's options as `npm start` takes them from the environment. */
export function optionsFromEnv (env: NodeJS.ProcessEnv): DemoServerOptions {
  const devMode = isDevMode(env)
  return {
    database: env.DATABASE_URL !== undefined && env.DATABASE_URL !== '' ? env.DATABASE_URL : DEFAULT_DATABASE,
    devMode,
    outbox: isOutboxEnabled(env),
    codeSecret: env.MFA_CODE_SECRET,
    jwtSecret: env.JWT_SECRET,
    passkey: passkeyRelyingParty(env.HOST, Number(env.PORT ?? DEFAULT_PORT)),
    logger: devMode ? { level: 'info', stream: readableLogStream(process.stdout) } : { level: 'info' }
  }
}

/** The options with every default filled in. */
export interface DemoSettings {
  devMode: boolean
  outbox: boolean
  database: string
  clock: () => number
  codeSecret: string
  jwtSecret: string
  mailer: ((message: CodeMessage) => Promise<void>) | undefined
  tablePrefix: string
  rateLimit: { max: number, timeWindow: number } | false
  passkey: PasskeyRelyingParty | false
}

/**
 * Fills in the defaults. Throws when a production-mode server lacks its secrets, so nothing
 * starts with a dev-only key.
 */
export function resolveSettings (options: DemoServerOptions): DemoSettings {
  const devMode = options.devMode ?? false
  const codeSecret = options.codeSecret ?? (devMode ? DEV_CODE_SECRET : undefined)
  const jwtSecret = options.jwtSecret ?? (devMode ? DEV_JWT_SECRET : undefined)
  if (codeSecret === undefined || jwtSecret === undefined) {
    throw new Error('outside development mode (NODE_ENV unset or "development") set MFA_CODE_SECRET (at least 32 bytes) and JWT_SECRET: the dev-only keys are not used')
  }
  return {
    devMode,
    outbox: options.outbox ?? devMode,
    database: options.database ?? DEFAULT_DATABASE,
    clock: options.clock ?? Date.now,
    codeSecret,
    jwtSecret,
    mailer: options.mailer,
    tablePrefix: options.tablePrefix ?? 'glue_mfa_',
    rateLimit: options.rateLimit ?? MFA_RATE_LIMIT,
    passkey: options.passkey ?? passkeyRelyingParty(DEFAULT_HOST, DEFAULT_PORT)
  }
}

function isPostgres (database: string): boolean {
  return /^postgres(ql)?:\/\//.test(database)
}

/** Where state lives, for the startup message (the password of a URL left out). */
export function describeDatabase (database: string): string {
  if (database === 'memory') return 'in memory (lost on restart)'
  if (isPostgres(database)) return `PostgreSQL ${database.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')}`
  return `SQLite ${database}`
}

/** One repository per surface, in one database: the backend's tables carry their own prefix. */
export function repositoriesFor (database: string, prefix: string): { storefront: MfaRepository, backend: MfaRepository } {
  if (database === 'memory') return { storefront: memoryRepository(), backend: memoryRepository() }
  if (isPostgres(database)) {
    return {
      storefront: postgresRepository({ connectionString: database, tablePrefix: prefix }),
      backend: postgresRepository({ connectionString: database, tablePrefix: `${prefix}backend_` })
    }
  }
  mkdirSync(dirname(resolve(database)), { recursive: true })
  return {
    storefront: sqliteRepository({ filename: database, tablePrefix: prefix }),
    backend: sqliteRepository({ filename: database, tablePrefix: `${prefix}backend_` })
  }
}
