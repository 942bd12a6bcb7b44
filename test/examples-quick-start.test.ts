import { test } from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { readmeBlock } from './readme.js'

const QUICK_START = new URL('../examples/quick-start.ts', import.meta.url)

test('the README quick start is examples/quick-start.ts, word for word but for the import', async (t) => {
  const file = readFileSync(QUICK_START, 'utf8')
  const asPublished = file.replace("from '../lib/index.js'", "from 'fastify-glue-mfa'")
  t.not(asPublished, file, 'the example imports the plugin from ../lib/index.js')
  t.equal(readmeBlock('quick-start') + '\n', asPublished)
})

test('the quick start runs as printed: a real process, then the lifecycle through its printed curl', async (t) => {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0' }
  delete env.NODE_OPTIONS // tap's own loader is not the child's business
  delete env.NODE_V8_COVERAGE // nor its coverage: tsx's view of lib/ would be merged into the suite's
  delete env.JWT_SECRET
  delete env.MFA_CODE_SECRET
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(QUICK_START)], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill('SIGTERM') })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })

  const waitFor = async (pattern: RegExp, what: string): Promise<RegExpExecArray> => {
    const deadline = Date.now() + 30_000
    for (;;) {
      const found = pattern.exec(output)
      if (found !== null) return found
      if (child.exitCode !== null) throw new Error(`the quick start exited (${child.exitCode}) before ${what}:\n${output}`)
      if (Date.now() > deadline) throw new Error(`no ${what} within 30 s:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  const codes = (): string[] => [...output.matchAll(/^mail to customer-1: your code is ([0-9]{6})$/gm)].map((m) => m[1])

  const [, origin, token] = await waitFor(/^try: curl -s (http:\/\/127\.0\.0\.1:\d+)\/multi-factor-auth-types -H "Authorization: Bearer ([^"]+)"$/m, 'printed curl command')
  const call = async (method: string, path: string, options: { code?: string, type?: string } = {}): Promise<Response> => {
    const resource = path.slice(1)
    const mfaRoute = path.startsWith('/multi-factor')
    return await fetch(`${origin}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        // The MFA routes take JSON:API bodies; the app's own routes plain JSON (Fastify's default).
        ...(method === 'POST' ? { 'content-type': mfaRoute ? 'application/vnd.api+json' : 'application/json' } : {}),
        ...(options.code === undefined ? {} : { 'x-mfa-code': options.code })
      },
      body: method !== 'POST' ? undefined : JSON.stringify(mfaRoute ? { data: { type: resource, attributes: { type: options.type ?? 'email' } } } : {})
    })
  }

  const listed = await call('GET', '/multi-factor-auth-types')
  t.equal(listed.status, 200, 'the printed curl command works')
  t.same(((await listed.json()) as any).data.map((d: any) => d.id), ['email', 'totp'])

  t.equal((await call('POST', '/carts')).status, 201, 'no MFA yet')
  t.equal((await call('POST', '/multi-factor-auth-type-activate')).status, 204)
  const [, code] = await waitFor(/^mail to customer-1: your code is ([0-9]{6})$/m, 'printed code')
  t.equal((await call('POST', '/multi-factor-auth-type-verify', { code })).status, 204)
  const refused = await call('POST', '/carts')
  t.equal(refused.status, 403)
  t.equal(((await refused.json()) as any).errors[0].code, '5900')
  t.equal((await call('POST', '/carts', { code })).status, 201, 'protectedResources: carts')
  t.equal((await call('POST', '/orders')).status, 403, 'requireMfa: orders')
  t.equal((await call('POST', '/orders', { code })).status, 200)
  t.same(codes(), [code], 'one code sent, printed by the stand-in mailer')
  t.match(output, /"msg":"Server listening at http:\/\/127\.0\.0\.1:\d+"/, 'Fastify\'s logger is on')
})
