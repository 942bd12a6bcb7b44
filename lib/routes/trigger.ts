import type { FastifyInstance } from 'fastify'
import { RESOURCES } from '../schemas.js'
import { actionRoute } from './action.js'
import type { RouteContext } from './context.js'

export function triggerRoute (app: FastifyInstance, ctx: RouteContext): void {
  actionRoute(app, ctx, {
    resource: RESOURCES.trigger,
    summary: 'Send an MFA code',
    description: 'Sends a fresh code for an enabled type (superseding the previous one), at most once per resend cooldown (204). Authenticator-app types send nothing. A passkey type answers 201 with fresh authentication options (a single-use challenge) in attributes.options instead.',
    provisions: true,
    codeRequired: false,
    async run (log, { caller, type }) {
      const result = await ctx.service.trigger({ log, caller, type })
      if (result === null) return undefined
      return { data: { type: RESOURCES.trigger, id: type, attributes: { type, ...result.provisioning } } }
    }
  })
}
