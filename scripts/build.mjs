// Builds dist/cjs (require) and dist/esm (import) from lib/ with declarations for both, and no
// source maps (they would point into lib/, which is not shipped).
//
// The CommonJS entry is the plugin itself, the way the official @fastify/* plugins are:
// `require('fastify-glue-mfa')` is the plugin, with every export (and `default`) hung on it.
// tsc compiles lib/index.ts to dist/cjs/api.js; dist/cjs/index.js and its declarations
// (`declare namespace` + `export =`, so that the required plugin type-checks in
// `app.register(require('fastify-glue-mfa'), …)`) are written here from api's exports.
import { execFileSync } from 'node:child_process'
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import ts from 'typescript'

const tsc = (project) => execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', project], { stdio: 'inherit' })

rmSync('dist', { recursive: true, force: true })
tsc('tsconfig.build.json')
tsc('tsconfig.esm.json')
writeFileSync('dist/cjs/package.json', JSON.stringify({ type: 'commonjs' }) + '\n')
writeFileSync('dist/esm/package.json', JSON.stringify({ type: 'module' }) + '\n')

renameSync('dist/cjs/index.js', 'dist/cjs/api.js')
writeFileSync('dist/cjs/index.js', `'use strict'
// The plugin itself, every export of ./api.js (default included) hung on it.
const api = require('./api.js')
module.exports = Object.assign(api.glueMfa, api)
`)

// A namespace can alias (`export import`) only what was not exported with `export type`: in a
// declaration file the distinction carries nothing, so api.d.ts exports everything plainly.
const declarations = ts.createSourceFile('api.d.ts', readFileSync('dist/cjs/index.d.ts', 'utf8'), ts.ScriptTarget.Latest, true)
const names = []
const plain = ts.transform(declarations, [(context) => (file) => ts.visitEachChild(file, (node) => {
  if (ts.isImportDeclaration(node) || ts.isExportAssignment(node)) return node
  if (!ts.isExportDeclaration(node)) throw new Error(`lib/index.ts should only re-export, found: ${node.getText()}`)
  const { exportClause } = node
  if (exportClause === undefined || !ts.isNamedExports(exportClause)) throw new Error(`lib/index.ts should name what it re-exports, found: ${node.getText()}`)
  const elements = exportClause.elements.map((element) => {
    names.push(element.name.text)
    return ts.factory.updateExportSpecifier(element, false, element.propertyName, element.name)
  })
  return ts.factory.updateExportDeclaration(node, node.modifiers, false, ts.factory.updateNamedExports(exportClause, elements), node.moduleSpecifier, node.attributes)
}, context)]).transformed[0]
writeFileSync('dist/cjs/api.d.ts', ts.createPrinter().printFile(plain))
rmSync('dist/cjs/index.d.ts')
if (!names.includes('glueMfa')) throw new Error('lib/index.ts should export glueMfa')
writeFileSync('dist/cjs/index.d.ts', `import * as api from './api.js';
/** The Glue MFA API and step-up guard as a Fastify plugin. */
declare function glueMfa(...params: Parameters<typeof api.glueMfa>): ReturnType<typeof api.glueMfa>;
declare namespace glueMfa {
${names.map((name) => `    export import ${name} = api.${name};`).join('\n')}
    export { glueMfa as default };
}
export = glueMfa;
`)
