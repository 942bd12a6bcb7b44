import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import glueMfa, { emailProvider, memoryRepository, type GlueMfaOptions, type MfaEvent } from '../lib/index.js'
import type { CodeMessage } from '../lib/providers/types.js'

export const JWT_SECRET = 'test-jwt-secret-that-is-long-enough-for-hs256'
export const CODE_SECRET = 'test-code-secret-0123456789abcdef-0123456789'

/** A clock tests move by hand instead of sleeping. */
export class TestClock {
  now = Date.UTC(2026, 0, 1)
  read = (): number => this.now
  advance (ms: number): void { this.now += ms }
}

/** The dev outbox: every code the email provider was asked to send. */
export class Outbox {
  messages: CodeMessage[] = []
  failNext = 0
  send = async (message: CodeMessage): Promise<void> => {
    if (this.failNext > 0) {
      this.failNext--
      throw new Error('smtp down')
    }
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

export async function buildApp (overrides: Partial<GlueMfaOptions> = {}, setup?: (app: FastifyInstance) => void | Promise<void>): Promise<TestApp> {
  const app = Fastify()
  const clock = new TestClock()
  const outbox = new Outbox()
  const events: MfaEvent[] = []
  const repository = memoryRepository()
  await app.register(fastifyJwt, { secret: JWT_SECRET })
  await app.register(glueMfa, {
    providers: [emailProvider({ send: outbox.send })],
    repository,
    codeSecret: CODE_SECRET,
    clock: clock.read,
    onEvent: (e) => { events.push(e) },
    ...overrides
  })
  if (setup !== undefined) await setup(app)
  await app.ready()
  const token = (sub: string | null = 'customer-1', extra: Record<string, unknown> = {}): string =>
    app.jwt.sign(sub === null ? { ...extra } : { sub, ...extra })
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
