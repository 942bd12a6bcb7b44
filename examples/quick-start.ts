import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import glueMfa, { emailProvider, memoryRepository, totpProvider } from '../lib/index.js'

const app = Fastify({ logger: true })

// Your authentication: the plugin reads the principal from the verified JWT (`sub` by default).
await app.register(fastifyJwt, { secret: process.env.JWT_SECRET ?? 'dev-only-jwt-secret-change-me-0123456789' })

await app.register(glueMfa, {
  providers: [
    emailProvider({
      // Your mailer goes here. This stand-in prints the code: never do that in production.
      send: async ({ principal, code }) => { console.log(`mail to ${principal.id}: your code is ${code}`) }
    }),
    totpProvider({ issuer: 'My Shop' })
  ],
  repository: memoryRepository(), // or sqliteRepository({ filename }) / postgresRepository({ connectionString })
  codeSecret: process.env.MFA_CODE_SECRET ?? randomBytes(32), // >= 32 bytes; random only suits memory state
  protectedResources: ['carts'] // writes to /carts need X-MFA-Code once MFA is on
})

app.post('/carts', async (request, reply) => reply.code(201).send({ cart: 'created' }))
app.post('/orders', { preHandler: app.requireMfa }, async () => ({ order: 'placed' }))

await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })
console.log(`try: curl -s ${app.listeningOrigin}/multi-factor-auth-types -H "Authorization: Bearer ${app.jwt.sign({ sub: 'customer-1' })}"`)
