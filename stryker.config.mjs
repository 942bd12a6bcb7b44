// Mutation testing (StrykerJS 9): `npm run test:mutation` tests every mutant and writes
// `stryker-incremental.json`; `npm run test:mutation:incremental` retests only the mutants whose
// code changed, or whose covering test files changed, since that file.
//
// The tap runner runs each test file as one test, in a fresh `node --import tsx` process, in a
// sandbox copy of the project; per-test coverage then runs, for each mutant, only the test files
// that reach it, in order, stopping at the first that fails. A surviving mutant therefore costs
// every test file that covers it, and each incremental run starts with one run of all test files.

import { readdirSync } from 'node:fs'

// The test files run: all but those that start a database (the SQL stores are not mutated here),
// those that run `dist/` or tsx in child processes, which in-process coverage cannot see
// (test/package, test/examples-quick-start), and the browser test (a Chromium per mutant it
// covers; the example server's flows are in test/examples-server too).
const excluded = new Set([
  'test/package.test.ts', 'test/examples-quick-start.test.ts', 'test/browser.test.ts',
  'test/persistence-postgres.test.ts', 'test/persistence-sqlite.test.ts', 'test/passkey-stores.test.ts'
])
// In this order. A mutant runs the test files that cover it one after another and stops at the
// first that fails, so each module's own unit tests come first (quick, and the likeliest to fail),
// the slowest files last; a new file lands in the middle, by name. Listed as literal paths
// because a glob gives its matches in directory-walk order.
const first = [
  'test/providers/totp.test.ts', 'test/providers/factors.test.ts', 'test/providers/email.test.ts', 'test/principal.test.ts',
  'test/known-answers.test.ts', 'test/codes.test.ts', 'test/guard.test.ts',
  'test/repositories/memory.test.ts', 'test/recovery.test.ts', 'test/state-machine.test.ts', 'test/service.test.ts',
  'test/races.test.ts', 'test/totp-lifecycle.test.ts', 'test/passkey.test.ts'
]
const last = ['test/openapi.test.ts', 'test/examples-server.test.ts', 'test/guessing.test.ts', 'test/lockout.test.ts']
const found = [
  ...readdirSync('test').filter((f) => f.endsWith('.test.ts')).map((f) => `test/${f}`),
  ...readdirSync('test/providers').filter((f) => f.endsWith('.test.ts')).map((f) => `test/providers/${f}`),
  'test/repositories/memory.test.ts'
].filter((f) => !excluded.has(f))
const testFiles = [
  ...first.filter((f) => found.includes(f)),
  ...found.filter((f) => !first.includes(f) && !last.includes(f)).sort(),
  ...last.filter((f) => found.includes(f))
]

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  $schema: './node_modules/@stryker-mutator/core/schema/stryker-schema.json',
  packageManager: 'npm',
  testRunner: 'tap',
  tap: {
    testFiles,
    // tsx as the suite runs TypeScript; @tapjs/mock's loader, which `tap` itself adds, for t.mockImport.
    nodeArgs: ['--import', 'tsx', '--import', '@tapjs/mock/import'],
    forceBail: true
  },
  coverageAnalysis: 'perTest',
  mutate: [
    'lib/service.ts',
    'lib/guard.ts',
    'lib/codes.ts',
    'lib/principal.ts',
    'lib/providers/**/*.ts',
    'lib/repositories/memory.ts',
    // Interfaces only: nothing to mutate.
    '!lib/providers/types.ts'
  ],
  // The sandbox copy leaves out what tests never read.
  ignorePatterns: ['dist', 'coverage', '.tap', 'reports', 'bench', 'data', '*.db', '*.db-wal', '*.db-shm'],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // The last results, committed: CI starts from a fresh checkout, and an incremental run without
  // them would test every mutant (over an hour). Results are reused only for code and test files that did
  // not change; a change elsewhere (test/helpers.ts, an unmutated lib/ file) does not invalidate
  // them, so run the full `npm run test:mutation` before a release. Narrow runs of parts on the
  // same tree can be joined instead: scripts/merge-mutation-reports.mjs.
  incrementalFile: 'stryker-incremental.json',
  // Each mutant's covering test files run in a fresh Node process: a few seconds each.
  timeoutMS: 20_000,
  // The goal is 90 % on each file; `break` fails the run below 85 % over all of them.
  thresholds: { high: 90, low: 85, break: 85 },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always'
}
