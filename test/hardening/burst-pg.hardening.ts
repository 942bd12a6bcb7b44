// Burst attacks (burst-attack.ts) on PostgreSQL: one server process, and two server processes
// on one database (a fresh table prefix), the requests alternating between them; recovery
// codes' and passkeys' bursts included.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { pgUrl, postgresAvailable, runSql } from '../repositories/pg.js'
import { attack, attackAll, attackPasskey, attackRecovery, N, runsWith, startChild } from './burst-attack.js'

if (await postgresAvailable(t)) {
  t.comment(runsWith())
  const prefix = `mfa_burst_${randomBytes(5).toString('hex')}_`
  t.teardown(() => runSql(`DROP TABLE IF EXISTS "${prefix}types", "${prefix}principals", "${prefix}lockouts"`))
  const env = (instance: number): Record<string, string> => ({ MFA_BURST_PG_URL: pgUrl({ application_name: `glue-mfa-burst-${instance}` }), MFA_BURST_PG_PREFIX: prefix })
  const [first, second] = await Promise.all([startChild(t, env(0)), startChild(t, env(1))])

  t.test('one instance', async (t) => {
    const target = { name: 'pg-1', origins: [first] }
    await attackAll(t, target)
    await attackRecovery(t, target)
    await attackPasskey(t, target)
  })
  t.test('two instances on one database', async (t) => {
    const target = { name: 'pg-2', origins: [first, second] }
    await attackAll(t, target, true)
    await t.test(`step-up, ${N} guesses over two tokens with a jti, the right code at the end`, async (t) => {
      await attack(t, target, { scenario: 'step-up', position: 'end', n: N, jtiTokens: 2 })
    })
    await attackRecovery(t, target)
    await attackPasskey(t, target)
  })
}
