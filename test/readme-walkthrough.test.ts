/**
 * Runs the curl walkthroughs of README.md and docs/authenticator-apps.md against a started
 * example server, so the docs cannot drift from the code. The rules (also in the README, under
 * the walkthrough):
 *
 *   curl … # expect STATUS [GLUE-CODE]           sent with fetch exactly as written; status
 *                                                and Glue error code checked
 *   NAME=$(curl … | jq -r PATH) # expect STATUS  the same, and NAME = PATH of the JSON body
 *   NAME=$(curl …) # expect STATUS               the same, and NAME = the body
 *   NAME=$(echo "$VAR" | jq -r PATH)             NAME = PATH of VAR's JSON
 *   NAME=$(oathtool --totp -b "$SECRET")         NAME = the TOTP code of SECRET at the server's clock
 *   sleep N                                      the server's clock moves on N seconds
 *   echo …, qrencode …                           display only: skipped
 *   # …                                          comments: skipped
 *
 * `$NAME` / `${NAME}` are substituted in double quotes and bare words, not in single quotes;
 * http://127.0.0.1:3000 is replaced by the test server's address. Anything else fails the test.
 */
import { test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { generateSync } from 'otplib'
import { buildServer } from '../examples/server.js'
import { readmeBlock } from './readme.js'

const AUTHENTICATOR_APPS = new URL('../docs/authenticator-apps.md', import.meta.url)

const README_ORIGIN = 'http://127.0.0.1:3000'

interface Request {
  method: string
  url: string
  headers: Record<string, string>
  body?: string
}

/** Splits one shell command into words: '…' literal, "…" and bare words with $VAR substituted. */
export function shellWords (command: string, vars: Record<string, string>): string[] {
  const substitute = (text: string): string => text.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_all, name: string) => {
    if (!(name in vars)) throw new Error(`$${name} is used before it is set`)
    return vars[name]
  })
  const words: string[] = []
  let i = 0
  while (i < command.length) {
    while (command[i] === ' ') i++
    if (i >= command.length) break
    let word = ''
    while (i < command.length && command[i] !== ' ') {
      const c = command[i]
      if (c === "'") {
        const end = command.indexOf("'", i + 1)
        if (end < 0) throw new Error(`unclosed ' in: ${command}`)
        word += command.slice(i + 1, end)
        i = end + 1
      } else if (c === '"') {
        const end = command.indexOf('"', i + 1)
        if (end < 0) throw new Error(`unclosed " in: ${command}`)
        const inner = command.slice(i + 1, end)
        if (inner.includes('$(') || inner.includes('\\') || inner.includes('`')) throw new Error(`unsupported double-quoted text: ${inner}`)
        word += substitute(inner)
        i = end + 1
      } else {
        const end = command.slice(i).search(/[ '"]/)
        const bare = end < 0 ? command.slice(i) : command.slice(i, i + end)
        if (/[|;&<>()`\\]/.test(bare)) throw new Error(`unsupported shell syntax in: ${bare}`)
        word += substitute(bare)
        i += bare.length
      }
    }
    words.push(word)
  }
  return words
}

/** A curl command line as a fetch request. Knows -s, -w, -X, -H, -d and the URL; nothing else. */
export function curlRequest (command: string, vars: Record<string, string>, origin: string): Request {
  const words = shellWords(command, vars)
  if (words[0] !== 'curl') throw new Error(`not a curl command: ${command}`)
  let method: string | undefined
  let url: string | undefined
  let body: string | undefined
  const headers: Record<string, string> = {}
  for (let i = 1; i < words.length; i++) {
    const word = words[i]
    if (word === '-s') continue
    if (word === '-w') { i++; continue }
    if (word === '-X') { method = words[++i]; continue }
    if (word === '-H') {
      const header = words[++i]
      const colon = header.indexOf(':')
      headers[header.slice(0, colon).trim().toLowerCase()] = header.slice(colon + 1).trim()
      continue
    }
    if (word === '-d') { body = words[++i]; continue }
    if (word.startsWith('http://') && url === undefined) {
      if (!word.startsWith(README_ORIGIN)) throw new Error(`the README talks to ${README_ORIGIN}, not ${word}`)
      url = origin + word.slice(README_ORIGIN.length)
      continue
    }
    throw new Error(`unknown curl argument ${word} in: ${command}`)
  }
  if (url === undefined) throw new Error(`no URL in: ${command}`)
  // curl -d without -X is a POST with a form content type; the README always names both.
  if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
  return { method: method ?? (body === undefined ? 'GET' : 'POST'), url, headers, body }
}

/** `jq -r PATH` for the paths the README uses: `.a.b`, `.a[0].b`, quoted or not. */
export function jqPath (json: unknown, path: string): string {
  const clean = path.replace(/^'|'$/g, '')
  if (!/^(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])+$/.test(clean)) throw new Error(`unsupported jq path ${path}`)
  let value: any = json
  for (const [, key, index] of clean.matchAll(/\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g)) {
    value = value?.[key ?? Number(index)]
  }
  // jq -r prints strings raw, null as "null", anything else as JSON.
  return typeof value === 'string' ? value : JSON.stringify(value ?? null)
}

interface Step { line: string, status: number, glueCode?: string, body: string }

/** Runs one README block line by line against `origin`; answers what each curl got. */
async function runBlock (block: string, origin: string, vars: Record<string, string>, clock: { advance: (ms: number) => void, now: () => number }): Promise<Step[]> {
  const steps: Step[] = []
  const send = async (command: string, expect: RegExpExecArray | null, line: string): Promise<string> => {
    if (expect === null) throw new Error(`a curl line without "# expect STATUS": ${line}`)
    const request = curlRequest(command, vars, origin)
    const response = await fetch(request.url, { method: request.method, headers: request.headers, body: request.body })
    const body = await response.text()
    let glueCode: string | undefined
    try { glueCode = JSON.parse(body)?.errors?.[0]?.code } catch {}
    steps.push({ line, status: response.status, glueCode, body })
    return body
  }

  for (const raw of block.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const expect = /\s+#\s*expect\s+(\d{3})(?:\s+(\S+))?\s*$/.exec(line)
    const command = expect === null ? line : line.slice(0, expect.index)
    let match: RegExpExecArray | null
    if ((match = /^sleep\s+(\d+)$/.exec(command)) !== null) {
      clock.advance(Number(match[1]) * 1000)
    } else if (/^(echo|qrencode)\s/.test(command)) {
      continue
    } else if ((match = /^([A-Za-z_][A-Za-z0-9_]*)=\$\((.*)\)$/.exec(command)) !== null) {
      const [, name, inner] = match
      let sub: RegExpExecArray | null
      if ((sub = /^(curl\s.*?)\s*\|\s*jq\s+-r\s+(\S+)$/.exec(inner)) !== null) {
        vars[name] = jqPath(JSON.parse(await send(sub[1], expect, line)), sub[2])
      } else if ((sub = /^echo\s+"\$([A-Za-z_][A-Za-z0-9_]*)"\s*\|\s*jq\s+-r\s+(\S+)$/.exec(inner)) !== null) {
        vars[name] = jqPath(JSON.parse(vars[sub[1]]), sub[2])
      } else if ((sub = /^oathtool\s+--totp\s+-b\s+"\$([A-Za-z_][A-Za-z0-9_]*)"$/.exec(inner)) !== null) {
        vars[name] = generateSync({ secret: vars[sub[1]], epoch: Math.floor(clock.now() / 1000) })
      } else if (inner.startsWith('curl ')) {
        vars[name] = await send(inner, expect, line)
      } else {
        throw new Error(`unsupported command substitution: ${inner}`)
      }
      if (vars[name] === '' || vars[name] === 'null') throw new Error(`${name} came out empty from: ${line}`)
    } else if (command.startsWith('curl ')) {
      await send(command, expect, line)
    } else {
      throw new Error(`a line the walkthrough test does not know: ${line}`)
    }
    const step = steps.at(-1)
    if (expect !== null && step?.line === line) {
      const expected = `${expect[1]}${expect[2] === undefined ? '' : ` ${expect[2]}`}`
      const actual = `${step.status}${expect[2] === undefined ? '' : ` ${step.glueCode ?? '(no code)'}`}`
      if (actual !== expected) throw new Error(`expected ${expected}, got ${actual} (${step.body}) for: ${line}`)
    }
  }
  return steps
}

function expectations (block: string): string[] {
  return block.split('\n').map((l) => /#\s*expect\s+(\d{3}(?:\s+\S+)?)\s*$/.exec(l)?.[1]).filter((e): e is string => e !== undefined)
}

test('the README walkthrough and the TOTP enrolment of docs/authenticator-apps.md, run against the example server', async (t) => {
  const walkthrough = readmeBlock('walkthrough')
  const totp = readmeBlock('totp-walkthrough', AUTHENTICATOR_APPS)
  const dir = mkdtempSync(join(tmpdir(), 'glue-mfa-readme-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  let now = Date.now()
  const clock = { now: () => now, advance: (ms: number) => { now += ms } }
  const app = await buildServer({ database: join(dir, 'demo.db'), devMode: true, logger: false, clock: clock.now })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const vars: Record<string, string> = {}

  const steps = await runBlock(walkthrough, origin, vars, clock)
  t.same(steps.map((s) => `${s.status}${s.glueCode === undefined ? '' : ` ${s.glueCode}`}`), expectations(walkthrough),
    'every curl of the walkthrough answered as its comment says')
  t.ok(steps.length >= 14, `the walkthrough has its steps (${steps.length})`)
  t.match(vars.TOKEN, /^ey/, 'TOKEN is a JWT')
  t.match(vars.CODE, /^[1-9][0-9]{5}$/, 'CODE is an email code')
  const lists = steps.filter((s) => s.line.includes('/multi-factor-auth-types'))
  const statusOf = (step: Step | undefined): Record<string, unknown> =>
    Object.fromEntries(JSON.parse(step?.body ?? '{"data":[]}').data.map((d: any) => [d.id, d.attributes.status]))
  t.same(statusOf(lists[0]), { email: 0, totp: 0, passkey: 0, 'recovery-codes': 0 }, 'first list: nothing enabled')
  t.same(statusOf(lists[1]), { email: 2, totp: 0, passkey: 0, 'recovery-codes': 0 }, 'after verify: email enabled')

  const totpSteps = await runBlock(totp, origin, vars, clock)
  t.same(totpSteps.map((s) => `${s.status}${s.glueCode === undefined ? '' : ` ${s.glueCode}`}`), expectations(totp),
    'every curl of the TOTP enrolment answered as its comment says')
  t.match(JSON.parse(vars.ACTIVATION).data.attributes.otpauthUri, /^otpauth:\/\/totp\/Glue%20MFA%20demo:sonia%40example\.com\?secret=/, 'the otpauth URI names the demo issuer and the customer')
})

test('the parser refuses what it does not understand, instead of skipping it', async (t) => {
  t.throws(() => shellWords('curl -s $NOPE', {}), /\$NOPE is used before it is set/)
  t.throws(() => shellWords('curl -s http://x | tee', {}), /unsupported shell syntax/)
  t.throws(() => curlRequest('curl --json {} http://127.0.0.1:3000/x', {}, 'http://h'), /unknown curl argument --json/)
  t.throws(() => curlRequest('curl http://localhost:3000/x', {}, 'http://h'), /talks to/)
  t.same(curlRequest('curl -s -X PATCH http://127.0.0.1:3000/a -H "Authorization: Bearer $T" -H \'X-MFA-Code: 1\' -d \'{"a":"$T"}\'', { T: 'tok' }, 'http://h:1'), {
    method: 'PATCH', url: 'http://h:1/a', headers: { authorization: 'Bearer tok', 'x-mfa-code': '1', 'content-type': 'application/x-www-form-urlencoded' }, body: '{"a":"$T"}'
  }, 'single quotes stay literal, double quotes substitute; -d without a content type is a form, as in curl')
  t.equal(jqPath({ data: [{ attributes: { code: '123456' } }] }, "'.data[0].attributes.code'"), '123456')
  t.equal(jqPath({}, '.missing'), 'null')
  t.throws(() => jqPath({}, '.data | length'), /unsupported jq path/)
  await t.rejects(runBlock('curl -s http://127.0.0.1:3000/x', 'http://127.0.0.1:1', {}, { now: Date.now, advance: () => {} }), /without "# expect STATUS"/)
  await t.rejects(runBlock('rm -rf data', 'http://127.0.0.1:1', {}, { now: Date.now, advance: () => {} }), /does not know/)
})
