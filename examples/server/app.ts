/**
 * The example app: the JSON:API answers, the OpenAPI document, per-IP throttling of the MFA
 * routes, the storefront and the back office (each its own MFA surface), and the dev outbox.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyRateLimit from '@fastify/rate-limit'
import type { CodeMessage, GlueMfaAdmin, MfaEvent } from '../../lib/index.js'
import { backOffice } from './back-office.js'
import { useJsonApi } from './json-api.js'
import { registerOpenApi } from './openapi.js'
import { DevOutbox, registerOutboxRoute, type OutboxMessage } from './outbox.js'
import { repositoriesFor, resolveSettings, type DemoServerOptions } from './settings.js'
import { storefront } from './storefront.js'
import { registerWebPage } from '../web.js'

/**
 * Builds the demo app (not listening). Throws when a production-mode server lacks its
 * secrets, so nothing starts with a dev-only key.
 */
export async function buildServer (options: DemoServerOptions = {}): Promise<FastifyInstance> {
  const settings = resolveSettings(options)
  const app = Fastify({ logger: options.logger ?? true })
  const outbox = new DevOutbox()
  const repositories = repositoriesFor(settings.database, settings.tablePrefix)

  /** The email type's `send` for one surface: your mailer, else the dev outbox, else a delivery failure. */
  function deliver (surface: OutboxMessage['surface']): (message: CodeMessage) => Promise<void> {
    return async (message) => {
      if (settings.mailer !== undefined) return await settings.mailer(message)
      if (!settings.outbox) throw new Error('no mailer configured, and the dev outbox is off')
      const sent = outbox.add(surface, message, settings.clock())
      app.log.info({ devOutbox: { id: sent.id, surface, to: sent.to, type: sent.mfaType } },
        `dev outbox: code for ${sent.principal} (${sent.to}, ${surface} ${sent.mfaType}) is ${sent.code}`)
    }
  }

  useJsonApi(app)
  await registerOpenApi(app)
  // Per-IP throttling of the MFA routes: registered here, before both surfaces, and applied
  // only where a route asks for it (the plugin's `rateLimit` option does, for its five routes).
  await app.register(fastifyRateLimit, { global: false })

  /** Tells users out of band when their MFA changes (a notification in the dev outbox). */
  function notifier (surface: OutboxMessage['surface']): (event: MfaEvent) => void {
    return (event) => { if (settings.outbox) outbox.notify(surface, event) }
  }

  const { jwtSecret, codeSecret, rateLimit, clock, passkey } = settings
  // The back office resets customers' MFA through the storefront registration's admin API.
  let customerMfa: GlueMfaAdmin | undefined
  await app.register(storefront({
    jwtSecret,
    codeSecret,
    rateLimit,
    clock,
    passkey,
    repository: repositories.storefront,
    send: deliver('storefront'),
    notify: notifier('storefront'),
    exposeAdmin: (admin) => { customerMfa = admin }
  }))
  await app.register(backOffice({
    jwtSecret,
    codeSecret,
    rateLimit,
    clock,
    passkey,
    repository: repositories.backend,
    send: deliver('backend'),
    notify: notifier('backend'),
    customerMfa: () => customerMfa as GlueMfaAdmin
  }))

  if (settings.outbox) {
    registerOutboxRoute(app, outbox)
  } else if (settings.mailer === undefined) {
    app.log.warn('no mailer configured: email codes cannot be delivered (activate/trigger answer 5910); TOTP works')
  }
  await registerWebPage(app, { outbox: settings.outbox, passkey: settings.passkey })

  return app
}
