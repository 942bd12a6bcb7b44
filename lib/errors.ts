import createError, { type FastifyErrorConstructor } from '@fastify/error'
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

/** One JSON:API error object. `code` is absent for the few errors Glue gives none. */
export interface JsonApiError {
  code?: string
  status: number
  detail: string
}

export interface JsonApiErrorDocument {
  errors: JsonApiError[]
}

export const JSON_API_TYPE = 'application/vnd.api+json'

// The Glue error catalogue. Fastify error codes are `FST_GLUE_MFA_<glue code>` so a log
// line still tells which Glue error was answered.
const catalogue = {
  MissingAccessToken: ['002', 403, 'Missing access token.'],
  InvalidAccessToken: ['001', 401, 'Invalid access token.'],
  CodeMissing: ['5900', 403, 'X-MFA-Code header is missing.'],
  CodeInvalid: ['5901', 403, 'X-MFA-Code is invalid.'],
  TypeMissing: ['5902', 400, 'Multi-factor authentication type is missing.'],
  DeactivationFailed: ['5903', 500, 'Failed to deactivate multi-factor authentication.'],
  TypeAlreadyActivated: ['5904', 400, 'Multi-factor authentication type already activated.'],
  NoCustomerIdentifier: ['5905', 400, 'No customer identifier provided.'],
  TypeNotFound: ['5906', 400, 'Multi-factor authentication type is not found.'],
  CustomerNotFound: ['5907', 400, 'Customer not found.'],
  UserNotFound: ['5908', 400, 'User not found.'],
  NoUserIdentifier: ['5909', 400, 'No user identifier provided.'],
  SendFailed: ['5910', 400, 'Something went wrong while sending your code. Please try again later or contact the system administrator.'],
  TooManyCodes: ['5911', 429, 'Too many codes requested. Try again later.'],
  SignInAgain: ['5912', 403, 'Sign in again to set up multi-factor authentication.'],
  AnotherTypeFirst: ['5913', 400, 'Enable another multi-factor authentication type first.'],
  EnrollmentRequired: ['5914', 403, 'Multi-factor authentication must be enabled for this action.']
} as const

// The two body errors Glue answers without a code, raised by schema validation.
// A wrong `data.type` keeps Glue's exact 'Invalid type.' first and names the expected type after it.
const POST_DATA_INVALID = 'Post data is invalid.'
const INVALID_TYPE = 'Invalid type.'

type CatalogueName = keyof typeof catalogue

const glueCodeOf = new Map<string, string>()

function define (name: CatalogueName): FastifyErrorConstructor {
  const [glue, status, detail] = catalogue[name]
  const code = `FST_GLUE_MFA_${glue}`
  glueCodeOf.set(code, glue)
  return createError(code, detail, status)
}

/** Error constructors of the Glue catalogue, created once (as @fastify/* plugins do). */
export const MfaErrors = Object.fromEntries(
  (Object.keys(catalogue) as CatalogueName[]).map((name) => [name, define(name)])
) as Record<CatalogueName, FastifyErrorConstructor>

/** Thrown for bad plugin options at registration; the message names the option. */
export const InvalidOptionError = createError<[string, string]>(
  'FST_GLUE_MFA_INVALID_OPTION',
  'fastify-glue-mfa: option "%s" %s'
)

/**
 * A repository that cannot work (driver missing, store unreachable, bad credentials), raised by
 * its `ready()` so that Fastify's `ready()` fails at boot with the cause and the fix.
 */
export const RepositoryUnavailableError = createError<[message: string, options?: { cause: unknown }]>(
  'FST_GLUE_MFA_REPOSITORY_UNAVAILABLE',
  'fastify-glue-mfa: %s'
)

/** Whether an error is one of the Glue catalogue's (a decided answer, not a failure). */
export function isGlueError (error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && glueCodeOf.has(code)
}

/** 5911 carries the seconds a client should wait; the handler turns it into `Retry-After`. */
export function tooManyCodes (retryAfterMs: number): FastifyError & { retryAfter: number } {
  const error = new MfaErrors.TooManyCodes() as FastifyError & { retryAfter: number }
  error.retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000))
  return error
}

const fastifyDetails: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: `Unsupported content type. Use ${JSON_API_TYPE} or application/json.`,
  FST_ERR_CTP_BODY_TOO_LARGE: 'Request body is too large.',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Request body length is invalid.',
  FST_ERR_CTP_EMPTY_JSON_BODY: POST_DATA_INVALID,
  FST_ERR_CTP_INVALID_JSON_BODY: POST_DATA_INVALID
}

function errorStatus (error: FastifyError): number {
  const status = error.statusCode
  return typeof status === 'number' && status >= 400 && status <= 599 ? status : 500
}

/**
 * Turns any error met on the plugin's routes into one JSON:API error object. Our own errors
 * keep their Glue code; Fastify's client errors keep their status with a fixed, safe text;
 * everything else is a 500 whose detail says nothing about the cause. `expectedType` is the
 * route's JSON:API resource type, named when a body's `data.type` is wrong.
 */
export function toJsonApiError (error: FastifyError, expectedType?: string): JsonApiError {
  const code = error.code
  const glue = code === undefined ? undefined : glueCodeOf.get(code)
  if (glue !== undefined) return { code: glue, status: error.statusCode as number, detail: error.message }
  if (error.validation !== undefined) {
    // Body shape errors take Glue's wording: a wrong `data.type` is "Invalid type.", any other
    // shape problem is "Post data is invalid.".
    if (error.validationContext === 'body') {
      if (!error.validation.some((v) => v.instancePath === '/data/type')) return { status: 400, detail: POST_DATA_INVALID }
      return { status: 400, detail: expectedType === undefined ? INVALID_TYPE : `${INVALID_TYPE} Expected "${expectedType}".` }
    }
    return { status: 400, detail: 'Request headers are invalid.' }
  }
  const status = errorStatus(error)
  if (status >= 500) return { status: 500, detail: 'Internal server error.' }
  // @fastify/rate-limit's answer (the host's limit, or the `rateLimit` option's); its
  // Retry-After header stays. No Glue code: 5911 is about codes sent, not requests.
  if (status === 429) return { status, detail: 'Rate limit exceeded. Try again later.' }
  if (code !== undefined && fastifyDetails[code] !== undefined) return { status, detail: fastifyDetails[code] }
  return { status, detail: `${STATUS_CODES[status] ?? 'Bad Request'}.` }
}

export function sendJsonApiError (reply: FastifyReply, error: JsonApiError, retryAfter?: number): FastifyReply {
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter))
  // Serialized here, in the order code, status, detail, on the plugin's routes
  // and on a host's protected routes alike.
  const body = error.code === undefined
    ? { status: error.status, detail: error.detail }
    : { code: error.code, status: error.status, detail: error.detail }
  return reply.code(error.status).type(JSON_API_TYPE).send(JSON.stringify({ errors: [body] }))
}

/** What the error handler reads of a route's body schema (lib/schemas.ts actionBody): `data.type`'s constant. */
interface BodySchema { properties?: { data?: { properties?: { type?: { const?: string } } } } }

/** The error handler of the plugin's own routes (and of the guard's answers). */
export function jsonApiErrorHandler (this: unknown, error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const body = toJsonApiError(error, (request.routeOptions.schema?.body as BodySchema | undefined)?.properties?.data?.properties?.type?.const)
  if (body.status >= 500) {
    request.log.error({ err: error }, 'fastify-glue-mfa: request failed')
  }
  return sendJsonApiError(reply, body, (error as { retryAfter?: number }).retryAfter)
}
