import type { Authenticator } from '../principal.js'
import type { ResolvedOptions } from '../options.js'
import type { MfaService } from '../service.js'

/** What every route module gets from the plugin. */
export interface RouteContext {
  options: ResolvedOptions
  auth: Authenticator
  service: MfaService
}

/** The routes' `config`: @fastify/rate-limit reads `config.rateLimit` of each route it sees added. */
export function routeConfig (ctx: RouteContext): { rateLimit: Record<string, unknown> | false } | undefined {
  return ctx.options.rateLimit === undefined ? undefined : { rateLimit: ctx.options.rateLimit }
}
