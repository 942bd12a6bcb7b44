// A separate process on one SQLite file, forked by sqlite.test.ts: it waits for "go", then
// counts failures and takes a send slot as fast as it can, racing its siblings.
import { sqliteRepository } from '../../lib/repositories/sqlite.js'

const [filename, rounds] = process.argv.slice(2)
const send = (message: unknown): void => { process.send?.(message) }
send('ready')
await new Promise((resolve) => process.once('message', resolve))

const repository = sqliteRepository({ filename })
const options = { now: 1, maxAttempts: 1000, lockoutFailures: 3 * Number(rounds), lockoutWindow: 60_000 }
let locked = 0
for (let i = 0; i < Number(rounds); i++) {
  if ((await repository.recordFailure('p', ['email'], options)).locked) locked++
}
const slot = await repository.reserveSend('p', 'email', 5, 1000)
await repository.close?.()
send({ locked, slot })
process.disconnect()
