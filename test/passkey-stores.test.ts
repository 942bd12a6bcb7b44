import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import { postgresRepository, sqliteRepository } from '../lib/index.js'
import { concurrentUse, counter, refusals, registration, singleUse } from './passkey-scenarios.js'
import { freshPrefix, pgUrl, postgresAvailable } from './repositories/pg.js'

// The passkey scenarios on the SQL stores: a SQLite file, and PostgreSQL (test/passkey.test.ts
// runs them on the memory store). Each scenario gets a store of its own.

const scenarios = { refusals, singleUse, registration, counter, concurrentUse }

test('the passkey scenarios on a SQLite file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'glue-mfa-passkey-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  let n = 0
  for (const [name, scenario] of Object.entries(scenarios)) {
    const filename = join(dir, `mfa-${n++}.db`)
    await t.test(name, async (t) => { await scenario(t, () => sqliteRepository({ filename })) })
  }
})

test('the passkey scenarios on PostgreSQL', async (t) => {
  if (!(await postgresAvailable(t))) return
  for (const [name, scenario] of Object.entries(scenarios)) {
    await t.test(name, async (t) => {
      const prefix = freshPrefix(t)
      await scenario(t, () => postgresRepository({ connectionString: pgUrl(), tablePrefix: prefix }))
    })
  }
})
