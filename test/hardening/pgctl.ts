// Stopping and starting the local PostgreSQL cluster the tests' database lives on
// (Debian's pg_ctlcluster, as root), for the outage test.
import { execFile, spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { promisify } from 'node:util'
import { pgUrl } from '../repositories/pg.js'

const run = promisify(execFile)

export interface LocalCluster {
  version: string
  host: string
  port: string
}

/** The cluster behind MFA_TEST_PG_URL, when it is local and this process may restart it; else why not. */
export function localCluster (): LocalCluster | string {
  const url = new URL(pgUrl())
  if (!['127.0.0.1', 'localhost'].includes(url.hostname)) return `PostgreSQL at ${url.hostname} is not local`
  if (!existsSync('/usr/bin/pg_ctlcluster') || !existsSync('/etc/postgresql')) return 'no pg_ctlcluster (Debian postgresql-common)'
  if (process.getuid?.() !== 0) return 'pg_ctlcluster needs root'
  const versions = readdirSync('/etc/postgresql').sort()
  if (versions.length === 0) return 'no cluster in /etc/postgresql'
  return { version: versions[0], host: url.hostname, port: url.port === '' ? '5432' : url.port }
}

export async function pgCtl (cluster: LocalCluster, action: 'start' | 'stop'): Promise<void> {
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', cluster.version, 'main', action], { timeout: 60_000 })
}

export async function isReady (cluster: LocalCluster): Promise<boolean> {
  try {
    await run('pg_isready', ['-q', '-h', cluster.host, '-p', cluster.port], { timeout: 5000 })
    return true
  } catch {
    return false
  }
}

/** Polls pg_isready until it answers or `ms` passed. */
export async function waitReady (cluster: LocalCluster, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await isReady(cluster)) return true
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return await isReady(cluster)
}

/** Starts the cluster if it is down and waits (bounded) for it, so later tests find it running. */
export async function ensureRunning (cluster: LocalCluster): Promise<boolean> {
  if (await isReady(cluster)) return true
  try {
    await pgCtl(cluster, 'start')
  } catch {
    // already starting, or started by someone else: the wait below decides
  }
  return await waitReady(cluster, 60_000)
}

/**
 * A detached process that starts the cluster after `seconds` if it is still down: the test
 * that stops it may die (a crash is what it looks for) before its own teardown runs.
 * Answers a function that ends it, for when the test ended normally.
 */
export function safetyNet (cluster: LocalCluster, seconds: number): () => void {
  const { version, host, port } = cluster
  const script = `sleep ${seconds}; pg_isready -q -h ${host} -p ${port} || pg_ctlcluster --skip-systemctl-redirect ${version} main start`
  const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' })
  child.unref()
  return () => {
    try {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGTERM')
    } catch {
      // already gone
    }
  }
}
