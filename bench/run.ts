// `npm run bench`: every bench case against real HTTP listeners on 127.0.0.1, each on a server
// child process of its own (a fresh one per round), all cases in one run so their ratios hold on
// a noisy machine.
//
// Environment (all optional):
//   BENCH_DURATION     seconds measured per case and round [5]
//   BENCH_WARMUP       seconds of warm-up load before each measurement, not counted [1.5]
//   BENCH_CONNECTIONS  concurrent connections autocannon keeps open [10]
//   BENCH_ROUNDS       rounds over all cases, alternating direction, fresh servers each round;
//                      medians are reported, ratios are medians of the per-round ratios [1]
//   BENCH_SCALE_ROWS   principals of the large scale stores [1000000]
//   BENCH_PG_URL       PostgreSQL [postgres://postgres@127.0.0.1:5432/test]; unreachable → PG cases skipped
//   BENCH_CASES        comma-separated case names to run (their comparison cases are added), e.g.
//                      BENCH_CASES=guard-pass-fixed for the step-up pass path against unprotected-fixed
//   BENCH_SQLITE_ANALYZE=1  run ANALYZE on the seeded SQLite files (shows the STAT4 re-prepare cost)
//   BENCH_CPU_PROF     a directory: server children run with --cpu-prof and write to <dir>/<case>/ (the
//                      largest file there is the main thread; see profile-top.ts)
//
// Exit code 1 when any case had errors, timeouts, unexpected statuses or bodies, or a server
// failed. A missed target is printed but does not change the exit code.
import autocannon, { type Result } from 'autocannon'
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import {
  FREE_PRINCIPAL, JSON_API, LIST_BODY, LIST_PATH, LIST_PRINCIPAL, MFA_PRINCIPAL, ORDER_BODY, ORDER_FIXED_BODY, ORDER_REQUEST, ORDERS_PATH,
  VERIFY_BODY, VERIFY_PATH, VERIFY_PRINCIPAL, VERIFY_REQUEST, WRONG_CODE,
  type ChildMessage, type ParentMessage, type ServerConfig, type StoreConfig
} from './common.js'
import { Latencies } from './latency.js'
import { dropPostgresTables, postgresUnreachable, seedPostgres, seedSqlite } from './seed.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '..')
const RESULTS_FILE = join(here, 'results.json')
const READY_TIMEOUT = 120_000
const STATS_TIMEOUT = 10_000
const STOP_TIMEOUT = 15_000

function fromEnv (name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < min || value > max) throw new Error(`${name} must be a number from ${min} to ${max}`)
  return value
}

const settings = {
  duration: fromEnv('BENCH_DURATION', 5, 0.5, 600),
  warmup: fromEnv('BENCH_WARMUP', 1.5, 0, 60),
  connections: Math.round(fromEnv('BENCH_CONNECTIONS', 10, 1, 1000)),
  rounds: Math.round(fromEnv('BENCH_ROUNDS', 1, 1, 20)),
  smallRows: 1000,
  scaleRows: Math.round(fromEnv('BENCH_SCALE_ROWS', 1_000_000, 1000, 10_000_000)),
  pgUrl: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  cases: process.env.BENCH_CASES?.split(',').map((s) => s.trim()).filter((s) => s !== '') ?? [],
  sqliteAnalyze: process.env.BENCH_SQLITE_ANALYZE === '1',
  cpuProfDir: process.env.BENCH_CPU_PROF === undefined || process.env.BENCH_CPU_PROF === '' ? null : resolve(process.env.BENCH_CPU_PROF)
}

// ---------------------------------------------------------------------------------------------
// Cases

interface Ready { port: number, tokens: Record<string, string>, code: string | null }

interface BenchRequest { method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: string }

