// Checks the package as it would be published, the way the official @fastify/* plugins are
// checked: packs the built dist/ (run `npm run build` first; `npm run check:package` does) and
// runs attw (types resolve, and match the JavaScript, for require and import under node16 and
// bundler resolution) and publint (package.json fields and exports) on the tarball.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const run = (command, args, options = {}) => execFileSync(command, args, { stdio: 'inherit', ...options })
const bin = (name) => join('node_modules', '.bin', name)
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

const folder = mkdtempSync(join(tmpdir(), 'fastify-glue-mfa-pack-'))
try {
  const [packed] = JSON.parse(execFileSync(npm, ['pack', '--json', '--pack-destination', folder], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }))
  const files = packed.files.map((file) => file.path)
  const problems = []
  const shipped = /^(dist\/(cjs|esm)\/.+\.(js|d\.ts)|dist\/(cjs|esm)\/package\.json|package\.json|README\.md|CHANGELOG\.md|LICENSE)$/
  for (const file of files) {
    if (file.endsWith('.map')) problems.push(`${file}: a source map, and the sources it points at are not shipped`)
    else if (!shipped.test(file)) problems.push(`${file}: not expected in the package`)
  }
  for (const file of ['LICENSE', 'README.md', 'CHANGELOG.md', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/esm/index.js', 'dist/esm/index.d.ts']) {
    if (!files.includes(file)) problems.push(`${file}: missing from the package`)
  }
  if (problems.length > 0) throw new Error(`the tarball ${packed.filename}:\n  ${problems.join('\n  ')}`)
  console.log(`${packed.filename}: ${files.length} files, ${packed.size} bytes`)

  const tarball = join(folder, packed.filename)
  // node10 (TypeScript's legacy moduleResolution) knows no "exports", so no subpath such as
  // fastify-glue-mfa/testing: the node16 profile checks node16 (require and import) and bundler.
  run(bin('attw'), [tarball, '--profile', 'node16'])
  run(bin('publint'), [tarball, '--strict'])
} finally {
  rmSync(folder, { recursive: true, force: true })
}
