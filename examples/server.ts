/**
 * The example server (`npm start`): a storefront and a back office, each with its own
 * @fastify/jwt and its own fastify-glue-mfa registration, demo logins, protected demo
 * resources, Swagger UI, and a dev mail outbox that shows the codes the email type sent.
 *
 * Environment:
 *   PORT [3000], HOST [127.0.0.1]
 *   DATABASE_URL        postgres://… → PostgreSQL; unset → SQLite file data/glue-mfa-demo.db
 *   NODE_ENV            'development' or unset → dev mode; 'production' → no outbox, no code logged
 *   MFA_DEMO_OUTBOX=0   turns the dev outbox (and the codes in the log) off in dev mode too
 *   MFA_CODE_SECRET, JWT_SECRET   required in production mode; dev mode has fixed dev-only keys
 *
 * Tests build it with `buildServer({ database: 'memory', logger: false })` and listen on port 0.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto'
import { mkdirSync, realpathSync } from 'node:fs'
import { STATUS_CODES } from 'node:http'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import fastifyRateLimit from '@fastify/rate-limit'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import glueMfa, {
  emailProvider, memoryRepository, postgresRepository, sqliteRepository, totpProvider,
  type CodeMessage, type MfaRepository, type Principal
} from '../lib/index.js'

export interface DemoServerOptions {
  /**
   * Where MFA state lives: 'memory', a `postgres://` (or `postgresql://`) URL, or a SQLite
   * file name (its directory is created) [data/glue-mfa-demo.db].
   */
  database?: string
  /** Development mode: the secrets below may be left out (fixed dev-only keys are used) [false]. */
  devMode?: boolean
  /** The dev mail outbox: `GET /dev/outbox`, and each email code logged at info level [devMode]. */
  outbox?: boolean
  /** HMAC key of codes at rest, at least 32 bytes. Required unless `devMode`. */
  codeSecret?: string
  /** Key the demo access tokens are signed with (each surface gets its own, derived). Required unless `devMode`. */
  jwtSecret?: string
  /** Your mailer. Without one, codes go to the dev outbox, or, with the outbox off, delivery fails (5910). */
  mailer?: (message: CodeMessage) => Promise<void>
  /** Fastify's `logger` option [true]. */
  logger?: FastifyServerOptions['logger']
  /** Epoch ms clock of both MFA registrations (tests move it instead of sleeping) [Date.now]. */
  clock?: () => number
  /** Table prefix of the storefront in SQLite/PostgreSQL; the back office adds `backend_` [glue_mfa_]. */
  tablePrefix?: string
  /** Per-IP limit of each MFA route, through @fastify/rate-limit; `false`: none [MFA_RATE_LIMIT]. */
  rateLimit?: { max: number, timeWindow: number } | false
}

/** Dev-only keys, so a SQLite file survives restarts in dev mode. Never used in production mode. */
const DEV_CODE_SECRET = 'glue-mfa-demo-DEV-ONLY-code-secret-do-not-use-in-production'
const DEV_JWT_SECRET = 'glue-mfa-demo-DEV-ONLY-jwt-secret-do-not-use-in-production'
export const DEFAULT_DATABASE = 'data/glue-mfa-demo.db'
const JSON_API = 'application/vnd.api+json'
const STOREFRONT_TOKEN_TTL = 8 * 60 * 60 // seconds, as Glue's default access token
const BACKEND_TOKEN_TTL = 60 * 60
const OUTBOX_SIZE = 50
/** Each MFA route answers one IP address 30 times a minute, then 429 with Retry-After. */
export const MFA_RATE_LIMIT = { max: 30, timeWindow: 60_000 }

/** The demo accounts; passwords live in memory and change through PATCH /customer-password/:id. */
export const DEMO_CUSTOMERS: ReadonlyArray<{ username: string, password: string, customerReference: string }> = [
  { username: 'sonia@example.com', password: 'change123', customerReference: 'DE--1' },
  { username: 'spencor@example.com', password: 'change123', customerReference: 'DE--2' }
]
export const DEMO_BACKEND_USERS: ReadonlyArray<{ username: string, password: string, id: string }> = [
  { username: 'admin@example.com', password: 'change123', id: 'user-1' }
]

