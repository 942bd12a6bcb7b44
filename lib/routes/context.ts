import type { Authenticator } from '../principal.js'
import type { ResolvedOptions } from '../options.js'
import type { MfaService } from '../service.js'

/** What every route module gets from the plugin. */
export interface RouteContext {
  options: ResolvedOptions
  auth: Authenticator
  service: MfaService
}
