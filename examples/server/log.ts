import { Writable } from 'node:stream'

/**
 * Pino's JSON lines as one short line each, for a person watching the console in dev mode.
 * Production mode keeps the JSON lines.
 */
export function readableLogStream (out: NodeJS.WritableStream): Writable {
  const levels: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' }
  return new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue
        try {
          const entry = JSON.parse(line)
          const time = new Date(entry.time).toISOString().slice(11, 19)
          const request = entry.req !== undefined ? ` ${entry.req.method} ${entry.req.url}` : ''
          const response = entry.res !== undefined ? ` → ${entry.res.statusCode} (${Math.round(entry.responseTime)} ms)` : ''
          const error = entry.err !== undefined ? ` ${entry.err.type}: ${entry.err.message}` : ''
          const event = entry.mfaEvent !== undefined ? ` (${entry.mfaEvent.principalId}${entry.mfaEvent.type === null ? '' : `, ${entry.mfaEvent.type}`})` : ''
          out.write(`${time} ${levels[entry.level] ?? entry.level} ${entry.msg}${event}${request}${response}${error}\n`)
        } catch {
          out.write(line + '\n')
        }
      }
      done()
    }
  })
}