/** Development mode: NODE_ENV is 'development' or unset. Anything else ('production', 'test') is not. */
export function isDevMode (env: NodeJS.ProcessEnv): boolean {
  return env.NODE_ENV === undefined || env.NODE_ENV === '' || env.NODE_ENV === 'development'
}

/**
 * The dev outbox rule: `GET /dev/outbox` exists, and codes are logged, only in development
 * mode and when MFA_DEMO_OUTBOX is not '0'.
 */
export function isOutboxEnabled (env: NodeJS.ProcessEnv): boolean {
  return isDevMode(env) && env.MFA_DEMO_OUTBOX !== '0'
}

/** buildServer's options as `npm start` takes them from the environment. */
export function optionsFromEnv (env: NodeJS.ProcessEnv): DemoServerOptions {
  const devMode = isDevMode(env)
  return {
    database: env.DATABASE_URL !== undefined && env.DATABASE_URL !== '' ? env.DATABASE_URL : DEFAULT_DATABASE,
    devMode,
    outbox: isOutboxEnabled(env),
    codeSecret: env.MFA_CODE_SECRET,
    jwtSecret: env.JWT_SECRET,
    logger: devMode ? { level: 'info', stream: readableLogStream(process.stdout) } : { level: 'info' }
  }
}

/** One message the email type was asked to send. */
export interface OutboxMessage {
  id: number
  surface: 'storefront' | 'backend'
  to: string
  principal: string
  mfaType: string
  code: string
  sentAt: string
}

/** The in-process dev mail outbox: the last few messages, newest first. */
export class DevOutbox {
  #next = 1
  readonly messages: OutboxMessage[] = []

  add (surface: OutboxMessage['surface'], { principal, type, code }: CodeMessage, now: number): OutboxMessage {
    const message = {
      id: this.#next++,
      surface,
      to: typeof principal.email === 'string' ? principal.email : principal.id,
      principal: principal.id,
      mfaType: type,
      code,
      sentAt: new Date(now).toISOString()
    }
    this.messages.unshift(message)
    this.messages.length = Math.min(this.messages.length, OUTBOX_SIZE)
    return message
  }
}

function isPostgres (database: string): boolean {
  return /^postgres(ql)?:\/\//.test(database)
}

/** Where state lives, for the startup message (the password of a URL left out). */
export function describeDatabase (database: string): string {
  if (database === 'memory') return 'in memory (lost on restart)'
  if (isPostgres(database)) return `PostgreSQL ${database.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')}`
  return `SQLite ${database}`
}

/** One repository per surface, in one database: the backend's tables carry their own prefix. */
function repositoriesFor (database: string, prefix: string): { storefront: MfaRepository, backend: MfaRepository } {
  if (database === 'memory') return { storefront: memoryRepository(), backend: memoryRepository() }
  if (isPostgres(database)) {
    return {
      storefront: postgresRepository({ connectionString: database, tablePrefix: prefix }),
      backend: postgresRepository({ connectionString: database, tablePrefix: `${prefix}backend_` })
    }
  }
  mkdirSync(dirname(resolve(database)), { recursive: true })
  return {
    storefront: sqliteRepository({ filename: database, tablePrefix: prefix }),
    backend: sqliteRepository({ filename: database, tablePrefix: `${prefix}backend_` })
  }
}

function sameSecret (given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

function jsonApiError (reply: FastifyReply, status: number, detail: string, code?: string): FastifyReply {
  return reply.code(status).type(JSON_API).send({ errors: [code === undefined ? { status, detail } : { code, status, detail }] })
}

/** The host's own token check on its demo resources (Glue's 002/001), before the MFA step-up. */
async function authenticate (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (typeof request.headers.authorization !== 'string' || request.headers.authorization.trim() === '') {
    return await jsonApiError(reply, 403, 'Missing access token.', '002')
  }
  try {
    await request.jwtVerify()
  } catch {
    return await jsonApiError(reply, 401, 'Invalid access token.', '001')
  }
}

/** The principal the plugin reads from a demo token: `{ sub, email }`. */
function principalOf (payload: any): Principal | null {
  return typeof payload?.sub === 'string' ? { id: payload.sub, email: payload.email } : null
}

const ErrorDocument = {
  type: 'object',
  description: 'JSON:API error document',
  properties: {
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: { code: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
        required: ['status', 'detail']
      }
    }
  },
  required: ['errors']
}

function errors (...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorDocument]))
}

