import { Type, type Static } from '@sinclair/typebox'
import { JSON_API_TYPE } from './jsonapi.js'
import type { StatusFormat } from './options.js'

/** The five resource names: the route path and the body's `data.type`. */
export const RESOURCES = {
  list: 'multi-factor-auth-types',
  activate: 'multi-factor-auth-type-activate',
  verify: 'multi-factor-auth-type-verify',
  deactivate: 'multi-factor-auth-type-deactivate',
  trigger: 'multi-factor-auth-trigger'
} as const

/**
 * Media types for the OpenAPI document: @fastify/swagger reads `consumes` and `produces` from a
 * route schema (Fastify ignores both), so the document says what the routes really speak.
 */
export const MEDIA_TYPES = {
  consumes: [JSON_API_TYPE, 'application/json'],
  produces: [JSON_API_TYPE]
}

export const ErrorObject = Type.Object({
  code: Type.Optional(Type.String({ description: 'Glue error code, e.g. "5901"' })),
  status: Type.Integer({ description: 'The HTTP status, repeated' }),
  detail: Type.String()
})

export const ErrorDocument = Type.Object({
  errors: Type.Array(ErrorObject, { minItems: 1 })
}, { description: 'JSON:API error document' })

/** Statuses the four POST resources can answer with an error document. */
export const POST_ERROR_STATUSES = [400, 401, 403, 404, 413, 415, 429, 500] as const

/** Statuses the list can answer with an error document: a GET has no body, so never 413 or 415. */
export const LIST_ERROR_STATUSES = [400, 401, 403, 404, 429, 500] as const

/** The error documents of a route, one per status. */
export function errorResponses<Status extends number> (statuses: readonly Status[]): Record<Status, typeof ErrorDocument> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorDocument])) as Record<Status, typeof ErrorDocument>
}

/** The 204 answer: nothing is sent (documented as `null`, which OpenAPI shows as no content). */
export const NoContent = Type.Unsafe<undefined>({ type: 'null', description: 'Done' })

export function listResponse (statusFormat: StatusFormat) {
  const status = statusFormat === 'label'
    ? Type.String({ description: '"deactivated", "activation is pending" or "activated"' })
    : Type.Integer({ description: '0 disabled, 1 activation pending, 2 enabled', minimum: 0, maximum: 2 })
  return Type.Object({
    data: Type.Array(Type.Object({
      type: Type.Literal(RESOURCES.list),
      id: Type.String({ description: 'The MFA type name' }),
      attributes: Type.Object({ type: Type.String(), status })
    })),
    links: Type.Object({ self: Type.String() })
  }, { description: 'The MFA types with this principal\'s status of each' })
}

/**
 * The POST body. Only the JSON:API frame is checked here ("Post data is invalid." /
 * "Invalid type."); `attributes.type` is checked by the handler, after the principal and
 * the code header, as the documented order of checks wants (5902 comes late). An
 * `attributes.type` that is not a string counts as absent (see the action route), so the
 * schema can say what a client must send: a string.
 */
export function actionBody<Resource extends string> (resource: Resource) {
  return Type.Object({
    data: Type.Object({
      type: Type.Literal(resource),
      attributes: Type.Object({
        type: Type.Optional(Type.String({ description: 'The MFA type name, e.g. "email"' }))
      })
    })
  })
}

/** A POST body as the handlers see it once validated. */
export type ActionBody<Resource extends string = string> = Static<ReturnType<typeof actionBody<Resource>>>

export const CodeHeaders = Type.Object({
  'x-mfa-code': Type.Optional(Type.String({ description: 'The MFA code (an email, authenticator-app or recovery code), or a passkey response as base64url-encoded JSON; at most 8192 characters' }))
})

/** One value of a 201 answer's attributes: a string, a list of strings, or an object (a passkey's options, as the browser takes them). */
const ProvisioningValue = Type.Union([
  Type.String(),
  Type.Array(Type.String()),
  Type.Object({}, { additionalProperties: true })
])

const PROVISIONING_DESCRIPTIONS: Record<string, string> = {
  [RESOURCES.activate]: 'What to show once: an authenticator-app type\'s secret and otpauthUri (TOTP), the codes to save (recovery codes), or the registration options of a passkey',
  [RESOURCES.trigger]: 'A passkey type\'s authentication options, with a fresh single-use challenge'
}

/** The 201 answer of activate (what to show once) and trigger (a passkey's challenge). */
export function provisioningResponse<Resource extends string> (resource: Resource) {
  return Type.Object({
    data: Type.Object({
      type: Type.Literal(resource),
      id: Type.String(),
      attributes: Type.Record(Type.String(), ProvisioningValue)
    })
  }, { description: PROVISIONING_DESCRIPTIONS[resource] })
}
