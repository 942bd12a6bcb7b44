import type { FastifyRequest } from 'fastify'
import type { MfaEvent } from './events.js'
import { integer, invalidOption as fail, oneOf, optionalFunction } from './option-checks.js'
import type { Principal } from './principal.js'
import { FACTOR_KINDS } from './providers/kinds.js'
import type { MfaProvider } from './providers/types.js'
import { OPTIONAL_REPOSITORY_METHODS, REPOSITORY_METHODS, type LockoutRule, type MfaRepository } from './repositories/types.js'

export type Surface = 'storefront' | 'backend'
export type StatusFormat = 'number' | 'label'

export interface GlueMfaOptions {
  /**
   * The MFA types, in the order the list resource answers them: `emailProvider(…)`,
   * `totpProvider(…)` or your own. At least one; each `type` name unique (lower-case letters,
   * digits, `-`, `_`, at most 64 characters).
   */
  providers: MfaProvider[]
  /**
   * Where MFA state lives: `memoryRepository()`, `sqliteRepository({ filename })`,
   * `postgresRepository({ connectionString })` or your own `MfaRepository`. Its `ready()` is
   * awaited at registration and its `close()` called on Fastify's `onClose`. One repository
   * serves one surface.
   */
  repository: MfaRepository
  /**
   * Key material, at least 32 bytes (a string counts its UTF-8 bytes). Codes are stored as
   * HMAC-SHA256 under a key derived from it, TOTP secrets sealed under another. Keep it out of
   * the database; changing it invalidates live codes and enrolled authenticator apps.
   */
  codeSecret: string | Buffer
  /**
   * Who the principals are: `'storefront'` customers (errors 5905 "No customer identifier
   * provided.", 5907 "Customer not found.") or `'backend'` back-office users (5909, 5908).
   * @default 'storefront'
   */
  surface?: Surface
  /**
   * Maps the verified JWT payload to a principal `{ id, email?, … }`; `null`, or no non-empty
   * string `id`, means "no identifier" (5905 / 5909). Extra fields (`email`, `phone`) reach the
   * providers.
   * @default the `sub` claim as the id (a non-empty string, or a finite number as a string)
   */
  principal?: (payload: any, request: FastifyRequest) => Principal | null | undefined
  /**
   * Lets the host say a principal no longer exists: `false` answers 5907 (storefront) or 5908
   * (backend). Called on every request to the MFA routes and every step-up check.
   * @default none: every principal with a valid token exists
   */
  findPrincipal?: (principal: Principal) => boolean | Promise<boolean>
  /**
   * Resource type names whose writes (`POST`, `PUT`, `PATCH`, `DELETE`) need step-up once the
   * principal has an enabled type, e.g. `['carts']`. A route's resource type is the last static
   * segment of its pattern (`PATCH /carts/:id` → `carts`). Covers the routes of the context the
   * plugin is registered in and of its children, declared before or after it.
   * @default []
   */
  protectedResources?: string[]
  /**
   * Where the five MFA routes are mounted, e.g. `'/backend'`: a path starting with `/`, no
   * parameters. Under a prefix of its own the plugin also answers 404s as JSON:API errors.
   * @default '' (the root)
   */
  prefix?: string
  /**
   * Digits of a delivered code (email, SMS), 4 to 12; the first digit is never 0.
   * @default 6
   */
  codeLength?: number
  /**
   * How long a delivered code stays valid, in ms, 1000 (1 s) to 86400000 (24 h).
   * @default 1800000 (30 min)
   */
  codeTtl?: number
  /**
   * Wrong submissions after which the newest delivered code of a type is blocked (then 5901
   * even for the right value), 1 to 100. TOTP is bounded by `principalLockout` instead.
   * @default 3
   */
  maxAttempts?: number
  /**
   * Minimum time between two codes sent to one principal for one type, in ms, 0 to 86400000
   * (24 h); an earlier request answers 429 5911 with `Retry-After` (seconds).
   * @default 30000 (30 s)
   */
  resendCooldown?: number
  /**
   * Escalating lockout. Wrong codes count one after another until a code is accepted; at
   * `failures` (1 to 1,000,000) the principal is locked for `duration` ms (1 s to 366 days),
   * and each wrong code after a lock has ended locks again for twice the previous lock, up to
   * `maxDuration` ms (`duration` to 366 days). While locked, every code check answers 5901
   * unread. An accepted code resets the count and the lock length. Tokens with a `jti` claim
   * are counted on their own, the principal-wide count being a ceiling at 3 × `failures`.
   * @default { failures: 10, duration: 900000 (15 min), maxDuration: 172800000 (48 h) }
   */
  principalLockout?: { failures?: number, duration?: number, maxDuration?: number }
  /**
   * How recent a sign-in must be to enrol the first factor (activate while no type is enabled),
   * in ms, 1000 (1 s) to 366 days: the token's `auth_time` claim, else its `iat`, at most this
   * old by `clock` (a time in the future counts as fresh). Older, or neither claim: 403 5912.
   * @default 900000 (15 min)
   */
  enrollmentMaxAge?: number
  /**
   * Enforcement: when it answers true for a principal with no enabled type, every step-up check
   * (protected writes and `requireMfa`) answers 403 5914 until the principal enables one. The
   * five MFA routes stay reachable, so the principal can enrol.
   * @default none: a principal without MFA passes step-up
   */
  requireEnrollment?: (principal: Principal, request: FastifyRequest) => boolean | Promise<boolean>
  /**
   * How the list resource answers `status`: `'number'` (`0` disabled, `1` pending, `2` enabled)
   * or `'label'` (`"deactivated"`, `"activation is pending"`, `"activated"`, as newer Glue
   * releases answer).
   * @default 'number'
   */
  statusFormat?: StatusFormat
  /**
   * The time in epoch ms, read by every time decision (code expiry, cooldown, lockout, TOTP
   * steps, sign-in age). Tests move it instead of sleeping.
   * @default Date.now
   */
  clock?: () => number
  /**
   * Receives each audit event `{ name, principalId, principal, type, at }` (never a code),
   * synchronously; `principal` is the principal as mapped, for notifications.
   * Events are logged at info level through the request logger either way; a throwing
   * `onEvent` is logged, not answered.
   * @default none: events are only logged
   */
  onEvent?: (event: MfaEvent) => void
  /**
   * @fastify/rate-limit route options (`max`, `timeWindow`, …) for the five MFA routes, as their
   * `config.rateLimit`; the host registers @fastify/rate-limit first. `false` exempts them from
   * a global limit.
   * @default none: the host's global limit, if any, applies
   */
  rateLimit?: Record<string, unknown> | false
}

