// Reading a V8 .cpuprofile written by `BENCH_CPU_PROF=dir npm run bench`, for profile-top.ts
// and profile-under.ts.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

export interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
  children?: number[]
}

export interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/**
 * The profile at `target`, or, given a directory, the largest one in it (the server's main
 * thread; the other is tsx's module loader thread). Exits with a message when there is none.
 */
export function loadProfile (target: string): { file: string, profile: Profile } {
  const file = statSync(target).isDirectory()
    ? readdirSync(target)
      .filter((name) => name.endsWith('.cpuprofile'))
      .map((name) => join(target, name))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0]
    : target
  if (file === undefined) {
    console.error(`no .cpuprofile in ${target}`)
    process.exit(2)
  }
  return { file, profile: JSON.parse(readFileSync(file, 'utf8')) as Profile }
}
