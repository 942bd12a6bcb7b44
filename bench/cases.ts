// The bench cases: what each one starts (a server config and its store), sends and must get back.
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  FREE_PRINCIPAL, JSON_API, LIST_BODY, LIST_PATH, LIST_PRINCIPAL, MFA_PRINCIPAL, ORDER_BODY, ORDER_FIXED_BODY, ORDER_REQUEST, ORDERS_PATH,
  VERIFY_BODY, VERIFY_PATH, VERIFY_PRINCIPAL, VERIFY_REQUEST, WRONG_CODE,
  type ServerConfig, type StoreConfig
} from './common.js'
import { settings } from './settings.js'

export interface Ready { port: number, tokens: Record<string, string>, code: string | null }

export interface BenchRequest { method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: string }

export interface Case {
  name: string
  what: string
  /** A function for servers that need a store of their own in each round. */
  server: ServerConfig | ((round: number) => ServerConfig)
  request: (ready: Ready) => BenchRequest
  status: number
  contentType: string
  body: unknown
  compareTo?: string
  /** Minimum ratio of this case's requests/s to its comparison's. */
  target?: number
  /** Most server CPU µs per request this case may add over its comparison (a budget, like target). */
  maxAddedCpu?: number
  /**
   * Further cases to report this one against, in lines under the table (ratio and CPU µs added),
   * when they are in the run; unlike compareTo they are not added to a BENCH_CASES selection.
   */
  alsoCompareTo?: string[]
  postgres?: boolean
  /** Principals stored (scale cases). */
  rows?: number
}

export function rowsLabel (rows: number): string {
  if (rows >= 1_000_000 && rows % 1_000_000 === 0) return `${rows / 1_000_000}m`
  if (rows >= 1000 && rows % 1000 === 0) return `${rows / 1000}k`
  return String(rows)
}

const runId = randomBytes(4).toString('hex')
/** The SQLite files of this run; removed at the end. */
export const workDir = mkdtempSync(join(tmpdir(), 'glue-mfa-bench-'))
/** The PostgreSQL table prefixes of this run; their tables are dropped at the end. */
export const pgPrefixes: string[] = []

function sqliteStore (name: string): StoreConfig {
  return { kind: 'sqlite', filename: join(workDir, `${name}.db`), tablePrefix: 'bench_' }
}

function postgresStore (name: string): StoreConfig {
  const tablePrefix = `bench_${runId}_${name}_`
  pgPrefixes.push(tablePrefix)
  return { kind: 'postgres', connectionString: settings.pgUrl, tablePrefix }
}

/**
 * A fresh store for each round (memoized): an orders server enables email for MFA_PRINCIPAL at
 * startup, which a store already holding it from the previous round would refuse.
 */
const roundStores = new Map<string, StoreConfig>()
function storeForRound (kind: 'sqlite' | 'postgres', name: string, round: number): StoreConfig {
  const key = `${kind}:${name}:${round}`
  let store = roundStores.get(key)
  if (store === undefined) {
    store = kind === 'sqlite' ? sqliteStore(`${name}_r${round}`) : postgresStore(`${name}_r${round}`)
    roundStores.set(key, store)
  }
  return store
}

export function serverConfig (c: Case, round: number): ServerConfig {
  return typeof c.server === 'function' ? c.server(round) : c.server
}

const bearer = (ready: Ready, principal: string): string => `Bearer ${ready.tokens[principal]}`

function listCase (name: string, what: string, store: StoreConfig, extra: Partial<Case> = {}): Case {
  return {
    name,
    what,
    server: { app: 'list', store },
    request: (ready) => ({ method: 'GET', path: LIST_PATH, headers: { authorization: bearer(ready, LIST_PRINCIPAL) } }),
    status: 200,
    contentType: JSON_API,
    body: LIST_BODY,
    compareTo: 'baseline',
    postgres: store.kind === 'postgres',
    ...extra
  }
}

function ordersRequest (principal: string, withCode: boolean) {
  return (ready: Ready): BenchRequest => ({
    method: 'POST',
    path: ORDERS_PATH,
    headers: {
      authorization: bearer(ready, principal),
      'content-type': 'application/json',
      ...(withCode ? { 'x-mfa-code': ready.code as string } : {})
    },
    body: ORDER_REQUEST
  })
}

/** A POST /orders case answering the fixed body (ORDER_FIXED_BODY). */
function fixedOrdersCase (name: string, what: string, guard: boolean, principal: string, withCode: boolean,
  store: 'memory' | 'sqlite' | 'postgres', extra: Partial<Case> = {}): Case {
  return {
    name,
    what,
    server: store === 'memory'
      ? { app: 'orders', guard, body: 'fixed' }
      // Table prefixes allow letters, digits and '_' only, 40 at most: a short store name.
      : (round) => ({ app: 'orders', guard, body: 'fixed', store: storeForRound(store, `pass_${store}`, round) }),
    request: ordersRequest(principal, withCode),
    status: 200,
    contentType: 'application/json',
    body: ORDER_FIXED_BODY,
    compareTo: 'unprotected-fixed',
    postgres: store === 'postgres',
    ...extra
  }
}

