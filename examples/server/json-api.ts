/**
 * The JSON:API side of the demo's own routes: the media type, error documents, the app's error
 * and not-found handlers, and the schema pieces the demo routes are documented with. (The MFA
 * routes have the plugin's own handler.)
 */
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

export const JSON_API = 'application/vnd.api+json'

export function jsonApiError (reply: FastifyReply, status: number, detail: string, code?: string): FastifyReply {
  return reply.code(status).type(JSON_API).send({ errors: [code === undefined ? { status, detail } : { code, status, detail }] })
}

/** JSON:API answers for the demo's own routes. */
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

/** The app-wide error and not-found answers, and JSON:API request bodies read like plain JSON. */
export function useJsonApi (app: FastifyInstance): void {
  app.setErrorHandler(demoErrorHandler)
  app.setNotFoundHandler((_request, reply) => jsonApiError(reply, 404, 'Not Found.'))
  // Glue clients send JSON:API bodies; the demo routes take them like plain JSON.
  app.addContentTypeParser(JSON_API, { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'))
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

/** Response schemas: an error document for each status. */
export function errors (...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorDocument]))
}

/** A JSON:API request body: `{ data: { type, attributes } }`. */
export function resourceBody (type: string, attributes: Record<string, unknown>, required: string[]): Record<string, unknown> {
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

/** A JSON:API resource document in a response. */
export function resourceResponse (type: string, description: string, attributes: Record<string, unknown>): Record<string, unknown> {
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

/** The `X-MFA-Code` header of a protected demo route, for the documentation. */
export const MFA_CODE_HEADER = { type: 'object', properties: { 'x-mfa-code': { type: 'string', description: 'The MFA code' } } }
