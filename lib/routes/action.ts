import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { MfaErrors } from '../errors.js'
import { JSON_API_TYPE } from '../jsonapi.js'
import { codeHeader } from '../principal.js'
import type { Caller } from '../service.js'
import { actionBody, CodeHeaders, errorResponses, MEDIA_TYPES } from '../schemas.js'
import { routeConfig, type RouteContext } from './context.js'

interface ActionBody {
  data: { type: string, attributes: { type?: unknown } }
}

/** What one POST resource does once the request is known to be well-formed. */
export interface ActionSpec {
  resource: string
  summary: string
  description: string
  /** Verify and deactivate always need the code, checked right after the principal. */
  codeRequired: boolean
  /** Extra success responses (activate answers 201 for computed types). */
  responses?: Record<number, unknown>
  run: (request: FastifyRequest, reply: FastifyReply, input: { caller: Caller, type: string, code: string }) => Promise<unknown>
}

/** The skeleton the four POST resources share: schema, then the checks in the documented order. */
export function actionRoute (app: FastifyInstance, ctx: RouteContext, spec: ActionSpec): void {
  app.post(`/${spec.resource}`, {
    schema: {
      summary: spec.summary,
      description: spec.description,
      tags: ['multi-factor authentication'],
      security: [{ bearerAuth: [] }],
      ...MEDIA_TYPES,
      body: actionBody(spec.resource),
      headers: CodeHeaders,
      response: { 204: { type: 'null', description: 'Done' }, ...spec.responses, ...errorResponses() }
    },
    config: routeConfig(ctx)
  }, async (request, reply) => {
    const caller: Caller = {
      principal: await ctx.auth.requirePrincipal(request),
      tokenId: ctx.auth.tokenIdOf(request),
      signedInAt: ctx.auth.signedInAt(request)
    }
    const code = codeHeader(request)
    if (spec.codeRequired && code === '') throw new MfaErrors.CodeMissing()
    const type = (request.body as ActionBody).data.attributes.type
    if (typeof type !== 'string' || type === '') throw new MfaErrors.TypeMissing()
    const result = await spec.run(request, reply, { caller, type, code })
    if (result === undefined) return reply.code(204).send()
    return reply.type(JSON_API_TYPE).send(result)
  })
}
