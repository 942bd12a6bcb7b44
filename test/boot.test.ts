// Stores are proven at boot: a store that cannot work fails Fastify's ready() with the cause
// and the fix, not the first user request, and close() after such a boot resolves.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import glueMfa, { emailProvider, memoryRepository, type MfaRepository } from '../lib/index.js'
import { loadDriver } from '../lib/repositories/boot.js'
import { postgresRepository } from '../lib/repositories/postgres.js'
import { sqliteRepository } from '../lib/repositories/sqlite.js'
import { CODE_SECRET, JWT_SECRET } from './helpers.js'
import { pgUrl, postgresAvailable } from './repositories/pg.js'

/** Boots an app on `repository`: what ready() rejected with (null when it started), then closes it. */
async function boot (repository: MfaRepository): Promise<(Error & { code?: string }) | null> {
  const app = Fastify()
  await app.register(fastifyJwt, { secret: JWT_SECRET })
  app.register(glueMfa, { providers: [emailProvider({ send: () => {} })], repository, codeSecret: CODE_SECRET })
  let error: Error | null = null
  try {
    await app.ready()
  } catch (err) {
    error = err as Error
  }
  await app.close() // resolves, also after a failed boot
  return error
}

const UNAVAILABLE = 'FST_GLUE_MFA_REPOSITORY_UNAVAILABLE'

t.test('SQLite: a file in a missing directory fails ready() with the path and the cause', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'glue-mfa-boot-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const filename = join(dir, 'missing', 'mfa.db')
  const error = await boot(sqliteRepository({ filename }))
  t.equal(error?.code, UNAVAILABLE)
  t.equal(error?.message, `fastify-glue-mfa: sqliteRepository cannot open "${filename}": Cannot open database because the directory does not exist`)
  t.equal(await boot(sqliteRepository({ filename: join(dir, 'mfa.db') })), null, 'a good file boots')
  const { default: Database } = await import('better-sqlite3')
  const closed = new Database(':memory:')
  closed.close()
  t.equal((await boot(sqliteRepository({ database: closed })))?.message, 'fastify-glue-mfa: sqliteRepository cannot open its database: The database connection is not open')
})

t.test('a driver that is not installed names the package to install', async (t) => {
  const notFound = Object.assign(new Error("Cannot find package 'pg' imported from /app/lib/postgres.js"), { code: 'ERR_MODULE_NOT_FOUND' })
  const error = await loadDriver('postgresRepository', 'pg', async () => { throw notFound }).catch((err: Error & { code?: string }) => err)
  t.equal(error.code, UNAVAILABLE)
  t.equal(error.message, 'fastify-glue-mfa: postgresRepository needs its driver, which is not installed: run npm install pg')
  t.equal(error.cause, notFound, 'the original error is the cause')
  const commonJs = Object.assign(new Error('Cannot find module'), { code: 'MODULE_NOT_FOUND' })
  t.equal((await loadDriver('sqliteRepository', 'better-sqlite3@12', async () => { throw commonJs }).catch((err: Error) => err)).message,
    'fastify-glue-mfa: sqliteRepository needs its driver, which is not installed: run npm install better-sqlite3@12')
  const other = new Error('native module built for another Node.js')
  t.equal(await loadDriver('sqliteRepository', 'better-sqlite3@12', async () => { throw other }).catch((err: Error) => err), other, 'other load errors pass unchanged')
  t.equal(await loadDriver('x', 'x', async () => 42), 42)
})

t.test('with pg missing, ready() fails naming it and close() resolves', async (t) => {
  const { postgresRepository: withoutPg } = await t.mockImport<typeof import('../lib/repositories/postgres.js')>('../lib/repositories/postgres.js', {
    '../lib/repositories/boot.js': {
      ...await import('../lib/repositories/boot.js'),
      loadDriver: async () => await loadDriver('postgresRepository', 'pg', async () => {
        throw Object.assign(new Error("Cannot find package 'pg'"), { code: 'ERR_MODULE_NOT_FOUND' })
      })
    }
  })
  const error = await boot(withoutPg({ connectionString: 'postgres://app@127.0.0.1:5432/app' }))
  t.equal(error?.code, UNAVAILABLE)
  t.match(error?.message, /postgresRepository needs its driver, which is not installed: run npm install pg$/)
})

t.test('postgresRepository refuses what is not a postgres:// URL at once', async (t) => {
  for (const [connectionString, message] of [
    ['not a url', /option "postgresRepository\.connectionString" must be a postgres:\/\/ or postgresql:\/\/ URL$/],
    ['mysql://root@127.0.0.1/app', /must be a postgres:\/\/ or postgresql:\/\/ URL \(not mysql:\)$/],
    ['postgres://', /must be a postgres:\/\/ or postgresql:\/\/ URL/]
  ] as const) {
    t.throws(() => postgresRepository({ connectionString }), { code: 'FST_GLUE_MFA_INVALID_OPTION', message }, connectionString)
  }
  t.doesNotThrow(() => postgresRepository({ connectionString: 'postgresql://u@h/db' }))
})

t.test('a repository whose ready() fails stops the boot with its error; one that is not a function is an option error', async (t) => {
  const down = new Error('store down')
  t.equal(await boot({ ...memoryRepository(), ready: async () => { throw down } }), down)
  const bad = await boot({ ...memoryRepository(), ready: 'yes' } as unknown as MfaRepository)
  t.match(bad?.message, /option "repository" has a "ready" that is not a function/)
})

