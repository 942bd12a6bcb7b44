// The part of autocannon 9 the bench uses (the package ships no types, and the bench adds no
// dependency for them).
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
  }

  export interface Instance extends EventEmitter {
    stop: () => void
    on: ((event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void) => this) &
    ((event: string, listener: (...args: any[]) => void) => this)
  }

  function autocannon (options: Options, callback: (err: Error | null, result: Result) => void): Instance
  export default autocannon
}
