// Where the hardening load reads the codes the servers sent: an outbox in this process, or the
// JSON lines a server in another process appends.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import type { CodeMessage } from '../../lib/providers/types.js'

/** Where the codes the servers sent can be read: one list per principal and type, oldest first. */
export interface CodeSource {
  codes: (principal: string, type: string) => string[]
  /** Reads what arrived since the last call (a file source); in-process sources are always current. */
  refresh: () => void
}

/** The email/sms providers' outbox when the servers run in this process. */
export class SharedOutbox implements CodeSource {
  readonly #codes = new Map<string, string[]>()
  sent = 0
  /** Called with every code, e.g. to watch the logs for it. */
  constructor (private readonly onCode: (code: string) => void = () => {}) {}
  send = async ({ principal, type, code }: CodeMessage): Promise<void> => {
    this.onCode(code)
    this.sent++
    const key = `${principal.id}\u0000${type}`
    const list = this.#codes.get(key)
    if (list === undefined) this.#codes.set(key, [code])
    else list.push(code)
  }

  codes (principal: string, type: string): string[] {
    return this.#codes.get(`${principal}\u0000${type}`) ?? []
  }

  refresh (): void {}
}

/** The outbox of a server in another process: JSON lines it appends (synchronously) before answering. */
export class FileOutbox implements CodeSource {
  readonly #codes = new Map<string, string[]>()
  #offset = 0
  #partial = ''
  sent = 0
  constructor (private readonly file: string) {}

  codes (principal: string, type: string): string[] {
    return this.#codes.get(`${principal}\u0000${type}`) ?? []
  }

  refresh (): void {
    let fd: number
    try {
      fd = openSync(this.file, 'r')
    } catch {
      return // nothing sent yet
    }
    try {
      const size = fstatSync(fd).size
      if (size <= this.#offset) return
      const buffer = Buffer.alloc(size - this.#offset)
      const read = readSync(fd, buffer, 0, buffer.length, this.#offset)
      this.#offset += read
      const lines = (this.#partial + buffer.subarray(0, read).toString('utf8')).split('\n')
      this.#partial = lines.pop() as string
      for (const line of lines) {
        if (line === '') continue
        const { principal, type, code } = JSON.parse(line) as { principal: string, type: string, code: string }
        const key = `${principal}\u0000${type}`
        const list = this.#codes.get(key)
        if (list === undefined) this.#codes.set(key, [code])
        else list.push(code)
        this.sent++
      }
    } finally {
      closeSync(fd)
    }
  }
}
