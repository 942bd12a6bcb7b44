// What the bench runner (run.ts) and its server children (server.ts) share: keys, principals,
// the server configurations and the exact bodies every response is checked against.

export const JWT_SECRET = 'bench-jwt-secret-that-is-long-enough-for-hs256'
export const CODE_SECRET = 'bench-code-secret-0123456789abcdef-0123456789'

/**
 * The principal every list case asks for: email enabled, totp never touched. Each list server
 * enables a fresh `bench-user-<uuid>` and hands out its token under this name.
 */
export const LIST_PRINCIPAL = 'bench-user'
/** Step-up principals: one with email enabled (and a verified grace code), one without MFA. */
export const MFA_PRINCIPAL = 'bench-mfa-user'
export const FREE_PRINCIPAL = 'bench-free-user'
/** The principal whose pending email type takes the wrong codes of the verify case. */
export const VERIFY_PRINCIPAL = 'bench-verify-user'

/** A code the plugin never issues (its first digit is never 0), so it is always wrong. */
export const WRONG_CODE = '000000'

export const JSON_API = 'application/vnd.api+json'
export const LIST_PATH = '/multi-factor-auth-types'
export const VERIFY_PATH = '/multi-factor-auth-type-verify'
/** The host route of the step-up cases. */
export const ORDERS_PATH = '/orders'

/** What GET /multi-factor-auth-types answers for LIST_PRINCIPAL in every store (email 2, totp 0). */
export const LIST_BODY = {
  data: [
    { type: 'multi-factor-auth-types', id: 'email', attributes: { type: 'email', status: 2 } },
    { type: 'multi-factor-auth-types', id: 'totp', attributes: { type: 'totp', status: 0 } }
  ],
  links: { self: LIST_PATH }
}

export const ORDER_REQUEST = JSON.stringify({ data: { type: 'orders', attributes: { sku: 'bench-1', quantity: 1 } } })
export const ORDER_BODY = { data: { type: 'orders', id: '1', attributes: { sku: 'bench-1', quantity: 1 } } }
/**
 * What the fixed-body orders routes answer, whatever was posted: the cheapest route a host could
 * have (the body is still parsed), so the step-up's cost is not hidden behind the route's own.
 */
export const ORDER_FIXED_BODY = { data: { type: 'orders', id: '1' } }

export const VERIFY_REQUEST = JSON.stringify({ data: { type: 'multi-factor-auth-type-verify', attributes: { type: 'email' } } })
export const VERIFY_BODY = { errors: [{ code: '5901', status: 403, detail: 'X-MFA-Code is invalid.' }] }

/** The verify case stays on the counting path: no lockout within any bench run. */
export const VERIFY_LOCKOUT = { failures: 1_000_000, duration: 60 * 60_000 }
export const VERIFY_MAX_ATTEMPTS = 100

/** How a server child stores MFA state. */
export type StoreConfig =
  | { kind: 'memory' }
  | { kind: 'sqlite', filename: string, tablePrefix: string }
  | { kind: 'postgres', connectionString: string, tablePrefix: string }

/** What one server child runs. */
export type ServerConfig =
  /** No plugin: @fastify/jwt and one route answering LIST_BODY. */
  | { app: 'baseline' }
  /** The plugin, serving its list. */
  | { app: 'list', store: StoreConfig }
  /**
   * The plugin and the host route POST /orders, with or without `requireMfa`. `body`: 'echo'
   * answers ORDER_BODY built from the posted attributes [default], 'fixed' answers
   * ORDER_FIXED_BODY. `store`: the plugin's store [memory].
   */
  | { app: 'orders', guard: boolean, body?: 'echo' | 'fixed', store?: StoreConfig }
  /** The plugin (memory store) with a lockout that never triggers, for wrong codes on verify. */
  | { app: 'verify' }

/** Runner → child. */
export type ParentMessage = { cmd: 'stats' } | { cmd: 'cpu' } | { cmd: 'stop' }

/** Child → runner. */
export type ChildMessage =
  /** `tokens` by principal id; `code` is the grace code of MFA_PRINCIPAL (orders apps). */
  | { msg: 'ready', port: number, tokens: Record<string, string>, code: string | null }
  | { msg: 'stats', maxRssBytes: number, rssBytes: number, locked: boolean | null }
  /** CPU time (user + system) the server process used so far, µs. */
  | { msg: 'cpu', micros: number }
  | { msg: 'failed', error: string }
