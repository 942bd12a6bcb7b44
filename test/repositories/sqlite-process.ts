// A separate process on one SQLite file, forked by sqlite.test.ts: it waits for "go", then
// asks for admissions and takes a send slot as fast as it can, racing its siblings.
import { sqliteRepository } from '../../lib/repositories/sqlite.js'

const [filename, rounds] = process.argv.slice(2)
const send = (message: unknown): void => { process.send?.(message) }
send('ready')
await new Promise((resolve) => process.once('message', resolve))

const repository = sqliteRepository({ filename })
// Three processes ask 3 × rounds times; the lock comes at 2 × rounds.
const rule = { failures: 2 * Number(rounds), duration: 60_000, maxDuration: 60_000 }
const options = { now: 1, principal: rule, token: null }
let admitted = 0
let locked = 0
for (let i = 0; i < Number(rounds); i++) {
  const admission = await repository.admit('p', options)
  if (admission.admitted) admitted++
  if (admission.admitted && admission.locked) locked++
}
const slot = await repository.reserveSend('p', 'email', 5, 1000)
await repository.close?.()
send({ admitted, locked, slot })
process.disconnect()
