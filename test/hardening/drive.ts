// Drives a workload over HTTP: one autocannon per server instance, each connection pulling the
// workload's next request. autocannon's types: bench/autocannon.d.ts.
import autocannon, { type Instance, type Result } from 'autocannon'
import type { Op } from './model.js'
import { toRequest } from './requests.js'
import type { Workload } from './workload.js'

export interface DriveOptions {
  /** autocannon connections per target. */
  connections: number
  /** Hard bound of the run (s); it normally ends as soon as the workload is finished. */
  maxSeconds: number
  /** autocannon's per-request timeout (s): a request still unanswered then is given up. */
  timeoutSeconds: number
}

export interface DriveResult {
  results: Result[]
  seconds: number
  /** Whether the workload finished before maxSeconds. */
  finished: boolean
}

/** One autocannon per target URL, all pulling from `workload`; `stop` ends them early (at their next 1 s tick). */
export function drive (workload: Workload, urls: string[], options: DriveOptions): { done: Promise<DriveResult>, stop: () => void } {
  const started = Date.now()
  const instances: Instance[] = []
  const stop = (): void => { for (const instance of instances) instance.stop() }
  const done = Promise.all(urls.map((url, target) => new Promise<Result>((resolve, reject) => {
    instances.push(autocannon({
      url,
      connections: options.connections,
      duration: options.maxSeconds,
      timeout: options.timeoutSeconds,
      requests: [{
        setupRequest: (request, context) => {
          const op = workload.take(target)
          context.op = op
          const { method, path, headers, body } = toRequest(op, workload.token(op.principal))
          return { ...request, method, path, headers, body }
        },
        onResponse: (status, body, context, headers) => {
          const contentType = headers['content-type'] ?? headers['Content-Type']
          workload.complete(context.op as Op, status, body, Array.isArray(contentType) ? contentType[0] : contentType)
        }
      }]
    }, (err, result) => { if (err !== null) reject(err); else resolve(result) }))
  }))).then((results) => ({ results, seconds: (Date.now() - started) / 1000, finished: workload.finished }))
  workload.onFinished = stop
  if (workload.finished) stop()
  return { done, stop }
}

/** Counts of `values`, for messages. */
export function tally (values: Iterable<string>): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1
  return counts
}
