// Joins the incremental files of several narrow Stryker runs (each `--mutate` a part of the
// code, on the same tree) into one, as a single run over all of them would have written it:
//
//   npx stryker run --mutate lib/service.ts --incremental --force --incrementalFile /tmp/a.json
//   npx stryker run --mutate lib/guard.ts --incremental --force --incrementalFile /tmp/b.json
//   node scripts/merge-mutation-reports.mjs stryker-incremental.json /tmp/a.json /tmp/b.json
//
// A full run on two cores takes hours; parts can run when the machine is free. Each report
// names the tests that cover or killed a mutant by an id of its own run, so ids are renumbered
// by test file and name. The parts must have run on the same test files: a report whose test
// sources differ from the others is refused (its results would be reused against other tests).
import { readFileSync, writeFileSync } from 'node:fs'

const [out, ...inputs] = process.argv.slice(2)
if (out === undefined || inputs.length === 0) {
  console.error('usage: node scripts/merge-mutation-reports.mjs <out.json> <report.json>...')
  process.exit(2)
}

const reports = inputs.map((file) => ({ file, report: JSON.parse(readFileSync(file, 'utf8')) }))
const testKey = (fileName, test) => `${fileName}\0${test.name}\0${test.location?.start?.line ?? 0}:${test.location?.start?.column ?? 0}`

const testFiles = {}
const newIdOf = new Map()
const files = {}
const firstSeen = new Map()
for (const { file, report } of reports) {
  const oldToNew = new Map()
  for (const [fileName, testFile] of Object.entries(report.testFiles ?? {})) {
    const known = testFiles[fileName]
    if (known === undefined) testFiles[fileName] = { ...testFile, tests: [] }
    else if (known.source !== testFile.source) throw new Error(`${file}: ${fileName} differs from ${firstSeen.get(fileName)}; run every part on the same tree`)
    firstSeen.set(fileName, firstSeen.get(fileName) ?? file)
    for (const test of testFile.tests) {
      const key = testKey(fileName, test)
      let id = newIdOf.get(key)
      if (id === undefined) {
        id = String(newIdOf.size)
        newIdOf.set(key, id)
        testFiles[fileName].tests.push({ ...test, id })
      }
      oldToNew.set(test.id, id)
    }
  }
  const renumber = (ids) => ids?.map((id) => {
    const renumbered = oldToNew.get(id)
    if (renumbered === undefined) throw new Error(`${file}: test id ${id} is not in its testFiles`)
    return renumbered
  })
  for (const [fileName, result] of Object.entries(report.files)) {
    if (files[fileName] !== undefined) throw new Error(`${file}: ${fileName} is in two reports`)
    files[fileName] = {
      ...result,
      mutants: result.mutants.map((m) => ({ ...m, coveredBy: renumber(m.coveredBy), killedBy: renumber(m.killedBy) }))
    }
  }
}

// The first report's header; its `config` and `projectRoot` describe one narrow run on one
// machine, so they are left out (Stryker reads only `files` and `testFiles` back).
const { schemaVersion, thresholds, framework } = reports[0].report
const sorted = (object) => Object.fromEntries(Object.entries(object).sort(([a], [b]) => a.localeCompare(b)))
writeFileSync(out, JSON.stringify({ schemaVersion, thresholds, files: sorted(files), testFiles: sorted(testFiles), framework }, null, 2) + '\n')
const mutants = Object.values(files).flatMap((f) => f.mutants)
console.log(`${out}: ${Object.keys(files).length} files, ${mutants.length} mutants, ${newIdOf.size} tests`)
