// The report: the comparisons of the cases' medians, and the table.
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import type { Case } from './cases.js'
import type { Sample } from './measure.js'

export interface Row {
  name: string
  what: string
  rps: number
  roundsRps: number[]
  /** Server CPU (user + system) per request, µs: steadier than req/s on a busy machine. */
  cpuPerRequest: number
  p50: number
  p99: number
  requests: number
  statusCodes: Record<string, number>
  compareTo: string | null
  ratio: number | null
  target: number | null
  met: boolean | null
  /** Server CPU µs per request over the comparison's: the median of the per-round differences. */
  addedCpu: number | null
  maxAddedCpu: number | null
  cpuMet: boolean | null
  /** The same two figures against each of alsoCompareTo that ran. */
  also: Array<{ compareTo: string, ratio: number, addedCpu: number }>
  roundsCpu: number[]
  peakRssBytes: number | null
  problems: string[]
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function machine () {
  let cpu = 'unknown'
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown'
  } catch {}
  return { nproc: availableParallelism(), cpu, node: process.version, platform: `${process.platform} ${process.arch}` }
}

function signed (value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(1)}`
}

/** Median per-round ratio of req/s and difference of CPU µs/req of `row` against `other`; null unless both have every round. */
function compare (row: Row, other: Row | undefined): { ratio: number, addedCpu: number } | null {
  if (other === undefined || other.roundsRps.length !== row.roundsRps.length || other.roundsCpu.length !== row.roundsCpu.length) return null
  // Medians of the per-round figures: each round measures both cases close in time.
  const ratio = median(row.roundsRps.map((rps, i) => rps / other.roundsRps[i]))
  const addedCpu = median(row.roundsCpu.map((cpu, i) => cpu - other.roundsCpu[i]))
  if (!Number.isFinite(ratio)) return null
  return { ratio, addedCpu }
}

export function formatTable (rows: Row[]): string {
  const header = ['case', 'req/s', 'p50 ms', 'p99 ms', 'vs', 'ratio', 'target', 'met', 'CPU µs/req', '+CPU µs', 'peak RSS MB']
  const fixed = (value: number, digits: number): string => Number.isFinite(value) ? value.toFixed(digits) : '-'
  const lines = rows.map((r) => [
    r.name,
    Number.isFinite(r.rps) ? Math.round(r.rps).toLocaleString('en') : '-',
    fixed(r.p50, 3),
    fixed(r.p99, 3),
    r.compareTo ?? '',
    r.ratio === null ? '' : r.ratio.toFixed(3),
    r.target === null ? '' : `>= ${r.target.toFixed(2)}`,
    r.problems.length > 0 ? 'FAILED' : r.met === null ? '' : r.met ? 'yes' : 'NO',
    fixed(r.cpuPerRequest, 1),
    r.addedCpu === null ? '' : signed(r.addedCpu),
    r.peakRssBytes === null ? '' : (r.peakRssBytes / 1024 / 1024).toFixed(1)
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
  const row = (cells: string[]): string => `| ${cells.map((cell, i) => (i === 0 || i === 4 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ')} |`
  return [row(header), `|${widths.map((w, i) => (i === 0 || i === 4 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`, ...lines.map(row)].join('\n')
}

/** One row per case: its medians over the rounds, and its comparisons with the cases it names. */
export function rowsOf (cases: Case[], samples: Map<string, Sample>): Row[] {
  const rows: Row[] = cases.map((c) => {
    const sample = samples.get(c.name) as Sample
    return {
      name: c.name,
      what: c.what,
      rps: median(sample.rps),
      roundsRps: sample.rps.map((r) => Math.round(r * 10) / 10),
      cpuPerRequest: median(sample.cpu),
      p50: sample.latencies.percentile(0.50),
      p99: sample.latencies.percentile(0.99),
      requests: sample.requests,
      statusCodes: sample.statusCodes,
      compareTo: c.compareTo ?? null,
      ratio: null,
      target: c.target ?? null,
      met: null,
      addedCpu: null,
      maxAddedCpu: c.maxAddedCpu ?? null,
      cpuMet: null,
      also: [],
      roundsCpu: sample.cpu,
      peakRssBytes: sample.peakRssBytes,
      problems: sample.problems
    }
  })
  for (const row of rows) {
    for (const name of cases.find((c) => c.name === row.name)?.alsoCompareTo ?? []) {
      const also = compare(row, rows.find((r) => r.name === name))
      if (also !== null) row.also.push({ compareTo: name, ...also })
    }
    const result = compare(row, rows.find((r) => r.name === row.compareTo))
    if (result === null) continue
    row.ratio = result.ratio
    if (row.target !== null) row.met = result.ratio >= row.target
    if (Number.isFinite(result.addedCpu)) {
      row.addedCpu = result.addedCpu
      if (row.maxAddedCpu !== null) row.cpuMet = result.addedCpu <= row.maxAddedCpu
    }
  }
  return rows
}

/** The table, then a line for each further comparison, CPU budget and target. */
export function printReport (rows: Row[]): void {
  console.log('')
  console.log(formatTable(rows))
  console.log('  (+CPU µs: server CPU per request over the "vs" case, median of the per-round differences)')
  console.log('')
  for (const row of rows) {
    for (const also of row.also) {
      console.log(`  ${row.name} vs ${also.compareTo}: ratio ${also.ratio.toFixed(3)}, ${signed(also.addedCpu)} µs CPU/request`)
    }
  }
  for (const row of rows.filter((r) => r.maxAddedCpu !== null)) {
    const added = row.addedCpu === null ? 'not measured' : `${row.addedCpu.toFixed(1)} µs`
    console.log(`  ${row.name} adds ${added} CPU/request over ${row.compareTo} (${row.cpuPerRequest.toFixed(1)} against ${rows.find((r) => r.name === row.compareTo)?.cpuPerRequest.toFixed(1) ?? '-'}); budget <= ${row.maxAddedCpu?.toFixed(1)} µs: ${row.cpuMet === true ? 'met' : row.cpuMet === false ? 'MISSED' : 'not measured'}`)
  }
  for (const row of rows.filter((r) => r.target !== null)) {
    console.log(`  target ${row.name} >= ${row.target?.toFixed(2)} x ${row.compareTo}: ${row.met === true ? 'met' : row.met === false ? 'MISSED' : 'not measured'} (${row.ratio?.toFixed(3) ?? '-'})`)
  }
  for (const row of rows) if (row.met === false || row.cpuMet === false) console.log(`  note: ${row.name} missed its target; that alone does not fail the run`)
}
