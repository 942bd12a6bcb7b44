// The docs stand on their own and say what the code does: the README's option and error tables
// name exactly the options and Glue errors the plugin has, every option interface documents
// each option (with its default), every relative link of the Markdown files leads to a file and
// heading that exist, and nothing cites a planning document that ships with neither.
import { test } from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import glueMfa, { MfaErrors } from '../lib/index.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8')

/** The Markdown files a reader of the repository sees (top level and docs/). */
const MARKDOWN = [
  ...readdirSync(ROOT).filter((f) => f.endsWith('.md')),
  ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)
]

/** The text of a Markdown section: from its heading to the next heading of the same or a higher level. */
function section (markdown: string, heading: string): string {
  const level = /^#+/.exec(heading)?.[0].length ?? 2
  const at = markdown.indexOf(`\n${heading}\n`)
  if (at < 0) throw new Error(`no section "${heading}"`)
  const rest = markdown.slice(at + heading.length + 2)
  const end = rest.search(new RegExp(`\\n#{1,${level}} `))
  return end < 0 ? rest : rest.slice(0, end)
}

/** The first cell of each row of the Markdown tables in `text`, with its other cells. */
function tableRows (text: string): Array<{ first: string, cells: string[] }> {
  return text.split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const cells = line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim())
      return { first: cells[0].replace(/^`|`$/g, ''), cells }
    })
}

/** The option keys the plugin accepts, from its own "not an option" message. */
async function pluginOptionKeys (): Promise<string[]> {
  const app = Fastify()
  await app.register(fastifyJwt, { secret: 'docs-test-secret' })
  app.register(glueMfa, { [`x${'q'.repeat(40)}`]: true } as any)
  try {
    await app.ready()
  } catch (err) {
    const listed = /the options: ([^)]*)\)/.exec((err as Error).message)
    if (listed === null) throw err
    return listed[1].split(', ').filter((key) => key !== 'logLevel' && key !== 'logSerializers')
  } finally {
    await app.close()
  }
  throw new Error('an unknown option was accepted')
}

test('the README option table, and docs/options.md, name every option the plugin takes and no other', async (t) => {
  const keys = (await pluginOptionKeys()).sort()
  t.ok(keys.includes('codeSecret') && keys.length > 10, `the plugin lists its options (${keys.length})`)
  const readmeTable = tableRows(section(read('README.md'), '## Options')).map((r) => r.first)
  t.same([...readmeTable].sort(), keys, 'README.md "Options"')
  const fullTable = tableRows(section(read('docs/options.md'), "## The plugin's options")).map((r) => r.first)
  t.same([...fullTable].sort(), keys, 'docs/options.md')
  t.same(readmeTable, fullTable, 'both tables in the same order')
})

test('the README error table is the Glue error catalogue: code, HTTP status and detail', async (t) => {
  const catalogue = Object.values(MfaErrors).map((MfaError) => {
    const error = new MfaError()
    return `${error.code.replace('FST_GLUE_MFA_', '')} ${error.statusCode} ${error.message}`
  }).sort()
  const documented = tableRows(section(read('README.md'), '## Errors'))
    .map(({ first, cells }) => `${first} ${cells[1]} ${cells[2].replace(/^`|`$/g, '')}`)
    .sort()
  t.ok(catalogue.length >= 15, `the catalogue has its errors (${catalogue.length})`)
  t.same(documented, catalogue)
})

/** Every property of an exported interface in lib/, with the doc comment right above it (or null). */
function documentedProperties (name: string): Array<{ key: string, optional: boolean, doc: string | null }> {
  const files = readdirSync(join(ROOT, 'lib'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))
  for (const file of files) {
    const source = readFileSync(join(ROOT, 'lib', file), 'utf8')
    const at = source.indexOf(`export interface ${name} {`)
    if (at < 0) continue
    const body = source.slice(source.indexOf('{', at) + 1, source.indexOf('\n}', at))
    const properties: Array<{ key: string, optional: boolean, doc: string | null }> = []
    // A property at the interface's own indentation, with the comment that ends right above it.
    for (const match of body.matchAll(/(?:\/\*\*((?:(?!\*\/)[\s\S])*)\*\/)?\n {2}([A-Za-z]+)(\??):/g)) {
      properties.push({ key: match[2], optional: match[3] === '?', doc: match[1] ?? null })
    }
    return properties
  }
  throw new Error(`no "export interface ${name}" in lib/`)
}

test('every option of the option interfaces has a doc comment, and an optional one its @default', async (t) => {
  const interfaces = ['GlueMfaOptions', 'EmailProviderOptions', 'TotpProviderOptions', 'PasskeyProviderOptions', 'SqliteRepositoryOptions', 'PostgresRepositoryOptions']
  for (const name of interfaces) {
    const properties = documentedProperties(name)
    t.ok(properties.length > 1, `${name} has its options (${properties.length})`)
    for (const { key, optional, doc } of properties) {
      t.ok(doc !== null && doc.trim() !== '', `${name}.${key} has a doc comment`)
      // Options that are alternatives (`filename` or `database`) have no default, and say so.
      if (optional) t.match(doc ?? '', /@default\b|no default/i, `${name}.${key} says its default (or that it has none)`)
    }
  }
  t.same(documentedProperties('GlueMfaOptions').map((p) => p.key).sort(), (await pluginOptionKeys()).sort(), 'GlueMfaOptions is the options the plugin checks')
})

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')
}

function anchorsOf (markdown: string): Set<string> {
  const anchors = new Set<string>()
  const withoutCode = markdown.replace(/^```[\s\S]*?^```/gm, '')
  for (const [, heading] of withoutCode.matchAll(/^#{1,6} (.*)$/gm)) {
    const base = slug(heading)
    let anchor = base
    for (let n = 1; anchors.has(anchor); n++) anchor = `${base}-${n}`
    anchors.add(anchor)
  }
  return anchors
}

test('every relative link of the Markdown files leads to a file, and to a heading that exists', async (t) => {
  let links = 0
  for (const file of MARKDOWN) {
    // Code blocks and code spans are not links.
    const text = read(file).replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '``')
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target)) continue
      links++
      const [path, anchor] = target.split('#')
      const to = path === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), path)
      const shown = `${file}: ${target}`
      if (!existsSync(to)) {
        t.fail(`${shown}: ${relative(ROOT, to)} does not exist`)
        continue
      }
      if (anchor !== undefined) {
        t.ok(to.endsWith('.md') && anchorsOf(readFileSync(to, 'utf8')).has(anchor), `${shown}: the heading exists`)
      }
    }
  }
  t.ok(links > 50, `links checked: ${links}`)
})

test('no file cites the planners\' contract by its section numbers: the docs and comments stand on their own', async (t) => {
  const needle = new RegExp(`spec ${'\u00a7'}`, 'i')
  const skip = new Set(['node_modules', 'dist', 'coverage', '.tap', '.git'])
  const offenders: string[] = []
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      if (skip.has(entry.name)) continue
      const path = dir === '' ? entry.name : `${dir}/${entry.name}`
      if (entry.isDirectory()) walk(path)
      else if (/\.(ts|mts|cts|js|mjs|cjs|md|json)$/.test(entry.name) && needle.test(read(path))) offenders.push(path)
    }
  }
  walk('')
  t.same(offenders, [])
})
