// Which sources each test file's coverage counts for (tap's coverage-map).
// Tests that only run child processes on dist/ or through tsx (the built-package and the
// quick-start tests) count for nothing: their children see lib/ only through source maps of
// other builds, and that partial view must not be merged into the suite's coverage.
export default function coverageMap (testFile) {
  if (/(^|\/)(package|examples-quick-start)\.test\.ts$/.test(testFile)) return null
  return 'lib/**/*.ts'
}
