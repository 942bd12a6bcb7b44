// Running one case: a server child process per round, checked by hand, then loaded with
// autocannon while its CPU time is read before and after.
import autocannon, { type Result } from 'autocannon'
import { fork, type ChildProcess } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import { serverConfig, type BenchRequest, type Case, type Ready } from './cases.js'
import type { ChildMessage, ParentMessage } from './common.js'
import { Latencies } from './latency.js'
import { settings } from './settings.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '..')
const READY_TIMEOUT = 120_000
const STATS_TIMEOUT = 10_000
const STOP_TIMEOUT = 15_000

interface Server {
  child: ChildProcess
  ready: Ready
  url: string
  expectBody: string
  request: BenchRequest
}

/** Every server child still to be stopped. */
export const children = new Set<ChildProcess>()

export function alive (child: ChildProcess): boolean {
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

export async function stopServer (child: ChildProcess): Promise<void> {
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
export async function measureCase (c: Case, round: number, sample: Sample): Promise<void> {
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

/** What the rounds of one case collected. */
export interface Sample {
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

export function newSample (): Sample {
  return { rps: [], cpu: [], latencies: new Latencies(), requests: 0, statusCodes: {}, peakRssBytes: null, problems: [] }
}
