// The step-up pass path's own CPU cost, measured in one process with the cases interleaved, so
// that the machine's drift (this VM's CPU time per request moves by ±30 % between autocannon
// rounds) hits every case alike. Each case is a Fastify app answering POST /orders with the same
// fixed body after the same token verification:
//   unprotected   onRequest: request.jwtVerify()      (the cheapest honest baseline)
//   guard-free    preHandler: requireMfa, principal without MFA
//   guard-pass    preHandler: requireMfa, email enabled, the verified (grace) code each time
// and guard-pass again on SQLite and PostgreSQL (MFA_TEST_PG_URL, else the local default).
// Requests go through app.inject (no sockets: their cost is the same for every case and is not
// what is measured); blocks of BLOCK requests alternate between the cases, ROUNDS times, and the
// table gives the median CPU µs per request of each case and its difference from `unprotected`.
//
// Each block starts after a full garbage collection, so no case pays for another's garbage.
//
//   npx tsx bench/pass-path.ts      PASS_ROUNDS [15], PASS_BLOCK [2000],
//                                   PASS_STORES=memory to leave SQLite and PostgreSQL out
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { enableEmail } from './enable-email.js'
import glueMfa, { emailProvider, memoryRepository, postgresRepository, sqliteRepository, type MfaRepository } from '../lib/index.js'

const ROUNDS = Number(process.env.PASS_ROUNDS ?? 15)
const BLOCK = Number(process.env.PASS_BLOCK ?? 2000)
const JWT_SECRET = 'bench-jwt-secret-that-is-long-enough-for-hs256'
const CODE_SECRET = 'bench-code-secret-0123456789abcdef-0123456789'
const PG_URL = process.env.MFA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const BODY = { data: { type: 'orders', id: '1' } }
const MEMORY_ONLY = process.env.PASS_STORES === 'memory'
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

interface Case {
  name: string
  app: FastifyInstance
  headers: Record<string, string>
  samples: number[]
  close: () => Promise<void>
}

async function build (name: string, kind: 'unprotected' | 'free' | 'pass', repository: MfaRepository = memoryRepository(), cleanup: () => void = () => {}): Promise<Case> {
  const app = Fastify({ logger: false })
  await app.register(fastifyJwt, { secret: JWT_SECRET })
  let code = ''
  await app.register(glueMfa, {
    providers: [emailProvider({ send: (message) => { code = message.code } })],
    repository,
    codeSecret: CODE_SECRET
  })
  if (kind === 'unprotected') {
    app.post('/orders', { onRequest: async (request) => { await request.jwtVerify() } }, async () => BODY)
  } else {
    app.post('/orders', { preHandler: app.requireMfa }, async () => BODY)
  }
  await app.ready()
  const sub = `bench-${name}-${process.pid}-${Date.now()}`
  const token = app.jwt.sign({ sub })
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
  if (kind === 'pass') {
    await enableEmail(app, headers, () => code, name)
    headers['x-mfa-code'] = code
  }
  const check = await app.inject({ method: 'POST', url: '/orders', headers, payload: {} })
  if (check.statusCode !== 200) throw new Error(`${name}: /orders answered ${check.statusCode} ${check.body}`)
  return { name, app, headers, samples: [], close: async () => { await app.close(); cleanup() } }
}

async function block (c: Case): Promise<void> {
  gc()
  const start = process.cpuUsage()
  for (let i = 0; i < BLOCK; i++) {
    const res = await c.app.inject({ method: 'POST', url: '/orders', headers: c.headers, payload: {} })
    if (res.statusCode !== 200) throw new Error(`${c.name}: ${res.statusCode} ${res.body}`)
  }
  const used = process.cpuUsage(start)
  c.samples.push((used.user + used.system) / BLOCK)
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

const dir = mkdtempSync(join(tmpdir(), 'glue-mfa-pass-'))
const prefix = `bench_pass_${process.pid}_`
const cases = [
  await build('unprotected', 'unprotected'),
  await build('guard-free', 'free'),
  await build('guard-pass', 'pass'),
  ...MEMORY_ONLY
    ? []
    : [
        await build('guard-pass-sqlite', 'pass', sqliteRepository({ filename: join(dir, 'mfa.db') })),
        await build('guard-pass-postgres', 'pass', postgresRepository({ connectionString: PG_URL, tablePrefix: prefix }))
      ]
]
for (const c of cases) await block(c) // warm-up, not kept
for (const c of cases) c.samples.length = 0
for (let round = 0; round < ROUNDS; round++) {
  // Alternate the order, so no case always follows the same one.
  for (const c of round % 2 === 0 ? cases : [...cases].reverse()) await block(c)
}
const base = cases[0]
const deltas = (c: Case): number[] => c.samples.map((s, i) => s - base.samples[i])
console.log(`\n${ROUNDS} rounds of ${BLOCK} requests per case, interleaved (node ${process.version})\n`)
console.log('| case | CPU µs/req (median) | + over unprotected (median of per-round differences) | min–max of the differences |')
console.log('| --- | ---: | ---: | ---: |')
for (const c of cases) {
  const d = deltas(c)
  const span = c === base ? '' : `${Math.min(...d).toFixed(1)} – ${Math.max(...d).toFixed(1)}`
  console.log(`| ${c.name} | ${median(c.samples).toFixed(1)} | ${c === base ? '' : `+${median(d).toFixed(1)}`} | ${span} |`)
}
for (const c of cases) await c.close()
const { default: pg } = await import('pg')
const client = new pg.Client({ connectionString: PG_URL })
await client.connect()
await client.query(`DROP TABLE IF EXISTS "${prefix}types", "${prefix}lockouts", "${prefix}meta", "${prefix}principals"; DROP FUNCTION IF EXISTS "${prefix}admit"`)
await client.end()
rmSync(dir, { recursive: true, force: true })
