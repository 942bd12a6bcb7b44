import { test, type Test } from 'tap'
import Database from 'better-sqlite3'
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sqliteRepository, type SqliteDatabase, type SqliteRepositoryOptions } from '../../lib/repositories/sqlite.js'
import { repositoryConformance } from '../../lib/testing/index.js'

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'glue-mfa-sqlite-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('a database file, two connections: sqliteRepository conforms', async (t) => {
  const filename = join(tempDir(t), 'mfa.db')
  await repositoryConformance(t, () => sqliteRepository({ filename }))
})

test('a passed in-memory database: sqliteRepository conforms', async (t) => {
  const database = new Database(':memory:')
  t.teardown(() => database.close())
  await repositoryConformance(t, () => sqliteRepository({ database, tablePrefix: 'passed_' }))
})

test('options are checked at once, naming the option', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [undefined, /"sqliteRepository" needs exactly one of "filename" and "database"/],
    [{}, /"sqliteRepository" needs exactly one/],
    [{ filename: 'a.db', database: new Database(':memory:') }, /"sqliteRepository" needs exactly one/],
    [{ filename: '' }, /"sqliteRepository.filename" must be a non-empty path/],
    [{ filename: 42 }, /"sqliteRepository.filename"/],
    [{ database: {} }, /"sqliteRepository.database" must be a better-sqlite3 Database/],
    [{ database: null }, /"sqliteRepository.database"/],
    [{ filename: 'a.db', tablePrefix: 'drop table;' }, /"sqliteRepository.tablePrefix" must be 1 to 40 letters, digits or "_"/],
    [{ filename: 'a.db', tablePrefix: '' }, /"sqliteRepository.tablePrefix"/],
    [{ filename: 'a.db', tablePrefix: '1abc' }, /"sqliteRepository.tablePrefix"/],
    [{ filename: 'a.db', tablePrefix: 'x'.repeat(41) }, /"sqliteRepository.tablePrefix"/],
    [{ filename: 'a.db', tablePrefix: 7 }, /"sqliteRepository.tablePrefix"/]
  ]
  for (const [options, message] of bad) {
    t.throws(() => sqliteRepository(options as SqliteRepositoryOptions), { code: 'FST_GLUE_MFA_INVALID_OPTION', message })
  }
  t.doesNotThrow(() => sqliteRepository({ filename: 'never-opened.db', tablePrefix: 'Tenant_7' }), 'nothing is opened before first use')
})

test('a file it opens is in WAL mode, has both tables and is closed by close()', async (t) => {
  const filename = join(tempDir(t), 'wal.db')
  const repository = sqliteRepository({ filename })
  await repository.close?.() // before first use: nothing to close
  t.equal(await repository.getType('p', 'email'), null)
  const check = new Database(filename, { readonly: true })
  t.teardown(() => check.close())
  t.equal(check.pragma('journal_mode', { simple: true }), 'wal')
  const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all()
  t.same(tables, ['glue_mfa_lockouts', 'glue_mfa_types'])
  const plan = check.prepare("EXPLAIN QUERY PLAN SELECT * FROM glue_mfa_types WHERE principal_id = 'p'").all() as Array<{ detail: string }>
  t.match(plan[0].detail, /SEARCH .* USING PRIMARY KEY/, 'lookups by principal use the primary key')

  await repository.close?.()
  await t.rejects(repository.getTypes('p'), /not open/, 'closed')
  await repository.close?.()
})

test('a passed database is used as configured and never closed', async (t) => {
  const database = new Database(':memory:')
  t.teardown(() => database.close())
  const repository = sqliteRepository({ database })
  await repository.storeCode('p', 'email', { hash: 'aa', expiresAt: 1 })
  await repository.close?.()
  t.equal(database.open, true)
  t.equal((await repository.getType('p', 'email'))?.code?.hash, 'aa')
})

test('after ANALYZE (STAT4 samples), reads by principal still search the primary key with the value hidden from the planner', async (t) => {
  const database = new Database(':memory:')
  t.teardown(() => database.close())
  const prepared: string[] = []
  const spy: SqliteDatabase = {
    prepare: (source) => { prepared.push(source); return database.prepare(source) },
    exec: (source) => database.exec(source),
    transaction: (fn) => database.transaction(fn)
  }
  const repository = sqliteRepository({ database: spy })
  for (let i = 0; i < 300; i++) await repository.beginActivation(`p${i}`, i % 2 === 0 ? 'email' : 'totp', null)
  database.exec('ANALYZE')
  t.ok((database.prepare('SELECT count(*) AS n FROM sqlite_stat4').get() as { n: number }).n > 0, 'STAT4 samples are stored')

  // SQLite re-prepares a statement on every new value when STAT4 samples exist and a bare
  // parameter is compared with the first column of an index alone: such a comparison must not
  // occur. Comparisons on the whole key (principal and type, or the principals table) are exact.
  const byPrincipalOnly = prepared.filter((sql) => /\bFROM "glue_mfa_types"/.test(sql) && !/\btype = [?@]/.test(sql) && /\bprincipal_id = /.test(sql))
  t.equal(byPrincipalOnly.length, 2, 'getTypes and getStatuses')
  for (const sql of byPrincipalOnly) {
    t.match(sql, /principal_id = \? \|\| ''/, 'the parameter is inside an expression')
    const plan = (database.prepare(`EXPLAIN QUERY PLAN ${sql}`).all('p0') as Array<{ detail: string }>).map((r) => r.detail).join(' | ')
    t.match(plan, /^SEARCH "?glue_mfa_types"? USING PRIMARY KEY \(principal_id=\?\)$/, sql)
  }
  t.same(await repository.getStatuses?.('p1'), [{ type: 'totp', status: 1 }])
  t.same((await repository.getTypes('p2')).map((r) => r.type), ['email'])
})

