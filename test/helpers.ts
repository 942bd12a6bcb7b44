import type { Test } from 'tap'
import { Value } from '@sinclair/typebox/value'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import glueMfa, { emailProvider, memoryRepository, type GlueMfaOptions, type MfaEvent } from '../lib/index.js'
import type { CodeMessage } from '../lib/providers/types.js'
import { ErrorDocument } from '../lib/schemas.js'

export const JWT_SECRET = 'test-jwt-secret-that-is-long-enough-for-hs256'
export const CODE_SECRET = 'test-code-secret-0123456789abcdef-0123456789'

/** A clock tests move by hand instead of sleeping. */
export class TestClock {
  now = Date.UTC(2026, 0, 1)
  read = (): number => this.now
  advance (ms: number): void { this.now += ms }
}

/**
 * Every code, token and TOTP secret any test handled. Each app built here logs at trace level
 * and, when closed, fails if one of them appears in any of its log lines: the whole suite
 * doubles as the "no secrets in logs" check.
 */
export const handledSecrets = new Set<string>()

/** The dev outbox: every code the email provider was asked to send. */
export class Outbox {
  messages: CodeMessage[] = []
  failNext = 0
  send = async (message: CodeMessage): Promise<void> => {
    if (this.failNext > 0) {
      this.failNext--
      throw new Error('smtp down')
    }
    handledSecrets.add(message.code)
    this.messages.push(message)
  }

  last (principalId?: string): string {
    const found = this.messages.filter((m) => principalId === undefined || m.principal.id === principalId).at(-1)
    if (found === undefined) throw new Error('no code was sent')
    return found.code
  }
}

export interface TestApp {
  app: FastifyInstance
  clock: TestClock
  outbox: Outbox
  events: MfaEvent[]
  repository: ReturnType<typeof memoryRepository>
  token: (sub?: string | null, extra?: Record<string, unknown>) => string
}

/** Every log line an app wrote, for checks that no code or secret ever reaches a log. */
export class LogCapture {
  lines: string[] = []
  leaks: string[] = []
  /** `keep: false` checks each line as it is written and keeps none (long runs). */
  constructor (private readonly keep = true) {}
  stream = {
    write: (line: string): void => {
      if (leakedSecrets([line]).length > 0) this.leaks.push(line)
      if (this.keep) this.lines.push(line)
    }
  }
}

/** The lines that carry a handled secret: quoted, as a code or token would appear in JSON. */
export function leakedSecrets (lines: string[]): string[] {
  return lines.filter((line) => [...handledSecrets].some((secret) => line.includes(`"${secret}"`) || (secret.length > 12 && line.includes(secret))))
}

export async function buildApp (overrides: Partial<GlueMfaOptions> = {}, setup?: (app: FastifyInstance) => void | Promise<void>, logs = new LogCapture()): Promise<TestApp> {
  const app = Fastify({ logger: { level: 'trace', stream: logs.stream } })
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode === 201 && typeof payload === 'string') {
      const attributes = JSON.parse(payload).data?.attributes
      if (typeof attributes?.secret === 'string') handledSecrets.add(attributes.secret)
      // Recovery codes, as shown and as a client may type them.
      for (const code of Array.isArray(attributes?.codes) ? attributes.codes : []) handledSecrets.add(code).add(code.replaceAll('-', ''))
    }
  })
  app.addHook('onClose', async () => {
    const leaks = [...logs.leaks, ...leakedSecrets(logs.lines)]
    if (leaks.length > 0) throw new Error(`a code, token or secret reached the log: ${leaks[0]}`)
  })
  const clock = new TestClock()
  const outbox = new Outbox()
  const events: MfaEvent[] = []
  // The store the app really uses; tests that pass their own get it back as it is.
  const repository = (overrides.repository ?? memoryRepository()) as ReturnType<typeof memoryRepository>
  await app.register(fastifyJwt, { secret: JWT_SECRET })
  await app.register(glueMfa, {
    providers: [emailProvider({ send: outbox.send })],
    codeSecret: CODE_SECRET,
    clock: clock.read,
    onEvent: (e) => { events.push(e) },
    ...overrides,
    repository
  })
  if (setup !== undefined) await setup(app)
  await app.ready()
  const token = (sub: string | null = 'customer-1', extra: Record<string, unknown> = {}): string => {
    const signed = app.jwt.sign(sub === null ? { ...extra } : { sub, ...extra })
    handledSecrets.add(signed)
    return signed
  }
  return { app, clock, outbox, events, repository, token }
}

export function body (resource: string, type: unknown = 'email'): Record<string, unknown> {
  return { data: { type: resource, attributes: { type } } }
}

/** POST one of the MFA resources as a client would. */
export async function post (app: FastifyInstance, resource: string, token: string | null, options: { type?: unknown, code?: string, payload?: unknown, prefix?: string } = {}): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/vnd.api+json' }
  if (token !== null) headers.authorization = `Bearer ${token}`
  if (options.code !== undefined) headers['x-mfa-code'] = options.code
  return await app.inject({
    method: 'POST',
    url: `${options.prefix ?? ''}/${resource}`,
    headers,
    payload: (options.payload ?? body(resource, 'type' in options ? options.type : 'email')) as Record<string, unknown>
  })
}

export async function list (app: FastifyInstance, token: string | null, prefix = ''): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'GET',
    url: `${prefix}/multi-factor-auth-types`,
    headers: token === null ? {} : { authorization: `Bearer ${token}` }
  })
}

export function statuses (res: LightMyRequestResponse): Record<string, unknown> {
  return Object.fromEntries(res.json().data.map((d: any) => [d.id, d.attributes.status]))
}

/** The JSON:API error document (docs/errors.md), checked the same way for every error response. */
export function expectError (t: Test, res: LightMyRequestResponse, status: number, code: string | undefined, detail?: string): void {
  t.equal(res.statusCode, status, `HTTP ${status}`)
  t.match(res.headers['content-type'], /^application\/vnd\.api\+json/, 'JSON:API content type')
  const doc = res.json()
  t.ok(Value.Check(ErrorDocument, doc), `error document shape: ${res.body}`)
  t.same(Object.keys(doc), ['errors'], 'nothing but errors')
  t.equal(doc.errors.length, 1)
  const [error] = doc.errors
  t.equal(error.status, status, 'status repeats the HTTP status')
  t.equal(error.code, code, `code ${code ?? '(none)'}`)
  if (detail !== undefined) t.equal(error.detail, detail)
  t.notMatch(res.body, /\bat .*\.(ts|js):\d+|stack|statusCode/, 'no stack trace or Fastify default shape')
}