/** Options after validation, with every default filled in. */
export interface ResolvedOptions {
  providers: MfaProvider[]
  repository: MfaRepository
  codeSecret: string | Buffer
  surface: Surface
  principal: (payload: any, request: FastifyRequest) => Principal | null | undefined
  findPrincipal: ((principal: Principal) => boolean | Promise<boolean>) | undefined
  protectedResources: Set<string>
  prefix: string
  codeLength: number
  codeTtl: number
  maxAttempts: number
  resendCooldown: number
  principalLockout: LockoutRule
  enrollmentMaxAge: number
  requireEnrollment: ((principal: Principal, request: FastifyRequest) => boolean | Promise<boolean>) | undefined
  statusFormat: StatusFormat
  clock: () => number
  onEvent: ((event: MfaEvent) => void) | undefined
  rateLimit: Record<string, unknown> | false | undefined
}

const MINUTE = 60_000
const TYPE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/

function defaultPrincipal (payload: any): Principal | null {
  const sub = payload?.sub
  if (typeof sub === 'string' && sub !== '') return { id: sub }
  if (typeof sub === 'number' && Number.isFinite(sub)) return { id: String(sub) }
  return null
}

function checkProviders (value: unknown): MfaProvider[] {
  if (!Array.isArray(value) || value.length === 0) fail('providers', 'must be a non-empty array of MFA providers')
  const seen = new Set<string>()
  for (const [i, provider] of value.entries()) {
    const name = `providers[${i}]`
    if (provider === null || typeof provider !== 'object') fail(name, 'must be a provider object')
    if (typeof provider.type !== 'string' || !TYPE_NAME.test(provider.type)) {
      fail(`${name}.type`, 'must be a lower-case name of letters, digits, "-" or "_" (at most 64)')
    }
    if (seen.has(provider.type)) fail('providers', `has the type "${provider.type}" twice`)
    seen.add(provider.type)
    const kind = Object.hasOwn(FACTOR_KINDS, provider.kind) ? FACTOR_KINDS[provider.kind as MfaProvider['kind']] : undefined
    if (kind === undefined) fail(`${name}.kind`, `must be ${Object.keys(FACTOR_KINDS).map((k) => `"${k}"`).join(' or ')}`)
    for (const method of kind.methods) {
      if (typeof provider[method] !== 'function') fail(`${name}.${method}`, 'must be a function')
    }
  }
  return value
}

