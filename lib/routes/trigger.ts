import type { FastifyInstance } from 'fastify'
import { RESOURCES } from '../schemas.js'
import { actionRoute } from './action.js'
import type { RouteContext } from './context.js'

export function triggerRoute (app: FastifyInstance, ctx: RouteContext): void {
  actionRoute(app, ctx, {
    resource: RESOURCES.trigger,
    summary: 'Send an MFA code',
    description: 'Sends a fresh code for an enabled type (superseding the previous one), at most once per resend cooldown. Authenticator-app types send nothing.',
    provisions: false,
    codeRequired: false,
    async run (log, { caller, type }) {
      await ctx.service.trigger({ log, caller, type })
      return undefined
    }
  })
}
