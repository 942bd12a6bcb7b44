import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { JSON_API_TYPE } from '../jsonapi.js'
import { errorResponses, LIST_ERROR_STATUSES, listResponse, MEDIA_TYPES, RESOURCES } from '../schemas.js'
import { MFA_STATUS_LABELS } from '../status.js'
import { routeConfig, type RouteContext } from './context.js'

/** GET /multi-factor-auth-types: every MFA type with this principal's status (the seed page). */
export function listRoute (app: FastifyInstance, ctx: RouteContext): void {
  const self = `${app.prefix}/${RESOURCES.list}`
  const label = ctx.options.statusFormat === 'label'
  app.withTypeProvider<TypeBoxTypeProvider>().get(`/${RESOURCES.list}`, {
    schema: {
      summary: 'Retrieve MFA methods',
      description: 'Lists the available MFA types with the status of each for the authenticated customer or user: 0 disabled, 1 activation pending, 2 enabled.',
      tags: ['multi-factor authentication'],
      security: [{ bearerAuth: [] }],
      produces: MEDIA_TYPES.produces,
      response: { 200: listResponse(ctx.options.statusFormat), ...errorResponses(LIST_ERROR_STATUSES) }
    },
    config: routeConfig(ctx)
  }, async (request, reply) => {
    // The principal as authentication hands it over (5905/5909, 5907/5908 when there is none).
    const principal = await ctx.auth.requirePrincipal(request)
    const types = await ctx.service.list(principal)
    const data = types.map(({ type, status }) => ({
      type: RESOURCES.list,
      id: type,
      attributes: { type, status: label ? MFA_STATUS_LABELS[status] : status }
    }))
    return reply.type(JSON_API_TYPE).send({ data, links: { self } })
  })
}
