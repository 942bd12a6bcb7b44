// Mutation testing (StrykerJS 9): `npm run test:mutation` for a full run, and
// `npm run test:mutation:incremental` to retest only the mutants whose code or covering test
// files changed since the results in `stryker-incremental.json`.
//
// The tap runner runs each test file as one test with `node --import tsx`, in a sandbox copy of
// the project; per-test coverage then runs, for each mutant, only the test files that reach it.

/** Test files that are left out: the SQL stores are not mutated here and their tests start a
 * database (PostgreSQL) or a child server; the package and quick-start tests run `dist/` or tsx
 * in child processes, which Stryker's in-process coverage cannot see. */
const notForMutation = [
  'test/package.test.ts',
  'test/examples-quick-start.test.ts',
  'test/persistence-postgres.test.ts',
  'test/persistence-sqlite.test.ts',
  'test/repositories/embedded-pg.test.ts',
  'test/repositories/postgres.test.ts',
  'test/repositories/sqlite.test.ts'
]

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  $schema: './node_modules/@stryker-mutator/core/schema/stryker-schema.json',
  packageManager: 'npm',
  testRunner: 'tap',
  tap: {
    testFiles: ['test/**/*.test.ts', ...notForMutation.map((file) => `!${file}`)],
    nodeArgs: ['--import', 'tsx'],
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
  // The last results, committed, so that an incremental run on a fresh checkout (CI) retests
  // only what changed. `--incremental` reads and rewrites it; a full run rewrites it too.
  incrementalFile: 'stryker-incremental.json',
  // Each mutant's covering test files run in a fresh Node process: a few seconds each.
  timeoutMS: 20_000,
  thresholds: { high: 90, low: 85, break: 85 },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always'
}
