// One bench server, run as a child process of run.ts (`node --import tsx bench/server.ts`), so
// the load generator and the server never share an event loop. The configuration comes in
// BENCH_SERVER_CONFIG (JSON, see common.ts); the child listens on 127.0.0.1, port 0, reports
// its port and tokens over IPC, answers `stats` (peak RSS) and exits on `stop` or when the
// runner goes away.
import Fastify, { type FastifyInstance } from 'fastify'
import { randomUUID } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import glueMfa, {
  emailProvider, memoryRepository, postgresRepository, sqliteRepository, totpProvider,
  type CodeMessage, type GlueMfaOptions, type MfaRepository
} from '../lib/index.js'
import {
  CODE_SECRET, FREE_PRINCIPAL, JSON_API, JWT_SECRET, LIST_BODY, LIST_PATH, LIST_PRINCIPAL, MFA_PRINCIPAL, ORDER_FIXED_BODY, ORDERS_PATH,
  VERIFY_LOCKOUT, VERIFY_MAX_ATTEMPTS, VERIFY_PRINCIPAL,
  type ChildMessage, type ParentMessage, type ServerConfig, type StoreConfig
} from './common.js'

function send (message: ChildMessage): void {
  process.send?.(message)
}

function repositoryFor (store: StoreConfig): MfaRepository {
  switch (store.kind) {
    case 'memory': return memoryRepository()
    case 'sqlite': return sqliteRepository({ filename: store.filename, tablePrefix: store.tablePrefix })
    case 'postgres': return postgresRepository({ connectionString: store.connectionString, tablePrefix: store.tablePrefix })
  }
}

/** The codes the email type sent, by principal id (the bench's outbox). */
const outbox = new Map<string, string>()

async function registerMfa (app: FastifyInstance, repository: MfaRepository, extra: Partial<GlueMfaOptions> = {}): Promise<void> {
  await app.register(glueMfa, {
    providers: [
      emailProvider({ send: (message: CodeMessage) => { outbox.set(message.principal.id, message.code) } }),
      totpProvider({ issuer: 'fastify-glue-mfa bench' })
    ],
    repository,
    codeSecret: CODE_SECRET,
    ...extra
  })
}

async function call (app: FastifyInstance, url: string, token: string, code?: string): Promise<void> {
  const resource = url.slice(1)
  const res = await app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${token}`, 'content-type': JSON_API, ...(code === undefined ? {} : { 'x-mfa-code': code }) },
    payload: JSON.stringify({ data: { type: resource, attributes: { type: 'email' } } })
  })
  if (res.statusCode !== 204) throw new Error(`seeding: ${url} answered ${res.statusCode} ${res.body}`)
}

/** Through the plugin's own API: activate email (the code lands in the outbox), then verify it. */
async function enableEmail (app: FastifyInstance, token: string, principalId: string): Promise<string> {
  await call(app, '/multi-factor-auth-type-activate', token)
  const code = outbox.get(principalId)
  if (code === undefined) throw new Error('seeding: no code was sent')
  await call(app, '/multi-factor-auth-type-verify', token, code)
  return code
}

async function main (): Promise<void> {
  const config = JSON.parse(process.env.BENCH_SERVER_CONFIG ?? '') as ServerConfig
  const app = Fastify({ logger: false })
  await app.register(fastifyJwt, { secret: JWT_SECRET })
  const sign = (sub: string): string => app.jwt.sign({ sub })
  let repository: MfaRepository | null = null
  let principalToCheck: string | null = null

  switch (config.app) {
    case 'baseline':
      app.get(LIST_PATH, { onRequest: async (request) => { await request.jwtVerify() } }, async (_request, reply) => {
        return reply.type(JSON_API).send(LIST_BODY)
      })
      break
    case 'list':
      repository = repositoryFor(config.store)
      await registerMfa(app, repository)
      break
    case 'orders': {
      repository = repositoryFor(config.store ?? { kind: 'memory' })
      await registerMfa(app, repository)
      // Both take the body Fastify parsed; 'fixed' answers the same object every time.
      const handler = config.body === 'fixed'
        ? async (): Promise<unknown> => ORDER_FIXED_BODY
        : async (request: { body: unknown }): Promise<unknown> => {
          const { data } = request.body as { data: { attributes: Record<string, unknown> } }
          return { data: { type: 'orders', id: '1', attributes: data.attributes } }
        }
      if (config.guard) {
        // The guard authenticates the request itself (as the MFA routes do): it replaces the host's token check.
        app.post(ORDERS_PATH, { preHandler: app.requireMfa }, handler)
      } else {
        app.post(ORDERS_PATH, { onRequest: async (request) => { await request.jwtVerify() } }, handler)
      }
      break
    }
    case 'verify':
      repository = memoryRepository()
      principalToCheck = VERIFY_PRINCIPAL
      await registerMfa(app, repository, { principalLockout: VERIFY_LOCKOUT, maxAttempts: VERIFY_MAX_ATTEMPTS })
      break
  }
  await app.ready()

  const tokens: Record<string, string> = {}
  for (const id of [MFA_PRINCIPAL, FREE_PRINCIPAL, VERIFY_PRINCIPAL]) tokens[id] = sign(id)
  // Every list server enables email for a principal of its own through the plugin's API, in
  // every store alike: the stores then hold what a live server writes (for SQLite, a WAL with
  // frames in it, as in any store written since it was opened), and a store reused by the next
  // round never meets a type that is already enabled.
  const listId = `${LIST_PRINCIPAL}-${randomUUID()}`
  tokens[LIST_PRINCIPAL] = sign(listId)
  let code: string | null = null
  if (config.app === 'list') await enableEmail(app, tokens[LIST_PRINCIPAL], listId)
  if (config.app === 'orders') code = await enableEmail(app, tokens[MFA_PRINCIPAL], MFA_PRINCIPAL)
  if (config.app === 'verify') await call(app, '/multi-factor-auth-type-activate', tokens[VERIFY_PRINCIPAL])

  process.on('message', (message: ParentMessage) => {
    if (message.cmd === 'stats') {
      const locked = repository === null || principalToCheck === null
        ? Promise.resolve(null)
        : repository.lockedUntil(principalToCheck).then((until) => until > Date.now())
      locked.then((isLocked) => send({
        msg: 'stats',
        maxRssBytes: process.resourceUsage().maxRSS * 1024,
        rssBytes: process.memoryUsage.rss(),
        locked: isLocked
      }), (err: Error) => send({ msg: 'failed', error: `stats: ${err.message}` }))
    } else if (message.cmd === 'cpu') {
      const { user, system } = process.cpuUsage()
      send({ msg: 'cpu', micros: user + system })
    } else if (message.cmd === 'stop') {
      // A clean exit, so --cpu-prof can write its profile.
      app.close().finally(() => process.exit(0))
    }
  })

  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  send({ msg: 'ready', port: address.port, tokens, code })
}

// The runner gone (even killed) closes the IPC channel: never outlive it.
process.on('disconnect', () => process.exit(1))

main().catch((err: Error) => {
  send({ msg: 'failed', error: err.stack ?? err.message })
  process.exitCode = 1
  setTimeout(() => process.exit(1), 100).unref()
})
