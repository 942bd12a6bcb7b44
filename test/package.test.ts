import { test } from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const fixtures = fileURLToPath(new URL('./fixtures/consumer/', import.meta.url))
// Children run dist/ code: they must not report coverage, which is the suite's view of lib/.
const { NODE_V8_COVERAGE: _coverage, ...env } = process.env
const node = (file: string): string => execFileSync(process.execPath, [file], { cwd: root, encoding: 'utf8', env: { ...env, NODE_OPTIONS: '' } })

// These run against dist/: what users install, not the sources.
test('the built package', async (t) => {
  if (!existsSync(new URL('../dist/esm/index.js', import.meta.url)) || !existsSync(new URL('../dist/cjs/index.js', import.meta.url))) {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' })
  }
  const expected = { status: 200, body: { data: [{ type: 'multi-factor-auth-types', id: 'email', attributes: { type: 'email', status: 0 } }], links: { self: '/multi-factor-auth-types' } }, enabled: 2 }

  t.test('works from a plain JavaScript ESM consumer', async (t) => {
    t.same(JSON.parse(node(`${fixtures}consumer.mjs`)), expected)
  })
  t.test('works from a plain JavaScript CommonJS consumer (require gives the plugin)', async (t) => {
    t.same(JSON.parse(node(`${fixtures}consumer.cjs`)), { ...expected, same: true })
  })
  t.test('ships no source maps: the lib/ sources they would point at are not in the package', async (t) => {
    t.same(readdirSync(new URL('../dist', import.meta.url), { recursive: true }).filter((file) => String(file).endsWith('.map')), [])
  })
  // types-require.cts registers what `import glueMfa = require('fastify-glue-mfa')` gives.
  t.test('its declarations type-check for import and require consumers', async (t) => {
    const out = execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${fixtures}tsconfig.json`], { cwd: root, encoding: 'utf8' })
    t.equal(out, '', 'tsc reports nothing')
  })
})
