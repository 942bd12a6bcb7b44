// Top self-time functions of a V8 .cpuprofile, as written by `BENCH_CPU_PROF=dir npm run bench`:
//   npx tsx bench/profile-top.ts /tmp/prof/guard-pass [count]
// Given a directory, it reads the largest profile in it (the server's main thread; the other
// one is tsx's module loader thread).
import { relative } from 'node:path'
import { loadProfile } from './cpuprofile.js'

const [target, countArg] = process.argv.slice(2)
if (target === undefined) {
  console.error('usage: tsx bench/profile-top.ts <file.cpuprofile | directory> [count]')
  process.exit(2)
}
const { file, profile } = loadProfile(target)
const count = Number(countArg ?? 30)

const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const selfTime = new Map<string, number>()
let total = 0
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i])
  const delta = profile.timeDeltas[i] ?? 0
  if (node === undefined) continue
  total += delta
  const { functionName, url, lineNumber } = node.callFrame
  const where = url === '' ? '' : ` ${relative(process.cwd(), url.replace(/^file:\/\//, ''))}:${lineNumber + 1}`
  const key = `${functionName === '' ? '(anonymous)' : functionName}${where}`
  selfTime.set(key, (selfTime.get(key) ?? 0) + delta)
}

const idle = selfTime.get('(idle)') ?? 0
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled, ${(idle / 1000).toFixed(0)} ms idle`)
const busy = total - idle
for (const [key, time] of [...selfTime].filter(([key]) => key !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, count)) {
  console.log(`${(100 * time / busy).toFixed(1).padStart(5)}%  ${(time / 1000).toFixed(0).padStart(6)} ms  ${key}`)
}