function resourceBody (type: string, attributes: Record<string, unknown>, required: string[]): Record<string, unknown> {
  return {
    type: 'object',
    required: ['data'],
    properties: {
      data: {
        type: 'object',
        required: ['type', 'attributes'],
        properties: {
          type: { type: 'string', enum: [type] },
          attributes: { type: 'object', ...(required.length > 0 ? { required } : {}), properties: attributes }
        }
      }
    }
  }
}

function resourceResponse (type: string, description: string, attributes: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'object',
    description,
    properties: {
      data: {
        type: 'object',
        properties: { type: { type: 'string', enum: [type] }, id: { type: 'string', nullable: true }, attributes: { type: 'object', properties: attributes } }
      },
      links: { type: 'object', properties: { self: { type: 'string' } } }
    }
  }
}

/** JSON:API answers for the demo's own routes (the MFA routes have the plugin's handler). */
function demoErrorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error.validation !== undefined) {
    const wrongType = error.validation.some((v) => v.instancePath === '/data/type')
    return jsonApiError(reply, 400, wrongType ? 'Invalid type.' : 'Post data is invalid.')
  }
  const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
  if (status === 500) {
    request.log.error({ err: error }, 'request failed')
    return jsonApiError(reply, 500, 'Internal server error.')
  }
  const badBody = error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error instanceof SyntaxError
  return jsonApiError(reply, status, badBody ? 'Post data is invalid.' : `${STATUS_CODES[status] ?? 'Bad Request'}.`)
}

/**
 * Builds the demo app (not listening). Throws when a production-mode server lacks its
 * secrets, so nothing starts with a dev-only key.
 */
