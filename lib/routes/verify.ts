import type { FastifyInstance } from 'fastify'
import { RESOURCES } from '../schemas.js'
import { actionRoute } from './action.js'
import type { RouteContext } from './context.js'

export function verifyRoute (app: FastifyInstance, ctx: RouteContext): void {
  actionRoute(app, ctx, {
    resource: RESOURCES.verify,
    summary: 'Verify an MFA type',
    description: 'Completes activation of a pending type with the code in X-MFA-Code; the type becomes enabled.',
    provisions: false,
    codeRequired: true,
    async run (log, { caller, type, code }) {
      await ctx.service.verify({ log, caller, type, code })
      return undefined
    }
  })
}
