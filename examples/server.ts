/**
 * The example server (`npm start`): a storefront and a back office, each with its own
 * @fastify/jwt and its own fastify-glue-mfa registration, demo logins, protected demo
 * resources, Swagger UI, and a dev mail outbox that shows the codes the email type sent.
 *
 * Environment:
 *   PORT [3000], HOST [127.0.0.1]   also the passkeys' relying party: on loopback or 0.0.0.0 the
 *                       page is opened on http://localhost:PORT (rpID localhost); a domain
 *                       name is the rpID, with https://HOST as the origin (a TLS proxy in front)
 *   DATABASE_URL        postgres://… → PostgreSQL; unset → SQLite file data/glue-mfa-demo.db
 *   NODE_ENV            'development' or unset → dev mode; 'production' → no outbox, no code logged
 *   MFA_DEMO_OUTBOX=0   turns the dev outbox (and the codes in the log) off in dev mode too
 *   MFA_CODE_SECRET, JWT_SECRET   required in production mode; dev mode has fixed dev-only keys
 *
 * Tests build it with `buildServer({ database: 'memory', logger: false })` and listen on port 0.
 *
 * This file starts it; the app is built in server/:
 *   app.ts          buildServer: the pieces below, in registration order
 *   settings.ts     options, the environment, the MFA stores
 *   json-api.ts     the demo routes' JSON:API errors and schema pieces
 *   openapi.ts      the OpenAPI document and Swagger UI
 *   mfa-surface.ts  one MFA surface: @fastify/jwt + fastify-glue-mfa (email, TOTP, passkey, recovery codes)
 *   storefront.ts   customers at /: login, carts, password change
 *   back-office.ts  users at /backend: login, refunds behind requireMfa
 *   accounts.ts     the demo accounts and the login check
 *   outbox.ts       the dev mail outbox
 *   log.ts          the readable dev log
 */
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { credentials, DEMO_BACKEND_USERS, DEMO_CUSTOMERS } from './server/accounts.js'
import { buildServer } from './server/app.js'
import { DEFAULT_HOST, DEFAULT_PORT, describeDatabase, LOOPBACK_HOSTS, optionsFromEnv, type PasskeyRelyingParty } from './server/settings.js'

export { buildServer } from './server/app.js'
export { DEMO_BACKEND_USERS, DEMO_CUSTOMERS } from './server/accounts.js'
export { readableLogStream } from './server/log.js'
export { DevOutbox, type OutboxMessage } from './server/outbox.js'
export {
  DEFAULT_DATABASE, DEFAULT_HOST, DEFAULT_PORT, describeDatabase, isDevMode, isOutboxEnabled, MFA_RATE_LIMIT, optionsFromEnv,
  passkeyRelyingParty, type DemoServerOptions, type PasskeyRelyingParty
} from './server/settings.js'

/**
 * The web page's address: `localhost` when the server listens on this machine's loopback or
 * every address (a browser opens that name as typed, and the page's CSP is 'self'), else `base`.
 */
function pageBase (host: string, port: number, base: string): string {
  return LOOPBACK_HOSTS.includes(host) ? `http://localhost:${port}` : base
}

/** The startup message's passkey line. */
function passkeyLine (passkey: PasskeyRelyingParty | false | undefined, page: string): string {
  if (passkey === undefined || passkey === false) return 'off: an IP address cannot be a relying party (listen on loopback, or on a domain name as HOST)'
  return passkey.rpID === 'localhost'
    ? `rpID localhost: open the page on ${page}/ (a secure context; not on 127.0.0.1)`
    : `rpID ${passkey.rpID}, origin ${passkey.origin}: serve the page there, through a TLS proxy`
}

function startupMessage (base: string, page: string, devMode: boolean, outboxOn: boolean, database: string, passkey: string): string {
  const customer = DEMO_CUSTOMERS[0]
  const user = DEMO_BACKEND_USERS[0]
  const login = JSON.stringify({ data: { type: 'access-tokens', attributes: { username: customer.username, password: customer.password } } })
  const activate = JSON.stringify({ data: { type: 'multi-factor-auth-type-activate', attributes: { type: 'email' } } })
  return `
Glue MFA demo listening on ${base} (${devMode ? 'development' : 'production'} mode, state: ${describeDatabase(database)})

  Web page            ${page}/ (storefront), ${page}/backend (back office)
  Passkeys            ${passkey}
  Storefront MFA API  ${base}/multi-factor-auth-types
  Back-office MFA API ${base}/backend/multi-factor-auth-types
  API documentation   ${base}/documentation
  ${outboxOn ? `Dev mail outbox     ${base}/dev/outbox   (codes also appear below as "dev outbox: code for …")` : `Dev mail outbox     off (${devMode ? 'MFA_DEMO_OUTBOX=0' : 'production mode'}): email codes cannot be delivered, TOTP works`}

Demo credentials
  storefront customers  ${credentials(DEMO_CUSTOMERS)}   (POST /access-tokens)
  back-office user      ${user.username} / ${user.password}   (POST /backend/token)

Try it (jq reads the token; the README walks through the whole lifecycle)
  TOKEN=$(curl -s -X POST ${base}/access-tokens -H 'Content-Type: application/vnd.api+json' -d '${login}' | jq -r .data.attributes.accessToken)
  curl -s ${base}/multi-factor-auth-types -H "Authorization: Bearer $TOKEN"
  curl -s -w '%{http_code}\\n' -X POST ${base}/multi-factor-auth-type-activate -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/vnd.api+json' -d '${activate}'
`
}

async function main (): Promise<void> {
  const options = optionsFromEnv(process.env)
  const app = await buildServer(options)
  const port = Number(process.env.PORT ?? DEFAULT_PORT)
  const host = process.env.HOST ?? DEFAULT_HOST
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.log.info(`${signal}: closing`)
      app.close().then(() => process.exit(0), (err) => {
        app.log.error({ err }, 'close failed')
        process.exit(1)
      })
    })
  }
  await app.listen({ port, host })
  const address = app.server.address()
  const shown = typeof address === 'object' && address !== null ? address.port : port
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${shown}`
  const page = pageBase(host, shown, base)
  process.stdout.write(startupMessage(base, page, options.devMode === true, options.outbox === true, options.database as string, passkeyLine(options.passkey, page)))
}

function runDirectly (): boolean {
  if (process.argv[1] === undefined) return false
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (runDirectly()) {
  main().catch((err) => {
    process.stderr.write(`glue-mfa demo: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