export async function buildServer (options: DemoServerOptions = {}): Promise<FastifyInstance> {
  const devMode = options.devMode ?? false
  const outboxOn = options.outbox ?? devMode
  const database = options.database ?? DEFAULT_DATABASE
  const clock = options.clock ?? Date.now
  const codeSecret = options.codeSecret ?? (devMode ? DEV_CODE_SECRET : undefined)
  const jwtSecret = options.jwtSecret ?? (devMode ? DEV_JWT_SECRET : undefined)
  if (codeSecret === undefined || jwtSecret === undefined) {
    throw new Error('outside development mode (NODE_ENV unset or "development") set MFA_CODE_SECRET (at least 32 bytes) and JWT_SECRET: the dev-only keys are not used')
  }

  const app = Fastify({ logger: options.logger ?? true })
  const outbox = new DevOutbox()
  const customers = new Map(DEMO_CUSTOMERS.map((c) => [c.customerReference, { ...c }]))
  const backendUsers = new Map(DEMO_BACKEND_USERS.map((u) => [u.id, { ...u }]))
  const carts = new Map<string, Array<{ id: string, attributes: Record<string, unknown> }>>()
  const repositories = repositoriesFor(database, options.tablePrefix ?? 'glue_mfa_')

  /** The email type's `send` for one surface: your mailer, else the dev outbox, else a delivery failure. */
  function deliver (surface: OutboxMessage['surface']): (message: CodeMessage) => Promise<void> {
    return async (message) => {
      if (options.mailer !== undefined) return await options.mailer(message)
      if (!outboxOn) throw new Error('no mailer configured, and the dev outbox is off')
      const sent = outbox.add(surface, message, clock())
      app.log.info({ devOutbox: { id: sent.id, surface, to: sent.to, type: sent.mfaType } },
        `dev outbox: code for ${sent.principal} (${sent.to}, ${surface} ${sent.mfaType}) is ${sent.code}`)
    }
  }

  app.setErrorHandler(demoErrorHandler)
  app.setNotFoundHandler((_request, reply) => jsonApiError(reply, 404, 'Not Found.'))
  // Glue clients send JSON:API bodies; the demo routes take them like plain JSON.
  app.addContentTypeParser(JSON_API, { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'))

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Glue MFA demo',
        version: '0.2.0',
        description: 'fastify-glue-mfa: the Glue multi-factor-auth API for a storefront (customers, at /) and a back office (users, at /backend). Get a token from POST /access-tokens or POST /backend/token, then press Authorize.'
      },
      tags: [
        { name: 'multi-factor authentication', description: 'The five Glue MFA resources (storefront at /, back office at /backend)' },
        { name: 'demo', description: 'Demo logins and protected demo resources of this example server' },
        { name: 'dev', description: 'Development helpers (dev mode only)' }
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Storefront token from POST /access-tokens, or back-office token from POST /backend/token' }
        }
      }
    }
  })
  await app.register(fastifySwaggerUi, { routePrefix: '/documentation' })
  // Per-IP throttling of the MFA routes: registered here, before both surfaces, and applied
  // only where a route asks for it (the plugin's `rateLimit` option does, for its five routes).
  await app.register(fastifyRateLimit, { global: false })
  const rateLimit = options.rateLimit ?? MFA_RATE_LIMIT

  // Storefront: customers. @fastify/jwt and the plugin each decorate once per context, so each
  // surface lives in its own encapsulated plugin.
  await app.register(async function storefront (scope) {
    await scope.register(fastifyJwt, {
      secret: createHmac('sha256', jwtSecret).update('storefront').digest(),
      sign: { expiresIn: STOREFRONT_TOKEN_TTL }
    })
    await scope.register(glueMfa, {
      surface: 'storefront',
      providers: [emailProvider({ send: deliver('storefront') }), totpProvider({ issuer: 'Glue MFA demo' })],
      repository: repositories.storefront,
      codeSecret,
      principal: principalOf,
      findPrincipal: (principal) => customers.has(principal.id),
      protectedResources: ['carts', 'customer-password'],
      resendCooldown: 10_000,
      rateLimit,
      clock
    })

    scope.post('/access-tokens', {
      schema: {
        summary: 'Log in a demo customer',
        description: `Glue-style login. Demo customers: ${DEMO_CUSTOMERS.map((c) => `${c.username} / ${c.password}`).join(', ')}.`,
        tags: ['demo'],
        consumes: [JSON_API, 'application/json'],
        produces: [JSON_API],
        body: resourceBody('access-tokens', { username: { type: 'string' }, password: { type: 'string' } }, ['username', 'password']),
        response: {
          201: resourceResponse('access-tokens', 'The access token', {
            tokenType: { type: 'string' }, expiresIn: { type: 'integer' }, accessToken: { type: 'string' }
          }),
          ...errors(400, 401)
        }
      }
    }, async (request, reply) => {
      const { username, password } = (request.body as any).data.attributes as { username: string, password: string }
      const customer = [...customers.values()].find((c) => c.username === username)
      // Both checks always run, so a wrong username and a wrong password take the same time.
      const passwordOk = sameSecret(password, customer?.password ?? 'no such customer')
      if (customer === undefined || !passwordOk) return await jsonApiError(reply, 401, 'Failed to authenticate user.', '003')
      const accessToken = scope.jwt.sign({ sub: customer.customerReference, email: customer.username })
      return await reply.code(201).type(JSON_API).send({
        data: { type: 'access-tokens', id: null, attributes: { tokenType: 'Bearer', expiresIn: STOREFRONT_TOKEN_TTL, accessToken } }
      })
    })

    const cartAttributes = { priceMode: { type: 'string' }, currency: { type: 'string' }, store: { type: 'string' }, name: { type: 'string' } }
    scope.get('/carts', {
      schema: {
        summary: "The customer's carts (a read: never needs a code)",
        tags: ['demo'],
        security: [{ bearerAuth: [] }],
        produces: [JSON_API]
      },
      preHandler: authenticate
    }, async (request, reply) => {
      const customer = (request.user as { sub: string }).sub
      const data = (carts.get(customer) ?? []).map((cart) => ({ type: 'carts', id: cart.id, attributes: cart.attributes }))
      return await reply.type(JSON_API).send({ data })
    })

    scope.post('/carts', {
      schema: {
        summary: 'Create a cart (protected: a code once MFA is enabled)',
        description: 'Protected through protectedResources: ["carts"]. With an enabled MFA type, a valid code must come in X-MFA-Code (5900/5901 otherwise).',
        tags: ['demo'],
        security: [{ bearerAuth: [] }],
        consumes: [JSON_API, 'application/json'],
        produces: [JSON_API],
        headers: { type: 'object', properties: { 'x-mfa-code': { type: 'string', description: 'The MFA code' } } },
        body: resourceBody('carts', cartAttributes, []),
        response: { 201: resourceResponse('carts', 'The new cart', cartAttributes), ...errors(400, 401, 403) }
      },
      preHandler: authenticate
    }, async (request, reply) => {
      const customer = (request.user as { sub: string }).sub
      const attributes = { priceMode: 'GROSS_MODE', currency: 'EUR', store: 'DE', name: 'My Cart', ...(request.body as any).data.attributes }
      const cart = { id: randomUUID(), attributes }
      carts.set(customer, [...(carts.get(customer) ?? []), cart])
      return await reply.code(201).type(JSON_API).send({ data: { type: 'carts', id: cart.id, attributes }, links: { self: `/carts/${cart.id}` } })
    })

    scope.patch('/customer-password/:id', {
      schema: {
        summary: "Change the customer's password (protected)",
        description: 'Protected through protectedResources: ["customer-password"]. `:id` is the customer reference (DE--1 for sonia@example.com).',
        tags: ['demo'],
        security: [{ bearerAuth: [] }],
        consumes: [JSON_API, 'application/json'],
        produces: [JSON_API],
        params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        headers: { type: 'object', properties: { 'x-mfa-code': { type: 'string', description: 'The MFA code' } } },
        body: resourceBody('customer-password', {
          password: { type: 'string' }, newPassword: { type: 'string', minLength: 8 }, confirmPassword: { type: 'string' }
        }, ['password', 'newPassword', 'confirmPassword']),
        response: { 204: { type: 'null', description: 'Password changed' }, ...errors(400, 401, 403) }
      },
      preHandler: authenticate
    }, async (request, reply) => {
      const { id } = request.params as { id: string }
      const customer = customers.get((request.user as { sub: string }).sub)
      if (customer === undefined || customer.customerReference !== id) return await jsonApiError(reply, 403, 'Unauthorized request.')
      const { password, newPassword, confirmPassword } = (request.body as any).data.attributes
      if (!sameSecret(password, customer.password)) return await jsonApiError(reply, 400, 'The current password is wrong.')
      if (newPassword !== confirmPassword) return await jsonApiError(reply, 400, 'The new passwords do not match.')
      customer.password = newPassword
      return await reply.code(204).send()
    })
  })

  // Back office: users, at /backend, with their own tokens, MFA state and error codes (5908/5909).
  await app.register(async function backend (scope) {
    await scope.register(fastifyJwt, {
      secret: createHmac('sha256', jwtSecret).update('backend').digest(),
      sign: { expiresIn: BACKEND_TOKEN_TTL }
    })
    await scope.register(glueMfa, {
      surface: 'backend',
      prefix: '/backend',
      providers: [emailProvider({ send: deliver('backend') }), totpProvider({ issuer: 'Glue MFA demo' })],
      repository: repositories.backend,
      codeSecret,
      principal: principalOf,
      findPrincipal: (principal) => backendUsers.has(principal.id),
      resendCooldown: 10_000,
      rateLimit,
      clock
    })

    scope.post('/backend/token', {
      schema: {
        summary: 'Log in the demo back-office user',
        description: `Demo user: ${DEMO_BACKEND_USERS.map((u) => `${u.username} / ${u.password}`).join(', ')}.`,
        tags: ['demo'],
        body: {
          type: 'object',
          required: ['username', 'password'],
          properties: { username: { type: 'string' }, password: { type: 'string' } }
        },
        response: {
          200: {
            type: 'object',
            description: 'The access token',
            properties: { accessToken: { type: 'string' }, tokenType: { type: 'string' }, expiresIn: { type: 'integer' } }
          },
          ...errors(400, 401)
        }
      }
    }, async (request, reply) => {
      const { username, password } = request.body as { username: string, password: string }
      const user = [...backendUsers.values()].find((u) => u.username === username)
      const passwordOk = sameSecret(password, user?.password ?? 'no such user')
      if (user === undefined || !passwordOk) return await jsonApiError(reply, 401, 'Failed to authenticate user.', '003')
      return { accessToken: scope.jwt.sign({ sub: user.id, email: user.username }), tokenType: 'Bearer', expiresIn: BACKEND_TOKEN_TTL }
    })

    scope.post('/backend/refunds', {
      schema: {
        summary: 'Refund an order (protected by requireMfa)',
        description: 'Uses `preHandler: scope.requireMfa`: always needs a valid back-office token, and a code once the user has MFA enabled.',
        tags: ['demo'],
        security: [{ bearerAuth: [] }],
        headers: { type: 'object', properties: { 'x-mfa-code': { type: 'string', description: 'The MFA code' } } },
        body: {
          type: 'object',
          required: ['orderReference', 'amount'],
          properties: { orderReference: { type: 'string' }, amount: { type: 'integer', minimum: 1, description: 'cents' } }
        },
        response: {
          201: {
            type: 'object',
            description: 'The refund',
            properties: { id: { type: 'string' }, orderReference: { type: 'string' }, amount: { type: 'integer' }, refundedBy: { type: 'string' } }
          },
          ...errors(400, 401, 403)
        }
      },
      preHandler: scope.requireMfa
    }, async (request, reply) => {
      const { orderReference, amount } = request.body as { orderReference: string, amount: number }
      return await reply.code(201).send({ id: randomUUID(), orderReference, amount, refundedBy: (request.principal as Principal).id })
    })
  })

  if (outboxOn) {
    app.get('/dev/outbox', {
      schema: {
        summary: 'The dev mail outbox: codes the email type sent, newest first (dev mode only)',
        tags: ['dev'],
        produces: [JSON_API]
      }
    }, async (_request, reply) => {
      const data = outbox.messages.map(({ id, ...attributes }) => ({ type: 'dev-outbox-messages', id: String(id), attributes }))
      return await reply.type(JSON_API).send({ data })
    })
  } else if (options.mailer === undefined) {
    app.log.warn('no mailer configured: email codes cannot be delivered (activate/trigger answer 5910); TOTP works')
  }

  return app
}

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

