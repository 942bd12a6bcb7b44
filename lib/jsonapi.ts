import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { glueCodeOf } from './errors.js'

// The JSON:API wire format of the plugin's answers: the media type, the error documents and the
// error handler that turns any error into one. The Glue error catalogue itself is errors.ts's.

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

// The two body errors Glue answers without a code, raised by schema validation.
// A wrong `data.type` keeps Glue's exact 'Invalid type.' first and names the expected type after it.
const POST_DATA_INVALID = 'Post data is invalid.'
const INVALID_TYPE = 'Invalid type.'

const fastifyDetails: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: `Unsupported content type. Use ${JSON_API_TYPE} or application/json.`,
  FST_ERR_CTP_BODY_TOO_LARGE: 'Request body is too large.',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Request body length is invalid.',
  FST_ERR_CTP_EMPTY_JSON_BODY: POST_DATA_INVALID,
  FST_ERR_CTP_INVALID_JSON_BODY: POST_DATA_INVALID,
  FST_GLUE_MFA_CODE_TOO_LONG: 'X-MFA-Code is too long.'
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
  const glue = glueCodeOf(error)
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
  const code = error.code
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