const REPOSITORY_EXAMPLES = 'memoryRepository(), sqliteRepository({ filename }) or postgresRepository({ connectionString })'

function checkRepository (value: any): MfaRepository {
  if (value === undefined || value === null) fail('repository', `is required: a repository object such as ${REPOSITORY_EXAMPLES}`)
  if (typeof value === 'function') fail('repository', `must be a repository object, not a function: call it, e.g. ${REPOSITORY_EXAMPLES}`)
  if (typeof value !== 'object') {
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value)
    fail('repository', `must be a repository object such as ${REPOSITORY_EXAMPLES}, not the ${typeof value} ${shown}`)
  }
  for (const method of REPOSITORY_METHODS) {
    if (typeof value[method] !== 'function') fail('repository', `is missing the method "${method}"`)
  }
  for (const method of OPTIONAL_REPOSITORY_METHODS) {
    if (value[method] !== undefined && typeof value[method] !== 'function') fail('repository', `has a "${method}" that is not a function`)
  }
  return value
}

function checkCodeSecret (value: unknown): string | Buffer {
  const bytes = typeof value === 'string' ? Buffer.byteLength(value) : Buffer.isBuffer(value) ? value.length : -1
  if (bytes < 0) fail('codeSecret', 'is required: a string or Buffer of at least 32 bytes')
  if (bytes < 32) fail('codeSecret', `must be at least 32 bytes long (got ${bytes})`)
  return value as string | Buffer
}

function checkPrefix (value: unknown): string {
  if (value === undefined || value === '' || value === '/') return ''
  if (typeof value !== 'string' || !value.startsWith('/') || /[?#\s:*]/.test(value)) {
    fail('prefix', 'must be a path starting with "/" (no parameters)')
  }
  return value.endsWith('/') ? value.slice(0, -1) : value
}

function checkResources (value: unknown): Set<string> {
  if (value === undefined) return new Set()
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) {
    fail('protectedResources', 'must be an array of resource type names')
  }
  return new Set(value)
}

const LOCKOUT_KEYS = ['failures', 'duration', 'maxDuration']

function checkLockout (value: any): LockoutRule {
  if (value === undefined) value = {}
  if (value === null || typeof value !== 'object') fail('principalLockout', 'must be { failures, duration, maxDuration }')
  if ('window' in value) {
    fail('principalLockout.window', 'was replaced in 0.2.0 by the escalating lockout: use "duration" (first lock, ms) and "maxDuration" (longest lock, ms)')
  }
  for (const key of Object.keys(value)) {
    if (!LOCKOUT_KEYS.includes(key)) fail(`principalLockout.${key}`, 'is not an option (use "failures", "duration", "maxDuration")')
  }
  const duration = integer(value.duration, 'principalLockout.duration', 15 * MINUTE, 1000, 366 * 24 * 60 * MINUTE)
  const maxDuration = integer(value.maxDuration, 'principalLockout.maxDuration', Math.max(48 * 60 * MINUTE, duration), duration, 366 * 24 * 60 * MINUTE)
  return { failures: integer(value.failures, 'principalLockout.failures', 10, 1, 1_000_000), duration, maxDuration }
}

