import type { FastifyInstance } from 'fastify'
import { JSON_API_TYPE } from '../jsonapi.js'
import type { Principal } from '../principal.js'
import { errorResponses, listResponse, MEDIA_TYPES, RESOURCES } from '../schemas.js'
import { MFA_STATUS_LABELS } from '../status.js'
import { routeConfig, type RouteContext } from './context.js'

/** GET /multi-factor-auth-types: every MFA type with this principal's status (the seed page). */
export function listRoute (app: FastifyInstance, ctx: RouteContext): void {
  const self = `${app.prefix}/${RESOURCES.list}`
  const label = ctx.options.statusFormat === 'label'
  app.get(`/${RESOURCES.list}`, {
    schema: {
      summary: 'Retrieve MFA methods',
      description: 'Lists the available MFA types with the status of each for the authenticated customer or user: 0 disabled, 1 activation pending, 2 enabled.',
      tags: ['multi-factor authentication'],
      security: [{ bearerAuth: [] }],
      produces: MEDIA_TYPES.produces,
      response: { 200: listResponse(ctx.options.statusFormat), ...errorResponses() }
    },
    config: routeConfig(ctx),
    preHandler: async (request) => { await ctx.auth.requirePrincipal(request) }
  }, async (request, reply) => {
    const types = await ctx.service.list(request.principal as Principal)
    const data = types.map(({ type, status }) => ({
      type: RESOURCES.list,
      id: type,
      attributes: { type, status: label ? MFA_STATUS_LABELS[status] : status }
    }))
    return reply.type(JSON_API_TYPE).send({ data, links: { self } })
  })
}
