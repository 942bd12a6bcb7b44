/**
 * Adding fastify-glue-mfa to an app that already has its own authentication: @fastify/jwt
 * with RS256 (an identity service signs, this app holds the key pair) and its own token
 * payload, `{ customer_reference, email }`, mapped to the plugin's principal through the
 * `principal` option. The app's own routes keep their own `authenticate` hook; the plugin
 * adds the five MFA resources under /mfa and step-up on the writes that need it.
 *
 *   npx tsx examples/existing-app.ts      (listens on 127.0.0.1:3001, prints a token)
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import glueMfa, { emailProvider, memoryRepository, totpProvider, type CodeMessage, type MfaRepository, type Principal } from '../lib/index.js'

/** The token payload this app has always used; not the plugin's default (`sub`). */
export interface ShopTokenPayload {
  customer_reference: string
  email: string
}

export interface ExistingAppOptions {
  /** Delivers email codes (your mailer). */
  sendCode: (message: CodeMessage) => Promise<void> | void
  /** HMAC key of codes at rest, at least 32 bytes. */
  codeSecret: string | Buffer
  repository?: MfaRepository
  /** The RS256 key pair in PEM [a fresh one, made at startup]. In real life: from your key store. */
  keys?: { privateKey: string, publicKey: string }
  logger?: FastifyServerOptions['logger']
  clock?: () => number
}

/** Maps this app's payload to the plugin's principal; anything else is "no identifier" (5905). */
export function principalFromShopToken (payload: Partial<ShopTokenPayload> | undefined): Principal | null {
  const reference = payload?.customer_reference
  if (typeof reference !== 'string' || reference === '') return null
  return { id: reference, email: typeof payload?.email === 'string' ? payload.email : undefined }
}

/** An RS256 key pair in PEM, made with node:crypto. */
export function generateRs256Keys (): { privateKey: string, publicKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' }
  })
}

/** The existing app, with the plugin added. */
export async function buildExistingApp (options: ExistingAppOptions): Promise<FastifyInstance> {
  const { privateKey, publicKey } = options.keys ?? generateRs256Keys()

  const app = Fastify({ logger: options.logger ?? false })

  // What the app already had: RS256 tokens, verified with the public key only (fast-jwt then
  // refuses HS256 tokens "signed" with the public key, and `none`).
  await app.register(fastifyJwt, {
    secret: { private: privateKey, public: publicKey },
    sign: { algorithm: 'RS256', expiresIn: '1h' },
    verify: { algorithms: ['RS256'] }
  })
  async function authenticate (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    try {
      await request.jwtVerify()
    } catch {
      return await reply.code(401).send({ message: 'unauthorized' })
    }
  }

  // What this example adds: the plugin, told how to read the app's payload.
  await app.register(glueMfa, {
    providers: [emailProvider({ send: options.sendCode }), totpProvider({ issuer: 'Existing Shop' })],
    repository: options.repository ?? memoryRepository(),
    codeSecret: options.codeSecret,
    principal: principalFromShopToken,
    prefix: '/mfa',
    protectedResources: ['addresses'],
    clock: options.clock
  })

  // The app's own routes, unchanged but for step-up where it matters.
  app.get('/profile', { onRequest: authenticate }, async (request) => {
    const { customer_reference: customer, email } = request.user as ShopTokenPayload
    return { customer, email }
  })

  // A write on a protected resource type: step-up attached by protectedResources: ['addresses'].
  app.patch('/customers/:customerReference/addresses/:id', { onRequest: authenticate }, async (request) => {
    const { id } = request.params as { id: string }
    return { id, updated: true }
  })

  // One route protected explicitly, whatever its resource type.
  app.post('/checkout', { onRequest: authenticate, preHandler: app.requireMfa }, async (request, reply) => {
    return await reply.code(201).send({ order: randomUUID(), customer: request.principal?.id })
  })

  return app
}

function runDirectly (): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (runDirectly()) {
  const app = await buildExistingApp({
    // A stand-in mailer: never print codes outside a demo.
    sendCode: ({ principal, code }) => { console.log(`mail to ${principal.email ?? principal.id}: your code is ${code}`) },
    codeSecret: process.env.MFA_CODE_SECRET ?? 'existing-app-DEV-ONLY-code-secret-0123456789',
    logger: true
  })
  await app.listen({ port: Number(process.env.PORT ?? 3001), host: process.env.HOST ?? '127.0.0.1' })
  const token = app.jwt.sign({ customer_reference: 'DE--42', email: 'demo@example.com' })
  console.log(`\nAn RS256 token of this app (customer DE--42):\n  TOKEN=${token}\n  curl -s http://127.0.0.1:${Number(process.env.PORT ?? 3001)}/mfa/multi-factor-auth-types -H "Authorization: Bearer $TOKEN"\n`)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
  }
}