interface Case {
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

function rowsLabel (rows: number): string {
  if (rows >= 1_000_000 && rows % 1_000_000 === 0) return `${rows / 1_000_000}m`
  if (rows >= 1000 && rows % 1000 === 0) return `${rows / 1000}k`
  return String(rows)
}

const runId = randomBytes(4).toString('hex')
const workDir = mkdtempSync(join(tmpdir(), 'glue-mfa-bench-'))
const pgPrefixes: string[] = []

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

function serverConfig (c: Case, round: number): ServerConfig {
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

function allCases (): Case[] {
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

// ---------------------------------------------------------------------------------------------
// Server children

interface Server {
  child: ChildProcess
  ready: Ready
  url: string
  expectBody: string
  request: BenchRequest
}

const children = new Set<ChildProcess>()

function alive (child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null
}

/** Sends over IPC; a server that is gone is an error here, never an unhandled 'error' event. */
function tell (child: ChildProcess, message: ParentMessage): void {
  if (!alive(child) || !child.connected) throw new Error('the server process is gone')
  child.send(message, (err) => { if (err !== null && err !== undefined && alive(child)) child.kill('SIGKILL') })
}

/** The next message of `kind` from the child; rejects on 'failed', exit or timeout. */
function nextMessage<K extends ChildMessage['msg']> (child: ChildProcess, kind: K, timeout: number, what: string): Promise<Extract<ChildMessage, { msg: K }>> {
  if (!alive(child)) return Promise.reject(new Error(`${what}: the server process is gone`))
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    const onMessage = (message: ChildMessage): void => {
      if (message.msg === kind) {
        done()
        resolve(message as Extract<ChildMessage, { msg: K }>)
      } else if (message.msg === 'failed') {
        done()
        reject(new Error(`${what}: ${message.error}`))
      }
    }
    const onExit = (code: number | null, signal: string | null): void => {
      done()
      reject(new Error(`${what}: server exited (code ${code}, signal ${signal})`))
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`${what}: no '${kind}' within ${timeout} ms`))
    }, timeout)
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

async function startServer (c: Case, round: number): Promise<Server> {
  const execArgv = ['--import', 'tsx']
  if (settings.cpuProfDir !== null) {
    // A directory per case: tsx's loader thread writes a profile of its own next to the main one.
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${join(settings.cpuProfDir, c.name)}`)
  }
  const child = fork(join(here, 'server.ts'), [], {
    cwd: root,
    execArgv,
    env: { ...process.env, BENCH_SERVER_CONFIG: JSON.stringify(serverConfig(c, round)) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  children.add(child)
  // IPC failures surface through tell() and nextMessage(); never crash the runner.
  child.on('error', () => {})
  try {
    return await checkServer(c, child)
  } catch (err) {
    await stopServer(child)
    throw err
  }
}

/** Waits for the child's port, then checks one request by hand. */
async function checkServer (c: Case, child: ChildProcess): Promise<Server> {
  const ready = await nextMessage(child, 'ready', READY_TIMEOUT, `${c.name} start`)
  const url = `http://127.0.0.1:${ready.port}`
  const request = c.request(ready)
  // The server must answer exactly what the case expects, and every response under load must
  // then be byte-identical to this one.
  const res = await fetch(url + request.path, { method: request.method, headers: request.headers, body: request.body })
  const text = await res.text()
  const contentType = res.headers.get('content-type') ?? ''
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = text
  }
  if (res.status !== c.status || !contentType.startsWith(c.contentType) || !isDeepStrictEqual(parsed, c.body)) {
    throw new Error(`the check request answered ${res.status} ${contentType} ${text}; expected ${c.status} ${c.contentType} ${JSON.stringify(c.body)}`)
  }
  return { child, ready, url, expectBody: text, request }
}

async function stopServer (child: ChildProcess): Promise<void> {
  if (!alive(child)) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const timer = setTimeout(() => { if (alive(child)) child.kill('SIGKILL') }, STOP_TIMEOUT)
  try {
    tell(child, { cmd: 'stop' })
  } catch {
    child.kill('SIGKILL')
  }
  await exited
  clearTimeout(timer)
}

/** The server's CPU time so far (µs). */
async function serverCpu (c: Case, server: Server): Promise<number> {
  const reply = nextMessage(server.child, 'cpu', STATS_TIMEOUT, `${c.name} cpu`)
  try {
    tell(server.child, { cmd: 'cpu' })
  } catch (err) {
    reply.catch(() => {})
    throw err
  }
  return (await reply).micros
}

async function serverStats (c: Case, server: Server): Promise<Extract<ChildMessage, { msg: 'stats' }>> {
  const reply = nextMessage(server.child, 'stats', STATS_TIMEOUT, `${c.name} stats`)
  try {
    tell(server.child, { cmd: 'stats' })
  } catch (err) {
    reply.catch(() => {})
    throw err
  }
  return await reply
}

// ---------------------------------------------------------------------------------------------
// Load

function load (server: Server, seconds: number, latencies: Latencies | null): Promise<Result> {
  return new Promise((resolve, reject) => {
    const { method, path, headers, body } = server.request
    const instance = autocannon({
      url: server.url + path,
      method,
      headers,
      body,
      connections: settings.connections,
      duration: seconds,
      timeout: 10,
      expectBody: server.expectBody
    }, (err, result) => { if (err !== null && err !== undefined) reject(err); else resolve(result) })
    if (latencies !== null) instance.on('response', (_client, _status, _bytes, responseTime) => latencies.record(responseTime))
  })
}

/** Every way a run can be broken; [] when it is clean. */
function problemsOf (c: Case, result: Result): string[] {
  const problems: string[] = []
  if (result.errors > 0) problems.push(`${result.errors} errors`)
  if (result.timeouts > 0) problems.push(`${result.timeouts} timeouts`)
  if (result.mismatches > 0) problems.push(`${result.mismatches} bodies differing from the checked one`)
  if (c.status < 300 && result.non2xx > 0) problems.push(`${result.non2xx} non-2xx responses`)
  const unexpected = Object.entries(result.statusCodeStats).filter(([status]) => Number(status) !== c.status)
  if (unexpected.length > 0) problems.push(`unexpected statuses ${unexpected.map(([s, { count }]) => `${s}×${count}`).join(', ')}`)
  if (result.requests.total === 0) problems.push('no responses at all')
  return problems
}

/**
 * One round of one case, on a fresh server process: start and check it, warm up, measure,
 * read its peak RSS, stop it. A process per round, so one process's luck (JIT, memory layout)
 * does not decide a ratio. Every failure is recorded in `sample.problems`.
 */
async function measureCase (c: Case, round: number, sample: Sample): Promise<void> {
  let server: Server | null = null
  try {
    server = await startServer(c, round)
    if (settings.warmup > 0) {
      const warm = await load(server, settings.warmup, null)
      for (const problem of problemsOf(c, warm)) sample.problems.push(`warm-up round ${round}: ${problem}`)
    }
    const cpuBefore = await serverCpu(c, server)
    const result = await load(server, settings.duration, sample.latencies)
    const cpuUsed = await serverCpu(c, server) - cpuBefore
    for (const problem of problemsOf(c, result)) sample.problems.push(`round ${round}: ${problem}`)
    const rps = result.requests.total / result.duration
    sample.rps.push(rps)
    sample.cpu.push(result.requests.total > 0 ? cpuUsed / result.requests.total : Number.NaN)
    sample.requests += result.requests.total
    for (const [status, { count }] of Object.entries(result.statusCodeStats)) sample.statusCodes[status] = (sample.statusCodes[status] ?? 0) + Number(count)
    const stats = await serverStats(c, server)
    sample.peakRssBytes = Math.max(sample.peakRssBytes ?? 0, stats.maxRssBytes)
    if (stats.locked === true) sample.problems.push(`round ${round}: the verify principal got locked out, the case left the counting path`)
    const problems = sample.problems.length > 0 ? '  PROBLEMS: ' + sample.problems.join('; ') : ''
    console.log(`  [round ${round}] ${c.name.padEnd(22)} ${Math.round(rps).toLocaleString('en').padStart(7)} req/s ${(sample.cpu.at(-1) as number).toFixed(1).padStart(6)} µs CPU/req${problems}`)
  } catch (err) {
    sample.problems.push(`round ${round}: ${(err as Error).message}`)
    console.log(`  [round ${round}] ${c.name.padEnd(22)} FAILED: ${(err as Error).message}`)
  } finally {
    if (server !== null) {
      const { child } = server
      if (!alive(child)) sample.problems.push(`round ${round}: the server died`)
      await stopServer(child)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report

/** What the rounds of one case collected. */
interface Sample {
  /** Requests/s of each round, in round order. */
  rps: number[]
  /** Server CPU time per request (µs) of each round. */
  cpu: number[]
  latencies: Latencies
  requests: number
  statusCodes: Record<string, number>
  /** The highest peak RSS of this case's server processes (one per round). */
  peakRssBytes: number | null
  problems: string[]
}

interface Row {
  name: string
  what: string
  rps: number
  roundsRps: number[]
  /** Server CPU (user + system) per request, µs: steadier than req/s on a busy machine. */
  cpuPerRequest: number
  p50: number
  p99: number
  requests: number
  statusCodes: Record<string, number>
  compareTo: string | null
  ratio: number | null
  target: number | null
  met: boolean | null
  /** Server CPU µs per request over the comparison's: the median of the per-round differences. */
  addedCpu: number | null
  maxAddedCpu: number | null
  cpuMet: boolean | null
  /** The same two figures against each of alsoCompareTo that ran. */
  also: Array<{ compareTo: string, ratio: number, addedCpu: number }>
  roundsCpu: number[]
  peakRssBytes: number | null
  problems: string[]
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function machine () {
  let cpu = 'unknown'
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown'
  } catch {}
  return { nproc: availableParallelism(), cpu, node: process.version, platform: `${process.platform} ${process.arch}` }
}

function signed (value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(1)}`
}

/** Median per-round ratio of req/s and difference of CPU µs/req of `row` against `other`; null unless both have every round. */
function compare (row: Row, other: Row | undefined): { ratio: number, addedCpu: number } | null {
  if (other === undefined || other.roundsRps.length !== row.roundsRps.length || other.roundsCpu.length !== row.roundsCpu.length) return null
  // Medians of the per-round figures: each round measures both cases close in time.
  const ratio = median(row.roundsRps.map((rps, i) => rps / other.roundsRps[i]))
  const addedCpu = median(row.roundsCpu.map((cpu, i) => cpu - other.roundsCpu[i]))
  if (!Number.isFinite(ratio)) return null
  return { ratio, addedCpu }
}

function formatTable (rows: Row[]): string {
  const header = ['case', 'req/s', 'p50 ms', 'p99 ms', 'vs', 'ratio', 'target', 'met', 'CPU µs/req', '+CPU µs', 'peak RSS MB']
  const fixed = (value: number, digits: number): string => Number.isFinite(value) ? value.toFixed(digits) : '-'
  const lines = rows.map((r) => [
    r.name,
    Number.isFinite(r.rps) ? Math.round(r.rps).toLocaleString('en') : '-',
    fixed(r.p50, 3),
    fixed(r.p99, 3),
    r.compareTo ?? '',
    r.ratio === null ? '' : r.ratio.toFixed(3),
    r.target === null ? '' : `>= ${r.target.toFixed(2)}`,
    r.problems.length > 0 ? 'FAILED' : r.met === null ? '' : r.met ? 'yes' : 'NO',
    fixed(r.cpuPerRequest, 1),
    r.addedCpu === null ? '' : signed(r.addedCpu),
    r.peakRssBytes === null ? '' : (r.peakRssBytes / 1024 / 1024).toFixed(1)
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
  const row = (cells: string[]): string => `| ${cells.map((cell, i) => (i === 0 || i === 4 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ')} |`
  return [row(header), `|${widths.map((w, i) => (i === 0 || i === 4 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`, ...lines.map(row)].join('\n')
}

// ---------------------------------------------------------------------------------------------
// Main

let cleaning: Promise<void> | null = null

/** Stops every child, drops this run's PostgreSQL tables and removes the SQLite files; once. */
function cleanup (pgReachable: boolean): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...children].map(stopServer))
    if (pgReachable) {
      await dropPostgresTables(settings.pgUrl, pgPrefixes).catch((err: Error) => {
        console.error(`bench: could not drop the tables ${pgPrefixes.join(', ')}: ${err.message}`)
      })
    }
    rmSync(workDir, { recursive: true, force: true })
  })()
  return cleaning
}

// Last resort: no child outlives the runner and no SQLite file stays behind, whatever happens.
process.on('exit', () => {
  for (const child of children) if (alive(child)) child.kill('SIGKILL')
  rmSync(workDir, { recursive: true, force: true })
})

async function main (): Promise<number> {
  const info = machine()
  const loadBefore = loadavg()
  console.log(`fastify-glue-mfa bench: ${info.nproc} CPUs (${info.cpu}), Node ${info.node}, load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`)
  console.log(`  ${settings.duration} s per case after ${settings.warmup} s warm-up, ${settings.connections} connections, ${settings.rounds} round(s), scale ${settings.smallRows.toLocaleString('en')} vs ${settings.scaleRows.toLocaleString('en')} principals`)
  if (loadBefore[0] > info.nproc / 2) console.log(`  note: the machine is busy (load ${loadBefore[0].toFixed(2)}); absolute numbers are noisy, compare the ratios`)

  let cases = allCases()
  const unreachable = await postgresUnreachable(settings.pgUrl)
  const pgReachable = unreachable === null
  if (!pgReachable) {
    const skipped = cases.filter((c) => c.postgres === true).map((c) => c.name)
    console.log(`  PostgreSQL at ${settings.pgUrl} is not reachable (${unreachable}): skipping ${skipped.join(', ')}`)
    cases = cases.filter((c) => c.postgres !== true)
  }
  if (settings.cases.length > 0) {
    const known = new Set(allCases().map((c) => c.name))
    const unknown = settings.cases.filter((name) => !known.has(name))
    if (unknown.length > 0) throw new Error(`BENCH_CASES: unknown case(s) ${unknown.join(', ')}; known: ${[...known].join(', ')}`)
    const wanted = new Set(settings.cases)
    // Each case's comparison, and that one's (unprotected → baseline): at most one pass per case.
    for (let pass = 0; pass < cases.length; pass++) {
      const before = wanted.size
      for (const c of cases) if (wanted.has(c.name) && c.compareTo !== undefined) wanted.add(c.compareTo)
      if (wanted.size === before) break
    }
    cases = cases.filter((c) => wanted.has(c.name))
  }
  if (settings.cpuProfDir !== null) {
    mkdirSync(settings.cpuProfDir, { recursive: true })
    console.log(`  CPU profiles of the servers go to ${settings.cpuProfDir}`)
  }

  const failures: string[] = []
  const seeding: Record<string, number> = {}
  try {
    // Stores first, seeded here (not in the servers, whose peak RSS is that of serving).
    for (const c of cases) {
      if (typeof c.server === 'function' || c.server.app !== 'list' || c.server.store.kind === 'memory') continue
      const store = c.server.store
      const rows = c.rows ?? 0
      const ms = store.kind === 'sqlite'
        ? await seedSqlite(store.filename, store.tablePrefix, rows, settings.sqliteAnalyze)
        : await seedPostgres(store.connectionString, store.tablePrefix, rows)
      seeding[c.name] = Math.round(ms)
      const analyzed = store.kind === 'sqlite' && settings.sqliteAnalyze ? ', then ANALYZE' : ''
      console.log(`  seeded ${c.name}: ${rows.toLocaleString('en')} filler principals in ${(ms / 1000).toFixed(1)} s${analyzed}`)
    }
    console.log(`  one fresh server process per case and round; ${cases.length} cases`)

    const samples = new Map<string, Sample>()
    for (const c of cases) samples.set(c.name, { rps: [], cpu: [], latencies: new Latencies(), requests: 0, statusCodes: {}, peakRssBytes: null, problems: [] })
    for (let round = 1; round <= settings.rounds; round++) {
      // Alternating direction (A B … B A) evens out drift between compared cases.
      const order = round % 2 === 1 ? cases : [...cases].reverse()
      for (const c of order) await measureCase(c, round, samples.get(c.name) as Sample)
    }

    const rows: Row[] = cases.map((c) => {
      const sample = samples.get(c.name) as Sample
      return {
        name: c.name,
        what: c.what,
        rps: median(sample.rps),
        roundsRps: sample.rps.map((r) => Math.round(r * 10) / 10),
        cpuPerRequest: median(sample.cpu),
        p50: sample.latencies.percentile(0.50),
        p99: sample.latencies.percentile(0.99),
        requests: sample.requests,
        statusCodes: sample.statusCodes,
        compareTo: c.compareTo ?? null,
        ratio: null,
        target: c.target ?? null,
        met: null,
        addedCpu: null,
        maxAddedCpu: c.maxAddedCpu ?? null,
        cpuMet: null,
        also: [],
        roundsCpu: sample.cpu,
        peakRssBytes: sample.peakRssBytes,
        problems: sample.problems
      }
    })
    for (const row of rows) {
      for (const name of cases.find((c) => c.name === row.name)?.alsoCompareTo ?? []) {
        const also = compare(row, rows.find((r) => r.name === name))
        if (also !== null) row.also.push({ compareTo: name, ...also })
      }
      const result = compare(row, rows.find((r) => r.name === row.compareTo))
      if (result === null) continue
      row.ratio = result.ratio
      if (row.target !== null) row.met = result.ratio >= row.target
      if (Number.isFinite(result.addedCpu)) {
        row.addedCpu = result.addedCpu
        if (row.maxAddedCpu !== null) row.cpuMet = result.addedCpu <= row.maxAddedCpu
      }
    }

    console.log('')
    console.log(formatTable(rows))
    console.log('  (+CPU µs: server CPU per request over the "vs" case, median of the per-round differences)')
    console.log('')
    for (const row of rows) {
      for (const also of row.also) {
        console.log(`  ${row.name} vs ${also.compareTo}: ratio ${also.ratio.toFixed(3)}, ${signed(also.addedCpu)} µs CPU/request`)
      }
    }
    for (const row of rows.filter((r) => r.maxAddedCpu !== null)) {
      const added = row.addedCpu === null ? 'not measured' : `${row.addedCpu.toFixed(1)} µs`
      console.log(`  ${row.name} adds ${added} CPU/request over ${row.compareTo} (${row.cpuPerRequest.toFixed(1)} against ${rows.find((r) => r.name === row.compareTo)?.cpuPerRequest.toFixed(1) ?? '-'}); budget <= ${row.maxAddedCpu?.toFixed(1)} µs: ${row.cpuMet === true ? 'met' : row.cpuMet === false ? 'MISSED' : 'not measured'}`)
    }
    for (const row of rows.filter((r) => r.target !== null)) {
      console.log(`  target ${row.name} >= ${row.target?.toFixed(2)} x ${row.compareTo}: ${row.met === true ? 'met' : row.met === false ? 'MISSED' : 'not measured'} (${row.ratio?.toFixed(3) ?? '-'})`)
    }
    for (const row of rows) for (const problem of row.problems) failures.push(`${row.name}: ${problem}`)
    for (const row of rows) if (row.met === false || row.cpuMet === false) console.log(`  note: ${row.name} missed its target; that alone does not fail the run`)
    if (!pgReachable) console.log('  PostgreSQL cases were skipped (not reachable)')

    writeFileSync(RESULTS_FILE, JSON.stringify({
      date: new Date().toISOString(),
      machine: { ...info, loadBefore, loadAfter: loadavg() },
      command: [...Object.entries(process.env).filter(([name]) => name.startsWith('BENCH_')).map(([name, value]) => `${name}=${value ?? ''}`), 'npm run bench'].join(' '),
      settings: { ...settings, pgUrl: pgReachable ? settings.pgUrl : null },
      seedingMs: seeding,
      ok: failures.length === 0,
      failures,
      cases: rows
    }, null, 2) + '\n')
    console.log(`  results written to ${RESULTS_FILE}`)
  } catch (err) {
    failures.push(`run aborted: ${(err as Error).stack ?? (err as Error).message}`)
  } finally {
    await cleanup(pgReachable)
  }

  if (failures.length > 0) {
    console.error('')
    console.error('BENCH FAILED: numbers from a broken run mean nothing')
    for (const failure of failures) console.error(`  - ${failure}`)
    return 1
  }
  return 0
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`bench: ${signal}, stopping the servers`)
    cleanup(true).finally(() => process.exit(130))
  })
}
// A bug in the runner itself still stops the servers and drops this run's tables.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.once(event, (err: unknown) => {
    console.error(`BENCH FAILED: ${event}: ${(err as Error)?.stack ?? String(err)}`)
    cleanup(true).finally(() => process.exit(1))
  })
}

main().then((code) => { process.exitCode = code }, (err: Error) => {
  console.error(`BENCH FAILED: ${err.stack ?? err.message}`)
  cleanup(true).finally(() => process.exit(1))
})