t.test('PostgreSQL: a missing database, a closed port, an unknown user each fail ready() with the cause', async (t) => {
  if (!(await postgresAvailable(t))) return
  const url = (change: (u: URL) => void): string => {
    const u = new URL(pgUrl())
    change(u)
    return u.toString()
  }
  const cases: Array<[string, string, RegExp]> = [
    ['missing database', url((u) => { u.pathname = '/glue_mfa_no_such_db' }), /database "glue_mfa_no_such_db" does not exist/],
    ['closed port', url((u) => { u.port = '1' }), /ECONNREFUSED/],
    ['unknown user', url((u) => { u.username = 'glue_mfa_nobody'; u.password = 'sekret-password' }), /glue_mfa_nobody/]
  ]
  for (const [name, connectionString, cause] of cases) {
    const error = await boot(postgresRepository({ connectionString, connectionTimeout: 2000 }))
    t.equal(error?.code, UNAVAILABLE, name)
    t.match(error?.message, /^fastify-glue-mfa: postgresRepository cannot use the database at postgres(ql)?:\/\/[^ ]+: /, `${name}: names the URL`)
    t.match(error?.message, cause, `${name}: says why`)
    t.notMatch(error?.message, /sekret/, `${name}: never the password`)
  }
  t.equal(await boot(postgresRepository({ connectionString: pgUrl() })), null, 'the real database boots')
  const anonymous = await boot(postgresRepository({ connectionString: 'postgres://127.0.0.1:1/app', connectionTimeout: 2000 }))
  t.match(anonymous?.message, /^fastify-glue-mfa: postgresRepository cannot use the database at postgres:\/\/127\.0\.0\.1:1\/app: /)
  const refusing = { query: async () => ({ rows: [] }), connect: async () => { throw new Error('pool exhausted') } }
  t.equal((await boot(postgresRepository({ pool: refusing })))?.message, 'fastify-glue-mfa: postgresRepository cannot use its pool: pool exhausted')
  const unparsable = await boot(postgresRepository({ connectionString: 'postgres://[sekret' }))
  t.match(unparsable?.message, /^fastify-glue-mfa: postgresRepository cannot use the database at the connectionString given: /, 'a URL that does not parse is not repeated')
})

/** Two surfaces in sibling contexts, each with its own JWT key, as the README shows. */
async function twoSurfaces (storefront: MfaRepository, backend: MfaRepository): Promise<{ app: ReturnType<typeof Fastify>, error: (Error & { code?: string }) | null }> {
  const app = Fastify()
  const send = (): void => {}
  app.register(async (scope) => {
    await scope.register(fastifyJwt, { secret: JWT_SECRET })
    await scope.register(glueMfa, { providers: [emailProvider({ send })], repository: storefront, codeSecret: CODE_SECRET })
  })
  app.register(async (scope) => {
    await scope.register(fastifyJwt, { secret: `${JWT_SECRET}-backend` })
    await scope.register(glueMfa, { surface: 'backend', prefix: '/backend', providers: [emailProvider({ send })], repository: backend, codeSecret: CODE_SECRET })
  })
  let error: (Error & { code?: string }) | null = null
  try {
    await app.ready()
  } catch (err) {
    error = err as Error
  }
  return { app, error }
}

t.test('one store never holds both surfaces: a customer and a back-office user with the same id never share state', async (t) => {
  const shared = memoryRepository()
  const one = await twoSurfaces(shared, shared)
  t.match(one.error?.message, /option "repository" already holds the storefront surface's state: give the backend surface a repository of its own/)
  await one.app.close()

  const dir = mkdtempSync(join(tmpdir(), 'glue-mfa-surface-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const filename = join(dir, 'mfa.db')
  const sameFile = await twoSurfaces(sqliteRepository({ filename }), sqliteRepository({ filename }))
  t.equal(sameFile.error?.code, UNAVAILABLE)
  t.equal(sameFile.error?.message, 'fastify-glue-mfa: sqliteRepository with tablePrefix "glue_mfa_" holds the storefront surface\'s MFA state: give the backend surface its own tablePrefix (for example "glue_mfa_backend_")')
  await sameFile.app.close()

  const apart = await twoSurfaces(sqliteRepository({ filename }), sqliteRepository({ filename, tablePrefix: 'glue_mfa_backend_' }))
  t.equal(apart.error, null, 'with a prefix of its own, the back office boots on the same file')
  await apart.app.close()
  t.equal(await boot(sqliteRepository({ filename })), null, 'and the storefront keeps its claim across restarts')
})

t.test('PostgreSQL: two repositories on one schema and prefix cannot serve both surfaces', async (t) => {
  if (!(await postgresAvailable(t))) return
  const tablePrefix = `glue_mfa_surface_${process.pid}_`
  const { error, app } = await twoSurfaces(postgresRepository({ connectionString: pgUrl(), tablePrefix }), postgresRepository({ connectionString: pgUrl(), tablePrefix }))
  t.equal(error?.code, UNAVAILABLE)
  t.match(error?.message, /postgresRepository with tablePrefix "glue_mfa_surface_\d+_" holds the storefront surface's MFA state/)
  await app.close()
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: pgUrl() })
  await client.connect()
  await client.query(`DROP TABLE IF EXISTS "${tablePrefix}types", "${tablePrefix}lockouts", "${tablePrefix}meta"; DROP FUNCTION IF EXISTS "${tablePrefix}admit"`)
  await client.end()
})