export function allCases (): Case[] {
  const small = settings.smallRows
  const large = settings.scaleRows
  const cases: Case[] = [
    {
      name: 'baseline',
      what: 'bare Fastify route: @fastify/jwt verify + hard-coded list body',
      server: { app: 'baseline' },
      request: (ready) => ({ method: 'GET', path: LIST_PATH, headers: { authorization: bearer(ready, LIST_PRINCIPAL) } }),
      status: 200,
      contentType: JSON_API,
      body: LIST_BODY
    },
    listCase('list-memory', 'GET list, memoryRepository', { kind: 'memory' }, { target: 0.90 }),
    listCase('list-sqlite', 'GET list, sqliteRepository (file, WAL)', sqliteStore('list'), { target: 0.70 }),
    listCase('list-postgres', 'GET list, postgresRepository', postgresStore('list'), { target: 0.40 }),
    {
      name: 'unprotected',
      what: 'POST /orders, host jwtVerify, no step-up',
      server: { app: 'orders', guard: false },
      request: ordersRequest(MFA_PRINCIPAL, true),
      status: 200,
      contentType: 'application/json',
      body: ORDER_BODY,
      compareTo: 'baseline',
      alsoCompareTo: ['unprotected-fixed']
    },
    {
      name: 'guard-free',
      what: 'POST /orders + requireMfa, principal without MFA',
      server: { app: 'orders', guard: true },
      request: ordersRequest(FREE_PRINCIPAL, false),
      status: 200,
      contentType: 'application/json',
      body: ORDER_BODY,
      compareTo: 'unprotected',
      target: 0.95,
      alsoCompareTo: ['unprotected-fixed']
    },
    {
      name: 'guard-pass',
      what: 'POST /orders + requireMfa, email enabled, valid grace code',
      server: { app: 'orders', guard: true },
      request: ordersRequest(MFA_PRINCIPAL, true),
      status: 200,
      contentType: 'application/json',
      body: ORDER_BODY,
      compareTo: 'unprotected',
      target: 0.80,
      alsoCompareTo: ['unprotected-fixed']
    },
    fixedOrdersCase('unprotected-fixed', 'POST /orders, host jwtVerify, no step-up, fixed body', false, MFA_PRINCIPAL, true, 'memory',
      { compareTo: 'baseline' }),
    fixedOrdersCase('guard-free-fixed', 'same + requireMfa, principal without MFA', true, FREE_PRINCIPAL, false, 'memory',
      { target: 0.95 }),
    fixedOrdersCase('guard-pass-fixed', 'same + requireMfa, email enabled, valid grace code, memory', true, MFA_PRINCIPAL, true, 'memory',
      { target: 0.90, maxAddedCpu: 10 }),
    fixedOrdersCase('guard-pass-sqlite', 'guard-pass-fixed on sqliteRepository (file, WAL)', true, MFA_PRINCIPAL, true, 'sqlite'),
    fixedOrdersCase('guard-pass-postgres', 'guard-pass-fixed on postgresRepository', true, MFA_PRINCIPAL, true, 'postgres'),
    {
      name: 'verify',
      what: 'POST verify, wrong code (403 5901 expected), memory',
      server: { app: 'verify' },
      request: (ready) => ({
        method: 'POST',
        path: VERIFY_PATH,
        headers: { authorization: bearer(ready, VERIFY_PRINCIPAL), 'content-type': JSON_API, 'x-mfa-code': WRONG_CODE },
        body: VERIFY_REQUEST
      }),
      status: 403,
      contentType: JSON_API,
      body: VERIFY_BODY,
      compareTo: 'baseline'
    },
    listCase(`scale-sqlite-${rowsLabel(small)}`, `GET list, SQLite, ${small.toLocaleString('en')} principals`, sqliteStore('scale-small'), { rows: small }),
    listCase(`scale-sqlite-${rowsLabel(large)}`, `GET list, SQLite, ${large.toLocaleString('en')} principals`, sqliteStore('scale-large'),
      { rows: large, compareTo: `scale-sqlite-${rowsLabel(small)}`, target: 0.90 }),
    listCase(`scale-postgres-${rowsLabel(small)}`, `GET list, PostgreSQL, ${small.toLocaleString('en')} principals`, postgresStore('s_small'), { rows: small }),
    listCase(`scale-postgres-${rowsLabel(large)}`, `GET list, PostgreSQL, ${large.toLocaleString('en')} principals`, postgresStore('s_large'),
      { rows: large, compareTo: `scale-postgres-${rowsLabel(small)}`, target: 0.90 })
  ]
  return cases
}
