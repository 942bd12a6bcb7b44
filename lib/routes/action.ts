import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Static } from '@sinclair/typebox'
import type { FastifyBaseLogger, FastifyInstance, preValidationHookHandler } from 'fastify'
import { MfaErrors } from '../errors.js'
import { JSON_API_TYPE } from '../jsonapi.js'
import { codeHeader } from '../principal.js'
import type { Caller } from '../service.js'
import { actionBody, CodeHeaders, errorResponses, MEDIA_TYPES, NoContent, POST_ERROR_STATUSES, provisioningResponse } from '../schemas.js'
import { routeConfig, type RouteContext } from './context.js'

type Provisioning = Static<ReturnType<typeof provisioningResponse<string>>>

/** What one POST resource does once the request is known to be well-formed. */
export interface ActionSpec {
  resource: string
  summary: string
  description: string
  /** Verify and deactivate always need the code, checked right after the principal. */
  codeRequired: boolean
  /** Whether the resource can answer 201 with what to show (activate: a secret, codes, a passkey's options; trigger: a passkey's challenge). */
  provisions: boolean
  /** Does the work; provisioning data it returns is answered with 201, nothing with 204. */
  run: (log: FastifyBaseLogger, input: { caller: Caller, type: string, code: string }) => Promise<Provisioning | undefined>
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

/**
 * An `attributes.type` that is not a string is no type: removed before the body is validated,
 * so that it answers 5902 in its turn, after the principal and the code header, like an absent
 * one, rather than "Post data is invalid." first (or a number or one-item array coerced into a
 * string by the validator).
 */
const dropTypeNotAString: preValidationHookHandler = function dropTypeNotAString (request, _reply, done) {
  const data = isRecord(request.body) ? request.body.data : undefined
  const attributes = isRecord(data) ? data.attributes : undefined
  if (isRecord(attributes) && typeof attributes.type !== 'string') delete attributes.type
  done()
}

/** The answers of a POST resource: 201 only for one that provisions, 204, and the error documents. */
function responses (spec: ActionSpec): { 201?: ReturnType<typeof provisioningResponse<string>>, 204: typeof NoContent } & ReturnType<typeof errorResponses<typeof POST_ERROR_STATUSES[number]>> {
  const errors = errorResponses(POST_ERROR_STATUSES)
  return spec.provisions ? { 201: provisioningResponse(spec.resource), 204: NoContent, ...errors } : { 204: NoContent, ...errors }
}

/** The skeleton the four POST resources share: schema, then the checks in the documented order. */
export function actionRoute (app: FastifyInstance, ctx: RouteContext, spec: ActionSpec): void {
  app.withTypeProvider<TypeBoxTypeProvider>().post(`/${spec.resource}`, {
    schema: {
      summary: spec.summary,
      description: spec.description,
      tags: ['multi-factor authentication'],
      security: [{ bearerAuth: [] }],
      ...MEDIA_TYPES,
      body: actionBody(spec.resource),
      headers: CodeHeaders,
      response: responses(spec)
    },
    config: routeConfig(ctx),
    preValidation: dropTypeNotAString
  }, async (request, reply) => {
    const caller: Caller = {
      principal: await ctx.auth.requirePrincipal(request),
      tokenId: ctx.auth.tokenIdOf(request),
      signedInAt: ctx.auth.signedInAt(request)
    }
    const code = codeHeader(request)
    if (spec.codeRequired && code === '') throw new MfaErrors.CodeMissing()
    const type = request.body.data.attributes.type
    if (type === undefined || type === '') throw new MfaErrors.TypeMissing()
    const created = await spec.run(request.log, { caller, type, code })
    if (created === undefined) return reply.code(204).send()
    return reply.code(201).type(JSON_API_TYPE).send(created)
  })
}
