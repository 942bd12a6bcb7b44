// What the step-up guard adds to a request, timed inside the request: the section of the
// request that checks the token (and, with the guard, the MFA code) is stamped on entry and
// exit with process.hrtime, for every request, and the cases compare the medians of those
// section times. The route, its body and the rest of Fastify's work are outside the section,
// so the machine's drift between autocannon rounds (this VM moves ±30 % in CPU per request)
// and inject's own cost do not enter the figure; the median drops the requests that the
// scheduler interrupted.
//   unprotected   onRequest: [stamp, request.jwtVerify(), stamp]      (the cheapest honest baseline)
//   guard-free    preHandler: [stamp, requireMfa, stamp], principal without MFA
//   guard-pass    preHandler: [stamp, requireMfa, stamp], email enabled, the verified (grace) code
// On the memory store everything in the section is CPU work (no I/O), so its time is CPU time.
// What the section allocates is paid later, by the garbage collector, outside the section: the
// number of collections while a case's blocks ran is reported per 10,000 requests beside it
// (GC durations are wall time, including incremental marking, and too noisy to add).
//
//   npx tsx bench/guard-cost.ts        GUARD_ROUNDS [10], GUARD_BLOCK [5000]
import Fastify, { type FastifyInstance, type FastifyRequest, type onRequestHookHandler } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { PerformanceObserver } from 'node:perf_hooks'
import { enableEmail } from './enable-email.js'
import glueMfa, { emailProvider, memoryRepository } from '../lib/index.js'

const ROUNDS = Number(process.env.GUARD_ROUNDS ?? 10)
const BLOCK = Number(process.env.GUARD_BLOCK ?? 5000)
const JWT_SECRET = 'bench-jwt-secret-that-is-long-enough-for-hs256'
const CODE_SECRET = 'bench-code-secret-0123456789abcdef-0123456789'
const BODY = { data: { type: 'orders', id: '1' } }

interface Case {
  name: string
  app: FastifyInstance
  headers: Record<string, string>
  /** Section times in ns, every request of every round. */
  samples: number[]
  /** Garbage collections observed during the kept blocks. */
  gc: number
}

const started = new WeakMap<FastifyRequest, bigint>()
let sink: number[] = []
const enter: onRequestHookHandler = (request, _reply, done) => { started.set(request, process.hrtime.bigint()); done() }
const leave: onRequestHookHandler = (request, _reply, done) => {
  sink.push(Number(process.hrtime.bigint() - (started.get(request) as bigint)))
  done()
}

async function build (name: string, kind: 'unprotected' | 'free' | 'pass'): Promise<Case> {
  const app = Fastify({ logger: false })
  await app.register(fastifyJwt, { secret: JWT_SECRET })
  let code = ''
  await app.register(glueMfa, {
    providers: [emailProvider({ send: (message) => { code = message.code } })],
    repository: memoryRepository(),
    codeSecret: CODE_SECRET
  })
  if (kind === 'unprotected') {
    app.post('/orders', { onRequest: [enter, async (request) => { await request.jwtVerify() }, leave] }, async () => BODY)
  } else {
    app.post('/orders', { preHandler: [enter, app.requireMfa, leave] }, async () => BODY)
  }
  await app.ready()
  const token = app.jwt.sign({ sub: `bench-${name}`, iat: Math.floor(Date.now() / 1000) })
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
  if (kind === 'pass') {
    await enableEmail(app, headers, () => code, name)
    headers['x-mfa-code'] = code
  }
  return { name, app, headers, samples: [], gc: 0 }
}

let collections = 0
new PerformanceObserver((list) => { collections += list.getEntries().length }).observe({ entryTypes: ['gc'] })

async function block (c: Case, keep: boolean): Promise<void> {
  sink = []
  // GC entries arrive asynchronously: let those of the previous block in before starting.
  await new Promise((resolve) => setImmediate(resolve))
  const gcBefore = collections
  for (let i = 0; i < BLOCK; i++) {
    const res = await c.app.inject({ method: 'POST', url: '/orders', headers: c.headers, payload: {} })
    if (res.statusCode !== 200) throw new Error(`${c.name}: ${res.statusCode} ${res.body}`)
  }
  await new Promise((resolve) => setImmediate(resolve))
  if (keep) {
    c.samples.push(...sink)
    c.gc += collections - gcBefore
  }
}

const quantile = (values: number[], q: number): number => {
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.floor(q * (sorted.length - 1))]
}
const µs = (ns: number): string => (ns / 1000).toFixed(2)

const cases = [await build('unprotected', 'unprotected'), await build('guard-free', 'free'), await build('guard-pass', 'pass')]
for (const c of cases) await block(c, false) // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const c of round % 2 === 0 ? cases : [...cases].reverse()) await block(c, true)
}
console.log(`\n${ROUNDS} rounds of ${BLOCK} requests per case, interleaved; the section: token check (+ step-up) (node ${process.version})\n`)
console.log('| case | section µs p25 | median | p75 | + over unprotected (medians) | GCs per 10k requests (whole request) |')
console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
const base = quantile(cases[0].samples, 0.5)
for (const c of cases) {
  const median = quantile(c.samples, 0.5)
  const plus = c === cases[0] ? '' : `+${µs(median - base)}`
  console.log(`| ${c.name} | ${µs(quantile(c.samples, 0.25))} | ${µs(median)} | ${µs(quantile(c.samples, 0.75))} | ${plus} | ${(c.gc * 10_000 / c.samples.length).toFixed(1)} |`)
}
for (const c of cases) await c.app.close()
