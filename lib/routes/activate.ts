import type { FastifyInstance } from 'fastify'
import { RESOURCES } from '../schemas.js'
import { actionRoute } from './action.js'
import type { RouteContext } from './context.js'

export function activateRoute (app: FastifyInstance, ctx: RouteContext): void {
  actionRoute(app, ctx, {
    resource: RESOURCES.activate,
    summary: 'Activate an MFA type',
    description: 'Starts activation: the type becomes pending and a code is sent (204). An authenticator-app type answers 201 with its secret and otpauth URI instead. When another type is already enabled, a code of that type must come in X-MFA-Code.',
    codeRequired: false,
    provisions: true,
    async run (log, { caller, type, code }) {
      const result = await ctx.service.activate({ log, caller, type, code })
      if (result === null) return undefined
      return { data: { type: RESOURCES.activate, id: type, attributes: { type, ...result.provisioning } } }
    }
  })
}