test('two instances starting at once on a fresh file both work', async (t) => {
  const filename = join(tempDir(t), 'race.db')
  const [a, b] = [sqliteRepository({ filename }), sqliteRepository({ filename })]
  t.teardown(async () => { await a.close?.(); await b.close?.() })
  const [begun] = await Promise.all([a.beginActivation('p', 'email', null), b.getTypes('p')])
  t.equal(begun, true)
  t.equal((await b.getType('p', 'email'))?.status, 1)
})

test('table prefixes keep two stores apart in one file', async (t) => {
  const filename = join(tempDir(t), 'prefix.db')
  const a = sqliteRepository({ filename, tablePrefix: 'a_' })
  const b = sqliteRepository({ filename, tablePrefix: 'b_' })
  t.teardown(async () => { await a.close?.(); await b.close?.() })
  await a.beginActivation('p', 'email', null)
  t.equal(await b.getType('p', 'email'), null)
  t.equal((await a.getType('p', 'email'))?.status, 1)
})

test('a store that cannot be opened fails the call, and the next call opens it once it can', async (t) => {
  const dir = tempDir(t)
  const missing = sqliteRepository({ filename: join(dir, 'later', 'mfa.db') })
  t.teardown(() => missing.close?.())
  await t.rejects(missing.getTypes('p'), /directory does not exist|unable to open/)
  mkdirSync(join(dir, 'later'))
  t.same(await missing.getTypes('p'), [])

  // Not a database: the connection it opened is closed again before failing.
  const filename = join(dir, 'garbage.db')
  writeFileSync(filename, 'this is not a database file, it is plain text and long enough to be looked at'.repeat(20))
  const garbage = sqliteRepository({ filename })
  t.teardown(() => garbage.close?.())
  await t.rejects(garbage.lockedUntil('p'), { code: 'SQLITE_NOTADB' })
  rmSync(filename)
  t.equal(await garbage.lockedUntil('p'), 0)
})

test('a read-only connection reads the store and fails every write', async (t) => {
  const filename = join(tempDir(t), 'ro.db')
  const writer = sqliteRepository({ filename })
  await writer.beginActivation('p', 'email', null)
  await writer.close?.()
  const database = new Database(filename, { readonly: true })
  t.teardown(() => database.close())
  const reader = sqliteRepository({ database })
  t.equal((await reader.getType('p', 'email'))?.status, 1)
  await t.rejects(reader.disable('p', 'email'), { code: 'SQLITE_READONLY' })
  await t.rejects(reader.reserveSend('p', 'email', 1, 0), { code: 'SQLITE_READONLY' })
  const rule = { failures: 3, duration: 1000, maxDuration: 1000 }
  await t.rejects(reader.admit('p', { now: 1, principal: rule, token: null }), { code: 'SQLITE_READONLY' })
  await t.rejects(reader.countAttempts('p', ['email'], 3), { code: 'SQLITE_READONLY' })
  t.equal((await reader.getType('p', 'email'))?.status, 1, 'nothing changed')
})

test('three processes on one file: IMMEDIATE transactions and the busy timeout keep every count', async (t) => {
  const filename = join(tempDir(t), 'processes.db')
  const script = fileURLToPath(new URL('./sqlite-process.ts', import.meta.url))
  const rounds = 200
  const children = Array.from({ length: 3 }, () => fork(script, [filename, String(rounds)]))
  const exits = children.map((child) => once(child, 'exit'))
  // The next message of a child; a child that dies first fails the test instead of hanging it.
  const next = (i: number): Promise<unknown> => Promise.race([
    once(children[i], 'message').then(([message]) => message),
    exits[i].then(([code]) => { throw new Error(`child exited with ${code}`) })
  ])
  // Start them together, so that opening the file, making the tables and counting all overlap.
  await Promise.all(children.map((_, i) => next(i)))
  const results = children.map((_, i) => next(i))
  for (const child of children) child.send('go')
  const counts = await Promise.all(results) as Array<{ admitted: number, locked: number, slot: number }>
  t.same((await Promise.all(exits)).map(([code]) => code), [0, 0, 0])
  t.equal(counts.reduce((n, r) => n + r.admitted, 0), 2 * rounds, `${2 * rounds} of ${3 * rounds} admitted`)
  t.equal(counts.reduce((n, r) => n + r.locked, 0), 1, `the ${2 * rounds}th admission, and only it, locks`)
  t.equal(counts.filter((r) => r.slot === 0).length, 1, 'one send slot')
  const repository = sqliteRepository({ filename })
  t.teardown(() => repository.close?.())
  t.equal(await repository.lockedUntil('p'), 60_001)
})
