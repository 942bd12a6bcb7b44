// `npm run bench`: every bench case against real HTTP listeners on 127.0.0.1, each on a server
// child process of its own (a fresh one per round), all cases in one run so their ratios hold on
// a noisy machine.
//
// Environment (all optional):
//   BENCH_DURATION     seconds measured per case and round [5]
//   BENCH_WARMUP       seconds of warm-up load before each measurement, not counted [1.5]
//   BENCH_CONNECTIONS  concurrent connections autocannon keeps open [10]
//   BENCH_ROUNDS       rounds over all cases, alternating direction, fresh servers each round;
//                      medians are reported, ratios are medians of the per-round ratios [1]
//   BENCH_SCALE_ROWS   principals of the large scale stores [1000000]
//   BENCH_PG_URL       PostgreSQL [postgres://postgres@127.0.0.1:5432/test]; unreachable → PG cases skipped
//   BENCH_CASES        comma-separated case names to run (their comparison cases are added), e.g.
//                      BENCH_CASES=guard-pass-fixed for the step-up pass path against unprotected-fixed
//   BENCH_SQLITE_ANALYZE=1  run ANALYZE on the seeded SQLite files (shows the STAT4 re-prepare cost)
//   BENCH_CPU_PROF     a directory: server children run with --cpu-prof and write to <dir>/<case>/ (the
//                      largest file there is the main thread; see profile-top.ts)
//
// Exit code 1 when any case had errors, timeouts, unexpected statuses or bodies, or a server
// failed. A missed target is printed but does not change the exit code.
//
// This file seeds the stores, runs the rounds and cleans up; settings.ts reads the environment,
// cases.ts lists the cases, measure.ts runs one case's round on a server child (server.ts), and
// report.ts turns the samples into the table.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { allCases, pgPrefixes, workDir } from './cases.js'
import { alive, children, measureCase, newSample, stopServer, type Sample } from './measure.js'
import { machine, printReport, rowsOf } from './report.js'
import { dropPostgresTables, postgresUnreachable, seedPostgres, seedSqlite } from './seed.js'
import { settings } from './settings.js'

const RESULTS_FILE = join(dirname(fileURLToPath(import.meta.url)), 'results.json')

let cleaning: Promise<void> | null = null

/** Stops every child, drops this run's PostgreSQL tables and removes the SQLite files; once. */
function cleanup (pgReachable: boolean): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...children].map(stopServer))
    if (pgReachable) {
      await dropPostgresTables(settings.pgUrl, pgPrefixes).catch((err: Error) => {
        console.error(`bench: could not drop the tables ${pgPrefixes.join(', ')}: ${err.message}`)
      })
    }
    rmSync(workDir, { recursive: true, force: true })
  })()
  return cleaning
}

// Last resort: no child outlives the runner and no SQLite file stays behind, whatever happens.
process.on('exit', () => {
  for (const child of children) if (alive(child)) child.kill('SIGKILL')
  rmSync(workDir, { recursive: true, force: true })
})

