// Where the time under some functions goes, in a V8 .cpuprofile written by
// `BENCH_CPU_PROF=dir npm run bench`:
//   npx tsx bench/profile-under.ts /tmp/prof/guard-pass-fixed 'lib/' [count] [requests]
// Samples whose stack holds a frame matching the pattern (a regular expression tried on
// "<function> <file>:<line>") are counted once, then broken down by (1) the outermost matching
// frame, (2) the function they were spent in (self time). With `requests` (how many requests the
// server answered while profiled, warm-up included), times are also shown in µs per request.
// An async function resumed after an await runs from the microtask queue with its own frame on
// top, so its continuation is still under it; the queue's own work (runMicrotasks) is not.
import { relative } from 'node:path'
import { loadProfile, type ProfileNode } from './cpuprofile.js'

const [target, pattern, countArg, requestsArg] = process.argv.slice(2)
if (target === undefined || pattern === undefined) {
  console.error('usage: tsx bench/profile-under.ts <file.cpuprofile | directory> <pattern> [count] [requests]')
  process.exit(2)
}
const { file, profile } = loadProfile(target)
const count = Number(countArg ?? 30)
const requests = requestsArg === undefined ? null : Number(requestsArg)
const match = new RegExp(pattern)

function label (node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame
  const where = url === '' ? '' : ` ${relative(process.cwd(), url.replace(/^file:\/\//, ''))}:${lineNumber + 1}`
  return `${functionName === '' ? '(anonymous)' : functionName}${where}`
}

const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const parent = new Map<number, number>()
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

/** The outermost frame matching the pattern on the stack of `id`, or null. */
const outermost = new Map<number, string | null>()
function outermostMatch (id: number): string | null {
  const known = outermost.get(id)
  if (known !== undefined) return known
  const up = parent.get(id)
  const above = up === undefined ? null : outermostMatch(up)
  const node = byId.get(id) as ProfileNode
  const result = above ?? (match.test(label(node)) ? label(node) : null)
  outermost.set(id, result)
  return result
}

let total = 0
let idle = 0
let under = 0
const byRoot = new Map<string, number>()
const bySelf = new Map<string, number>()
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i])
  const delta = profile.timeDeltas[i] ?? 0
  if (node === undefined) continue
  total += delta
  if (node.callFrame.functionName === '(idle)') idle += delta
  const root = outermostMatch(node.id)
  if (root === null) continue
  under += delta
  byRoot.set(root, (byRoot.get(root) ?? 0) + delta)
  const self = label(node)
  bySelf.set(self, (bySelf.get(self) ?? 0) + delta)
}

const ms = (micros: number): string => (micros / 1000).toFixed(0).padStart(6) + ' ms'
const perRequest = (micros: number): string => requests === null ? '' : `  ${(micros / requests).toFixed(2).padStart(6)} µs/req`
const share = (micros: number): string => `${(100 * micros / under).toFixed(1).padStart(5)}%`
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled, ${(idle / 1000).toFixed(0)} ms idle`)
console.log(`under /${pattern}/: ${ms(under)} (${(100 * under / (total - idle)).toFixed(1)}% of busy)${perRequest(under)}`)
console.log('\nby outermost matching frame:')
for (const [key, time] of [...byRoot].sort((a, b) => b[1] - a[1]).slice(0, count)) console.log(`${share(time)}  ${ms(time)}${perRequest(time)}  ${key}`)
console.log('\nby self time:')
for (const [key, time] of [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, count)) console.log(`${share(time)}  ${ms(time)}${perRequest(time)}  ${key}`)
