// The part of autocannon 9 that the bench (bench/run.ts, bench/measure.ts) and the hardening load
// (test/hardening/drive.ts) use. The package ships no types, and @types/autocannon describes
// autocannon 7, so the repository keeps this one declaration instead of adding that dependency.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  export interface Histogram {
    average: number
    mean: number
    stddev: number
    min: number
    max: number
    total: number
    p50: number
    p99: number
  }

  export interface Result {
    requests: Histogram & { sent: number }
    latency: Histogram
    throughput: Histogram
    /** seconds */
    duration: number
    errors: number
    timeouts: number
    mismatches: number
    non2xx: number
    statusCodeStats: Record<string, { count: number }>
  }

  export interface Options {
    url: string
    connections?: number
    duration?: number
    timeout?: number
    pipelining?: number
    method?: string
    headers?: Record<string, string>
    body?: string
    expectBody?: string
    /** A request sequence each connection loops over; each entry may rewrite its request. */
    requests?: RequestStep[]
  }

  export interface RequestStep {
    /** Returns the request to send (method, path, headers, body); `context` is per connection. */
    setupRequest?: (request: Record<string, unknown>, context: Record<string, unknown>) => Record<string, unknown>
    onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string | string[]>) => void
  }

  export interface Instance extends EventEmitter {
    stop: () => void
    on: ((event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void) => this) &
    ((event: string, listener: (...args: any[]) => void) => this)
  }

  function autocannon (options: Options, callback: (err: Error | null, result: Result) => void): Instance
  export default autocannon
}