function startupMessage (base: string, devMode: boolean, outboxOn: boolean, database: string): string {
  const customer = DEMO_CUSTOMERS[0]
  const user = DEMO_BACKEND_USERS[0]
  const login = JSON.stringify({ data: { type: 'access-tokens', attributes: { username: customer.username, password: customer.password } } })
  const activate = JSON.stringify({ data: { type: 'multi-factor-auth-type-activate', attributes: { type: 'email' } } })
  return `
Glue MFA demo listening on ${base} (${devMode ? 'development' : 'production'} mode, state: ${describeDatabase(database)})

  Storefront MFA API  ${base}/multi-factor-auth-types
  Back-office MFA API ${base}/backend/multi-factor-auth-types
  API documentation   ${base}/documentation
  ${outboxOn ? `Dev mail outbox     ${base}/dev/outbox   (codes also appear below as "dev outbox: code for …")` : `Dev mail outbox     off (${devMode ? 'MFA_DEMO_OUTBOX=0' : 'production mode'}): email codes cannot be delivered, TOTP works`}

Demo credentials
  storefront customers  ${DEMO_CUSTOMERS.map((c) => `${c.username} / ${c.password}`).join(', ')}   (POST /access-tokens)
  back-office user      ${user.username} / ${user.password}   (POST /backend/token)

Try it (jq reads the token; the README walks through the whole lifecycle)
  TOKEN=$(curl -s -X POST ${base}/access-tokens -H 'Content-Type: application/vnd.api+json' -d '${login}' | jq -r .data.attributes.accessToken)
  curl -s ${base}/multi-factor-auth-types -H "Authorization: Bearer $TOKEN"
  curl -s -w '%{http_code}\\n' -X POST ${base}/multi-factor-auth-type-activate -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/vnd.api+json' -d '${activate}'
`
}

async function main (): Promise<void> {
  const options = optionsFromEnv(process.env)
  const app = await buildServer(options)
  const port = Number(process.env.PORT ?? 3000)
  const host = process.env.HOST ?? '127.0.0.1'
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.log.info(`${signal}: closing`)
      app.close().then(() => process.exit(0), (err) => {
        app.log.error({ err }, 'close failed')
        process.exit(1)
      })
    })
  }
  await app.listen({ port, host })
  const address = app.server.address()
  const shown = typeof address === 'object' && address !== null ? address.port : port
  process.stdout.write(startupMessage(`http://${host.includes(':') ? `[${host}]` : host}:${shown}`, options.devMode === true, options.outbox === true, options.database as string))
}

function runDirectly (): boolean {
  if (process.argv[1] === undefined) return false
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (runDirectly()) {
  main().catch((err) => {
    process.stderr.write(`glue-mfa demo: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
