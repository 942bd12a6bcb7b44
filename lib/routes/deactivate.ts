import type { FastifyInstance } from 'fastify'
import { RESOURCES } from '../schemas.js'
import { actionRoute } from './action.js'
import type { RouteContext } from './context.js'

export function deactivateRoute (app: FastifyInstance, ctx: RouteContext): void {
  actionRoute(app, ctx, {
    resource: RESOURCES.deactivate,
    summary: 'Deactivate an MFA type',
    description: 'Disables an enabled type; needs a valid code of that type in X-MFA-Code. All codes of the type stop working.',
    provisions: false,
    codeRequired: true,
    async run (log, { caller, type, code }) {
      await ctx.service.deactivate({ log, caller, type, code })
      return undefined
    }
  })
}