async function main (): Promise<number> {
  const info = machine()
  const loadBefore = loadavg()
  console.log(`fastify-glue-mfa bench: ${info.nproc} CPUs (${info.cpu}), Node ${info.node}, load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`)
  console.log(`  ${settings.duration} s per case after ${settings.warmup} s warm-up, ${settings.connections} connections, ${settings.rounds} round(s), scale ${settings.smallRows.toLocaleString('en')} vs ${settings.scaleRows.toLocaleString('en')} principals`)
  if (loadBefore[0] > info.nproc / 2) console.log(`  note: the machine is busy (load ${loadBefore[0].toFixed(2)}); absolute numbers are noisy, compare the ratios`)

  let cases = allCases()
  const unreachable = await postgresUnreachable(settings.pgUrl)
  const pgReachable = unreachable === null
  if (!pgReachable) {
    const skipped = cases.filter((c) => c.postgres === true).map((c) => c.name)
    console.log(`  PostgreSQL at ${settings.pgUrl} is not reachable (${unreachable}): skipping ${skipped.join(', ')}`)
    cases = cases.filter((c) => c.postgres !== true)
  }
  if (settings.cases.length > 0) {
    const known = new Set(allCases().map((c) => c.name))
    const unknown = settings.cases.filter((name) => !known.has(name))
    if (unknown.length > 0) throw new Error(`BENCH_CASES: unknown case(s) ${unknown.join(', ')}; known: ${[...known].join(', ')}`)
    const wanted = new Set(settings.cases)
    // Each case's comparison, and that one's (unprotected → baseline): at most one pass per case.
    for (let pass = 0; pass < cases.length; pass++) {
      const before = wanted.size
      for (const c of cases) if (wanted.has(c.name) && c.compareTo !== undefined) wanted.add(c.compareTo)
      if (wanted.size === before) break
    }
    cases = cases.filter((c) => wanted.has(c.name))
  }
  if (settings.cpuProfDir !== null) {
    mkdirSync(settings.cpuProfDir, { recursive: true })
    console.log(`  CPU profiles of the servers go to ${settings.cpuProfDir}`)
  }

  const failures: string[] = []
  const seeding: Record<string, number> = {}
  try {
    // Stores first, seeded here (not in the servers, whose peak RSS is that of serving).
    for (const c of cases) {
      if (typeof c.server === 'function' || c.server.app !== 'list' || c.server.store.kind === 'memory') continue
      const store = c.server.store
      const rows = c.rows ?? 0
      const ms = store.kind === 'sqlite'
        ? await seedSqlite(store.filename, store.tablePrefix, rows, settings.sqliteAnalyze)
        : await seedPostgres(store.connectionString, store.tablePrefix, rows)
      seeding[c.name] = Math.round(ms)
      const analyzed = store.kind === 'sqlite' && settings.sqliteAnalyze ? ', then ANALYZE' : ''
      console.log(`  seeded ${c.name}: ${rows.toLocaleString('en')} filler principals in ${(ms / 1000).toFixed(1)} s${analyzed}`)
    }
    console.log(`  one fresh server process per case and round; ${cases.length} cases`)

    const samples = new Map<string, Sample>()
    for (const c of cases) samples.set(c.name, newSample())
    for (let round = 1; round <= settings.rounds; round++) {
      // Alternating direction (A B … B A) evens out drift between compared cases.
      const order = round % 2 === 1 ? cases : [...cases].reverse()
      for (const c of order) await measureCase(c, round, samples.get(c.name) as Sample)
    }

    const rows = rowsOf(cases, samples)
    printReport(rows)
    for (const row of rows) for (const problem of row.problems) failures.push(`${row.name}: ${problem}`)
    if (!pgReachable) console.log('  PostgreSQL cases were skipped (not reachable)')

    writeFileSync(RESULTS_FILE, JSON.stringify({
      date: new Date().toISOString(),
      machine: { ...info, loadBefore, loadAfter: loadavg() },
      command: [...Object.entries(process.env).filter(([name]) => name.startsWith('BENCH_')).map(([name, value]) => `${name}=${value ?? ''}`), 'npm run bench'].join(' '),
      settings: { ...settings, pgUrl: pgReachable ? settings.pgUrl : null },
      seedingMs: seeding,
      ok: failures.length === 0,
      failures,
      cases: rows
    }, null, 2) + '\n')
    console.log(`  results written to ${RESULTS_FILE}`)
  } catch (err) {
    failures.push(`run aborted: ${(err as Error).stack ?? (err as Error).message}`)
  } finally {
    await cleanup(pgReachable)
  }

  if (failures.length > 0) {
    console.error('')
    console.error('BENCH FAILED: numbers from a broken run mean nothing')
    for (const failure of failures) console.error(`  - ${failure}`)
    return 1
  }
  return 0
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`bench: ${signal}, stopping the servers`)
    cleanup(true).finally(() => process.exit(130))
  })
}
// A bug in the runner itself still stops the servers and drops this run's tables.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.once(event, (err: unknown) => {
    console.error(`BENCH FAILED: ${event}: ${(err as Error)?.stack ?? String(err)}`)
    cleanup(true).finally(() => process.exit(1))
  })
}

main().then((code) => { process.exitCode = code }, (err: Error) => {
  console.error(`BENCH FAILED: ${err.stack ?? err.message}`)
  cleanup(true).finally(() => process.exit(1))
})
