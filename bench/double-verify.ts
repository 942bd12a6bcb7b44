// What the step-up guard costs on a route that already authenticates with @fastify/jwt itself:
// the guard authenticates through the same path as the MFA routes (it does not trust request.user), so the token is
// verified a second time. Measured per request through app.inject (a host route with its own
// onRequest jwtVerify, with and without requireMfa), for HS256 and RS256, with and without
// @fastify/jwt's verified-token cache (`verify: { cache: true }`). Medians of 4 alternating
// rounds of 5,000 requests; the figures are in BENCHMARKS.md.
//   npx tsx bench/double-verify.ts
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { generateKeyPairSync } from 'node:crypto'
import glueMfa, { emailProvider, memoryRepository } from '../lib/index.js'

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })

type Alg = 'HS256' | 'RS256'

async function build (alg: Alg, cache: boolean, guard: boolean) {
  const app = Fastify()
  const secret = alg === 'HS256' ? 'x'.repeat(48) : { private: privateKey, public: publicKey }
  await app.register(fastifyJwt, { secret, sign: { algorithm: alg }, ...(cache ? { verify: { cache: true } } : {}) })
  await app.register(glueMfa, { providers: [emailProvider({ send: () => {} })], repository: memoryRepository(), codeSecret: 'c'.repeat(40) })
  app.post('/orders', { onRequest: async (r) => { await r.jwtVerify() }, ...(guard ? { preHandler: app.requireMfa } : {}) }, async () => ({ ok: true }))
  await app.ready()
  return { app, token: app.jwt.sign({ sub: 'u1' }) }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

async function time (alg: Alg, cache: boolean, guard: boolean, n: number): Promise<number> {
  const { app, token } = await build(alg, cache, guard)
  const opts = { method: 'POST' as const, url: '/orders', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: '{"a":1}' }
  for (let i = 0; i < 2000; i++) await app.inject(opts)
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) { const r = await app.inject(opts); if (r.statusCode !== 200) throw new Error(r.body) }
  const us = Number(process.hrtime.bigint() - t0) / n / 1000
  await app.close()
  return us
}

for (const alg of ['HS256', 'RS256'] as Alg[]) {
  for (const cache of [false, true]) {
    const res: Record<string, number[]> = { host: [], guard: [] }
    for (let round = 0; round < 4; round++) {
      res.host.push(await time(alg, cache, false, 5000))
      res.guard.push(await time(alg, cache, true, 5000))
    }
    const host = median(res.host)
    const guarded = median(res.guard)
    console.log(`${alg} ${cache ? 'verify cache   ' : 'no verify cache'}  host jwtVerify ${host.toFixed(1)} µs/req, + requireMfa ${guarded.toFixed(1)} µs/req: +${(guarded - host).toFixed(1)} µs`)
  }
}
