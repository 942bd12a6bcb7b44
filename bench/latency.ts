/**
 * A latency histogram with microsecond buckets below 100 ms and millisecond buckets up to
 * 10 s (anything slower lands in the last one). autocannon's own histogram has whole
 * milliseconds, too coarse for a route answering in well under one.
 */
export class Latencies {
  static readonly FINE_LIMIT_MS = 100
  static readonly COARSE_LIMIT_MS = 10_000
  readonly #fine = new Uint32Array(Latencies.FINE_LIMIT_MS * 1000)
  readonly #coarse = new Uint32Array(Latencies.COARSE_LIMIT_MS - Latencies.FINE_LIMIT_MS)
  count = 0

  record (ms: number): void {
    this.count++
    if (ms < Latencies.FINE_LIMIT_MS) {
      this.#fine[Math.max(0, Math.floor(ms * 1000))]++
    } else {
      this.#coarse[Math.min(this.#coarse.length - 1, Math.floor(ms) - Latencies.FINE_LIMIT_MS)]++
    }
  }

  /** The latency (ms, upper edge of its bucket) below which `fraction` of the samples lie. */
  percentile (fraction: number): number {
    if (this.count === 0) return Number.NaN
    const rank = Math.max(1, Math.ceil(fraction * this.count))
    let seen = 0
    for (let i = 0; i < this.#fine.length; i++) {
      seen += this.#fine[i]
      if (seen >= rank) return (i + 1) / 1000
    }
    for (let i = 0; i < this.#coarse.length; i++) {
      seen += this.#coarse[i]
      if (seen >= rank) return Latencies.FINE_LIMIT_MS + i + 1
    }
    return Latencies.COARSE_LIMIT_MS
  }
}
