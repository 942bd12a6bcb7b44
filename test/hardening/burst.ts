// The burst driver of the attack tests: N HTTP/1.1 requests, each on a raw TCP socket of its
// own (node:net), written in full except their final byte; once every socket has written its
// part, every final byte goes out in one synchronous loop, so the server receives N complete
// requests at the same moment and works on all of them at once. (`inject`, or a client with a
// connection pool, hands them over one after another.)
//
// Only loopback addresses; at most MAX_REQUESTS requests; every socket is closed when the
// burst ends, answered or not, and the whole burst is bounded by `timeoutMs`.
import { connect, type Socket } from 'node:net'

/** The most requests one burst may hold. */
export const MAX_REQUESTS = 2000
const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]', 'localhost'])

export interface BurstRequest {
  /** A loopback origin, e.g. http://127.0.0.1:3000 */
  origin: string
  method: string
  /** Path and query. */
  path: string
  headers?: Record<string, string>
  /** Sent as is, with its Content-Length; a request holding back its final byte needs one. */
  body?: string
}

export interface BurstResponse {
  /** 0 when no complete response came back (see `error`). */
  status: number
  headers: Record<string, string>
  body: string
  error?: string
}

export interface BurstResult {
  responses: BurstResponse[]
  /** ms from the first connect to all sockets connected. */
  connectMs: number
  /** ms to write every request but its final byte, with the settle pause. */
  writeMs: number
  /** ms the synchronous loop that wrote the final bytes took. */
  releaseMs: number
  /** ms from the release to the last answer. */
  answerMs: number
}

export interface BurstOptions {
  /** Bound for the whole burst, ms [30000]. Sockets still open then are destroyed. */
  timeoutMs?: number
  /** Pause between the partial writes and the release, for the server to read them, ms [50 + N/5]. */
  settleMs?: number
}

function serialize (request: BurstRequest, url: URL): Buffer {
  const body = Buffer.from(request.body ?? '')
  const lines = [`${request.method} ${request.path} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close']
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (/[\r\n]/.test(name + value)) throw new Error(`header ${name} holds a line break`)
    lines.push(`${name}: ${value}`)
  }
  lines.push(`Content-Length: ${body.length}`)
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), body])
}

function loopbackUrl (origin: string): URL {
  const url = new URL(origin)
  if (url.protocol !== 'http:' || !LOOPBACK.has(url.hostname) || url.port === '') {
    throw new Error(`burst targets must be http://<loopback>:<port> (got ${origin})`)
  }
  return url
}

/** Decodes a chunked body; whatever does not parse is left as it came. */
function dechunk (raw: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const eol = raw.indexOf('\r\n', at)
    if (eol < 0) return raw
    const size = parseInt(raw.subarray(at, eol).toString('latin1'), 16)
    if (Number.isNaN(size)) return raw
    if (size === 0) return Buffer.concat(parts)
    parts.push(raw.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
}

function parse (raw: Buffer): BurstResponse {
  const split = raw.indexOf('\r\n\r\n')
  if (split < 0) return { status: 0, headers: {}, body: '', error: `incomplete response (${raw.length} bytes)` }
  const [statusLine, ...headerLines] = raw.subarray(0, split).toString('latin1').split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0)
  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  let body = raw.subarray(split + 4)
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body)
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']))
  return { status, headers, body: body.toString('utf8'), ...(status === 0 ? { error: `bad status line: ${statusLine}` } : {}) }
}

/** Sends `requests` as one burst (see above) and answers each one's response, in order. */
export async function burst (requests: BurstRequest[], options: BurstOptions = {}): Promise<BurstResult> {
  if (requests.length === 0 || requests.length > MAX_REQUESTS) throw new Error(`a burst holds 1 to ${MAX_REQUESTS} requests (got ${requests.length})`)
  const timeoutMs = options.timeoutMs ?? 30_000
  const settleMs = options.settleMs ?? 50 + Math.ceil(requests.length / 5)
  const wires = requests.map((request) => {
    const url = loopbackUrl(request.origin)
    const bytes = serialize(request, url)
    if (bytes.length < 2) throw new Error('a request needs at least two bytes')
    return { url, bytes }
  })

  const sockets: Socket[] = []
  const chunks: Buffer[][] = requests.map(() => [])
  const errors: Array<string | undefined> = requests.map(() => undefined)
  const closed: Array<Promise<void>> = []
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`the burst did not finish within ${timeoutMs} ms`)), timeoutMs)
  })
  deadline.catch(() => {})
  const timed = async <T>(promise: Promise<T>): Promise<T> => await Promise.race([promise, deadline])

  const started = performance.now()
  let connected = 0
  let written = 0
  let released = 0
  try {
    // Connect every socket, then write every request but its final byte.
    await timed(Promise.all(wires.map(({ url }, i) => new Promise<void>((resolve, reject) => {
      const socket = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) })
      socket.setNoDelay(true)
      sockets.push(socket)
      socket.on('data', (chunk: Buffer) => { chunks[i].push(chunk) })
      socket.on('error', (err) => { errors[i] ??= err.message; reject(err) })
      closed.push(new Promise((resolve) => socket.once('close', () => resolve())))
      socket.once('connect', () => resolve())
    }))))
    connected = performance.now()
    await timed(Promise.all(sockets.map((socket, i) => new Promise<void>((resolve, reject) => {
      socket.write(wires[i].bytes.subarray(0, -1), (err) => { if (err == null) resolve(); else reject(err) })
    }))))
    await timed(new Promise((resolve) => setTimeout(resolve, settleMs)))
    written = performance.now()

    // The release: every final byte, in one synchronous loop (a socket write tries the
    // kernel at once, so each byte is on the wire before the loop moves on).
    for (let i = 0; i < sockets.length; i++) sockets[i].write(wires[i].bytes.subarray(-1))
    released = performance.now()

    // Every answer (each server closes its socket after answering: Connection: close).
    await timed(Promise.all(closed))
  } catch (err) {
    for (let i = 0; i < requests.length; i++) errors[i] ??= (err as Error).message
  } finally {
    clearTimeout(timer)
    for (const socket of sockets) socket.destroy()
  }
  const ended = performance.now()
  const responses = chunks.map((parts, i) => {
    const response = parse(Buffer.concat(parts))
    return errors[i] !== undefined && response.status === 0 ? { ...response, error: errors[i] } : response
  })
  return {
    responses,
    connectMs: Math.round(connected - started),
    writeMs: Math.round(written - connected),
    releaseMs: Math.round((released - written) * 1000) / 1000,
    answerMs: Math.round(ended - released)
  }
}