function checkRateLimit (value: unknown): Record<string, unknown> | false | undefined {
  if (value === undefined || value === false) return value
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail('rateLimit', 'must be @fastify/rate-limit route options, e.g. { max: 10, timeWindow: \'1 minute\' }, or false')
  }
  return value as Record<string, unknown>
}

/** Our option keys (a record, so that the compiler asks for a new option here), in the README's order. */
const OWN_KEYS: Record<keyof GlueMfaOptions, true> = {
  providers: true,
  repository: true,
  codeSecret: true,
  surface: true,
  principal: true,
  findPrincipal: true,
  protectedResources: true,
  prefix: true,
  codeLength: true,
  codeTtl: true,
  maxAttempts: true,
  resendCooldown: true,
  principalLockout: true,
  enrollmentMaxAge: true,
  requireEnrollment: true,
  statusFormat: true,
  clock: true,
  onEvent: true,
  rateLimit: true
}
/** Our option keys, and the registration options Fastify reads itself and passes on to us. */
const OPTION_KEYS: readonly string[] = [...Object.keys(OWN_KEYS), 'logLevel', 'logSerializers']

/** Levenshtein distance, case-insensitive (`codelength` is `codeLength`). */
function distance (a: string, b: string): number {
  a = a.toLowerCase()
  b = b.toLowerCase()
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    row = next
  }
  return row[b.length]
}

function checkKeys (opts: object): void {
  for (const key of Object.keys(opts)) {
    if (OPTION_KEYS.includes(key)) continue
    const [nearest] = OPTION_KEYS.map((known) => ({ known, d: distance(key, known) })).sort((x, y) => x.d - y.d)
    fail(key, nearest.d <= Math.max(2, Math.floor(key.length / 3))
      ? `is not an option: did you mean "${nearest.known}"?`
      : `is not an option (the options: ${OPTION_KEYS.join(', ')})`)
  }
}

/** Checks every option once, at registration, and fills in the documented defaults. */
export function resolveOptions (options: GlueMfaOptions): ResolvedOptions {
  const opts = options as Partial<GlueMfaOptions>
  checkKeys(opts)
  return {
    providers: checkProviders(opts.providers),
    repository: checkRepository(opts.repository),
    codeSecret: checkCodeSecret(opts.codeSecret),
    surface: oneOf(opts.surface, 'surface', ['storefront', 'backend'], 'storefront'),
    principal: optionalFunction(opts.principal, 'principal') ?? defaultPrincipal,
    findPrincipal: optionalFunction(opts.findPrincipal, 'findPrincipal'),
    protectedResources: checkResources(opts.protectedResources),
    prefix: checkPrefix(opts.prefix),
    codeLength: integer(opts.codeLength, 'codeLength', 6, 4, 12),
    codeTtl: integer(opts.codeTtl, 'codeTtl', 30 * MINUTE, 1000, 24 * 60 * MINUTE),
    maxAttempts: integer(opts.maxAttempts, 'maxAttempts', 3, 1, 100),
    resendCooldown: integer(opts.resendCooldown, 'resendCooldown', 30_000, 0, 24 * 60 * MINUTE),
    principalLockout: checkLockout(opts.principalLockout),
    enrollmentMaxAge: integer(opts.enrollmentMaxAge, 'enrollmentMaxAge', 15 * MINUTE, 1000, 366 * 24 * 60 * MINUTE),
    requireEnrollment: optionalFunction(opts.requireEnrollment, 'requireEnrollment'),
    statusFormat: oneOf(opts.statusFormat, 'statusFormat', ['number', 'label'], 'number'),
    clock: optionalFunction(opts.clock, 'clock') ?? Date.now,
    onEvent: optionalFunction(opts.onEvent, 'onEvent'),
    rateLimit: checkRateLimit(opts.rateLimit)
  }
}
