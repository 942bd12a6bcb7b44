// The SQLite server of the crash test, run as its own process (node --import tsx): the
// plugin as the hardening cluster registers it (cluster.ts), on sqliteRepository({ filename }).
// examples/server.ts cannot stand in: its principals are two demo customers and its codes
// live in process memory. Here each code is appended to MFA_OUTBOX_FILE, synchronously,
// before the request answers, so a SIGKILL loses no code a client was told about.
//
//   MFA_SQLITE_FILE   the database file (required)
//   MFA_OUTBOX_FILE   where codes go, one JSON line each (required)
// Prints "listening <port>" once it listens on 127.0.0.1 (an ephemeral port); ends on SIGTERM.
import { appendFileSync } from 'node:fs'
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import glueMfa, { emailProvider, type CodeMessage } from '../../lib/index.js'
import { sqliteRepository } from '../../lib/repositories/sqlite.js'
import { CODE_SECRET, JWT_SECRET } from '../helpers.js'
import { HARDENING_OPTIONS } from './model.js'

const filename = process.env.MFA_SQLITE_FILE
const outbox = process.env.MFA_OUTBOX_FILE
if (filename === undefined || outbox === undefined) throw new Error('set MFA_SQLITE_FILE and MFA_OUTBOX_FILE')

const send = ({ principal, type, code }: CodeMessage): void => {
  appendFileSync(outbox, JSON.stringify({ principal: principal.id, type, code }) + '\n')
}

const app = Fastify({ logger: false })
await app.register(fastifyJwt, { secret: JWT_SECRET })
await app.register(glueMfa, {
  ...HARDENING_OPTIONS,
  providers: [emailProvider({ send }), emailProvider({ type: 'sms', send })],
  repository: sqliteRepository({ filename }),
  codeSecret: CODE_SECRET
})
app.patch('/carts/:id', async (_request, reply) => await reply.code(204).send())
process.once('SIGTERM', () => {
  app.close().then(() => process.exit(0), () => process.exit(1))
})
await app.listen({ host: '127.0.0.1', port: 0 })
const address = app.server.address()
process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : ''}\n`)
