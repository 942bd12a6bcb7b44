// A test server in a child process (node --import tsx <script>): started, waited for until it
// prints "listening <port>", and killed with SIGKILL when the test ends if still running.
import type { Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * `stdin: 'pipe'` keeps a pipe open to the child, so a child that watches it can end itself when
 * the test process dies (burst-server.ts does).
 */
export async function startChildServer (t: Test, script: string, env: Record<string, string>, stdin: 'pipe' | 'ignore' = 'ignore'): Promise<{ child: ChildProcess, url: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env }
  delete childEnv.NODE_OPTIONS // tap's own loaders are not the child's business
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env: childEnv, stdio: [stdin, 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const deadline = Date.now() + 30_000
  for (;;) {
    const port = /^listening (\d+)$/m.exec(output)?.[1]
    if (port !== undefined) return { child, url: `http://127.0.0.1:${port}` }
    if (child.exitCode !== null) throw new Error(`${script} exited (${child.exitCode}) before listening:\n${output}`)
    if (Date.now() > deadline) throw new Error(`${script} did not listen within 30 s:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
