// The bench's settings, from the environment (documented in run.ts).
import { resolve } from 'node:path'

function fromEnv (name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < min || value > max) throw new Error(`${name} must be a number from ${min} to ${max}`)
  return value
}

export const settings = {
  duration: fromEnv('BENCH_DURATION', 5, 0.5, 600),
  warmup: fromEnv('BENCH_WARMUP', 1.5, 0, 60),
  connections: Math.round(fromEnv('BENCH_CONNECTIONS', 10, 1, 1000)),
  rounds: Math.round(fromEnv('BENCH_ROUNDS', 1, 1, 20)),
  smallRows: 1000,
  scaleRows: Math.round(fromEnv('BENCH_SCALE_ROWS', 1_000_000, 1000, 10_000_000)),
  pgUrl: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  cases: process.env.BENCH_CASES?.split(',').map((s) => s.trim()).filter((s) => s !== '') ?? [],
  sqliteAnalyze: process.env.BENCH_SQLITE_ANALYZE === '1',
  cpuProfDir: process.env.BENCH_CPU_PROF === undefined || process.env.BENCH_CPU_PROF === '' ? null : resolve(process.env.BENCH_CPU_PROF)
}
