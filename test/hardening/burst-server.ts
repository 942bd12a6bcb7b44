// A burst server (burst-app.ts) as a process of its own (node --import tsx), so two of them
// can share one SQLite file or one PostgreSQL database as two deployed instances would.
//
//   MFA_BURST_SQLITE_FILE   a SQLite database file, or
//   MFA_BURST_PG_URL        a PostgreSQL URL, with MFA_BURST_PG_PREFIX (the table prefix)
// Prints "listening <port>" once it listens on 127.0.0.1 (an ephemeral port); ends on SIGTERM
// or when its stdin closes.
import type { MfaRepository } from '../../lib/index.js'
import { postgresRepository } from '../../lib/repositories/postgres.js'
import { sqliteRepository } from '../../lib/repositories/sqlite.js'
import { BurstLedger, buildBurstApp } from './burst-app.js'

const { MFA_BURST_SQLITE_FILE: filename, MFA_BURST_PG_URL: connectionString, MFA_BURST_PG_PREFIX: tablePrefix } = process.env
let repository: MfaRepository
if (filename !== undefined) repository = sqliteRepository({ filename })
else if (connectionString !== undefined && tablePrefix !== undefined) repository = postgresRepository({ connectionString, tablePrefix })
else throw new Error('set MFA_BURST_SQLITE_FILE, or MFA_BURST_PG_URL and MFA_BURST_PG_PREFIX')

const app = await buildBurstApp(repository, new BurstLedger())
const stop = (): void => {
  app.close().then(() => process.exit(0), () => process.exit(1))
}
process.once('SIGTERM', stop)
// The test holds this pipe open: if it dies without a teardown (a tap timeout), so does this.
process.stdin.once('end', stop).resume()
await app.listen({ host: '127.0.0.1', port: 0, backlog: 2048 })
const address = app.server.address()
process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : ''}\n`)
