import { test } from 'tap'
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import glueMfa, { emailProvider, memoryRepository, type GlueMfaOptions } from '../lib/index.js'
import { CODE_SECRET, JWT_SECRET, list, post, statuses, Outbox } from './helpers.js'
import { inspectMemory } from '../lib/repositories/memory.js'

const send = async (): Promise<void> => {}
const valid = (): GlueMfaOptions => ({ providers: [emailProvider({ send })], repository: memoryRepository(), codeSecret: CODE_SECRET })

async function registerWith (options: unknown): Promise<Error | null> {
  const app = Fastify()
  await app.register(fastifyJwt, { secret: JWT_SECRET })
  app.register(glueMfa, options as GlueMfaOptions)
  try {
    await app.ready()
    return null
  } catch (err) {
    return err as Error
  } finally {
    await app.close()
  }
}

test('each bad option fails ready() with an error naming it', async (t) => {
  const { repository: _unused, ...withoutRepository } = valid()
  const cases: Array<[string, unknown, RegExp]> = [
    ['no options at all', undefined, /option "providers"/],
    ['providers missing', { ...valid(), providers: undefined }, /option "providers" must be a non-empty array/],
    ['providers empty', { ...valid(), providers: [] }, /option "providers" must be a non-empty array/],
    ['provider not an object', { ...valid(), providers: [null] }, /option "providers\[0\]" must be a provider object/],
    ['provider type bad', { ...valid(), providers: [{ kind: 'delivered', type: 'E mail', send }] }, /option "providers\[0\]\.type"/],
    ['duplicate types', { ...valid(), providers: [emailProvider({ send }), emailProvider({ send })] }, /option "providers" has the type "email" twice/],
    ['delivered without send', { ...valid(), providers: [{ kind: 'delivered', type: 'sms' }] }, /option "providers\[0\]\.send" must be a function/],
    ['computed without match', { ...valid(), providers: [{ kind: 'computed', type: 'totp', createSecret: () => 'x', provisioning: () => ({}) }] }, /option "providers\[0\]\.match" must be a function/],
    ['unknown kind', { ...valid(), providers: [{ kind: 'carrier-pigeon', type: 'bird' }] }, /option "providers\[0\]\.kind"/],
    ['repository missing', withoutRepository, /option "repository" is required: a repository object such as memoryRepository\(\)/],
    ['repository null', { ...valid(), repository: null }, /option "repository" is required/],
    // A name where the object belongs: the message says which object, and what it got.
    ['repository a name', { ...valid(), repository: 'memory' }, /option "repository" must be a repository object such as memoryRepository\(\), sqliteRepository\(\{ filename \}\) or postgresRepository\(\{ connectionString \}\), not the string "memory"$/],
    ['repository a number', { ...valid(), repository: 5 }, /option "repository" must be a repository object .*, not the number 5$/],
    ['repository the factory itself', { ...valid(), repository: memoryRepository }, /option "repository" must be a repository object, not a function: call it, e.g. memoryRepository\(\)/],
    ['repository missing a method', { ...valid(), repository: { ...memoryRepository(), admit: undefined } }, /option "repository" is missing the method "admit"/],
    ['repository with a getStatuses that is not a function', { ...valid(), repository: { ...memoryRepository(), getStatuses: true } }, /option "repository" has a "getStatuses" that is not a function/],
    ['repository with a close that is not a function', { ...valid(), repository: { ...memoryRepository(), close: 'yes' } }, /option "repository" has a "close" that is not a function/],
    ['codeSecret missing', { ...valid(), codeSecret: undefined }, /option "codeSecret" is required/],
    ['codeSecret short', { ...valid(), codeSecret: 'x'.repeat(31) }, /option "codeSecret" must be at least 32 bytes long \(got 31\)/],
    ['codeSecret short Buffer', { ...valid(), codeSecret: Buffer.alloc(16) }, /option "codeSecret" must be at least 32 bytes long \(got 16\)/],
    ['unknown surface', { ...valid(), surface: 'admin' }, /option "surface" must be one of "storefront", "backend"/],
    ['unknown statusFormat', { ...valid(), statusFormat: 'emoji' }, /option "statusFormat" must be one of "number", "label"/],
    ['principal not a function', { ...valid(), principal: 'sub' }, /option "principal" must be a function/],
    ['findPrincipal not a function', { ...valid(), findPrincipal: true }, /option "findPrincipal" must be a function/],
    ['clock not a function', { ...valid(), clock: 5 }, /option "clock" must be a function/],
    ['onEvent not a function', { ...valid(), onEvent: {} }, /option "onEvent" must be a function/],
    ['protectedResources not an array', { ...valid(), protectedResources: 'carts' }, /option "protectedResources" must be an array/],
    ['protectedResources with an empty name', { ...valid(), protectedResources: [''] }, /option "protectedResources"/],
    ['prefix without slash', { ...valid(), prefix: 'backend' }, /option "prefix" must be a path/],
    ['prefix with a parameter', { ...valid(), prefix: '/:tenant' }, /option "prefix" must be a path/],
    ['codeLength too short', { ...valid(), codeLength: 3 }, /option "codeLength" must be an integer from 4 to 12/],
    ['codeTtl not an integer', { ...valid(), codeTtl: 1.5 }, /option "codeTtl" must be an integer/],
    ['maxAttempts zero', { ...valid(), maxAttempts: 0 }, /option "maxAttempts" must be an integer from 1 to 100/],
    ['resendCooldown negative', { ...valid(), resendCooldown: -1 }, /option "resendCooldown"/],
    ['principalLockout not an object', { ...valid(), principalLockout: 10 }, /option "principalLockout" must be \{ failures, duration, maxDuration \}/],
    ['principalLockout null', { ...valid(), principalLockout: null }, /option "principalLockout" must be \{ failures, duration, maxDuration \}/],
    ['principalLockout.failures zero', { ...valid(), principalLockout: { failures: 0 } }, /option "principalLockout\.failures" must be an integer from 1/],
    ['principalLockout.duration tiny', { ...valid(), principalLockout: { duration: 10 } }, /option "principalLockout\.duration" must be an integer from 1000/],
    ['principalLockout.maxDuration below duration', { ...valid(), principalLockout: { duration: 60_000, maxDuration: 59_999 } }, /option "principalLockout\.maxDuration" must be an integer from 60000/],
    // 0.1.0's key: refused, naming the keys that replace it.
    ['principalLockout.window (0.1.0)', { ...valid(), principalLockout: { failures: 5, window: 60_000 } }, /option "principalLockout\.window" was replaced in 0\.2\.0 .*"duration".*"maxDuration"/],
    ['principalLockout with an unknown key', { ...valid(), principalLockout: { failure: 5 } }, /option "principalLockout\.failure" is not an option \(use "failures", "duration", "maxDuration"\)/],
    ['rateLimit not an object', { ...valid(), rateLimit: 10 }, /option "rateLimit" must be @fastify\/rate-limit route options, e\.g\. \{ max: 10, timeWindow: '1 minute' \}, or false/],
    ['rateLimit null', { ...valid(), rateLimit: null }, /option "rateLimit" must be @fastify\/rate-limit route options/],
    ['rateLimit an array', { ...valid(), rateLimit: [10] }, /option "rateLimit" must be @fastify\/rate-limit route options/],
    ['rateLimit true', { ...valid(), rateLimit: true }, /option "rateLimit" must be @fastify\/rate-limit route options/],
    // Unknown keys name the nearest known one, and come before any other problem.
    ['a misspelt key', { ...valid(), codeLenght: 8 }, /option "codeLenght" is not an option: did you mean "codeLength"\?$/],
    ['a key in the wrong case', { ...valid(), codelength: 8 }, /option "codelength" is not an option: did you mean "codeLength"\?$/],
    ['a singular key', { ...valid(), provider: [] }, /option "provider" is not an option: did you mean "providers"\?$/],
    ['a misspelt key among bad options', { codeSecert: 'x' }, /option "codeSecert" is not an option: did you mean "codeSecret"\?$/],
    ['a key near nothing', { ...valid(), database: 'memory' }, /option "database" is not an option \(the options: providers, repository, .*, onEvent, rateLimit, logLevel, logSerializers\)$/]
  ]
  for (const [name, options, message] of cases) {
    const error = await registerWith(options)
    t.match(error?.message, message, name)
    t.equal((error as { code?: string } | null)?.code, 'FST_GLUE_MFA_INVALID_OPTION', `${name}: error code`)
  }
  t.equal(await registerWith(valid()), null, 'valid options start')
  t.equal(await registerWith({ ...valid(), logLevel: 'warn', logSerializers: { req: () => 'r' } }), null, 'Fastify\'s own registration options are accepted')
  t.equal(await registerWith({ ...valid(), prefix: '/', codeSecret: Buffer.alloc(32, 1), principalLockout: {} }), null, 'defaults fill partial options')
  t.equal(await registerWith({ ...valid(), principalLockout: { duration: 72 * 3_600_000 } }), null, 'a first lock longer than 48 h raises the default cap to it')
})

test('emailProvider checks its own options', async (t) => {
  t.throws(() => emailProvider({} as never), /option "emailProvider\.send" must be a function/)
  t.equal(emailProvider({ send, type: 'mail' }).type, 'mail')
})

test('@fastify/jwt must be registered first', async (t) => {
  const app = Fastify()
  app.register(glueMfa, valid())
  await t.rejects(async () => { await app.ready() }, /@fastify\/jwt/)
})

test('registering twice in one context is refused with a clear error', async (t) => {
  const app = Fastify()
  await app.register(fastifyJwt, { secret: JWT_SECRET })
  app.register(glueMfa, valid())
  app.register(glueMfa, { ...valid(), prefix: '/backend' })
  await t.rejects(async () => { await app.ready() }, { code: 'FST_GLUE_MFA_ALREADY_REGISTERED' })
})

test('storefront and backend under two prefixes keep separate providers, repositories and codes', async (t) => {
  const app = Fastify()
  const storefrontOutbox = new Outbox()
  const backendOutbox = new Outbox()
  const storefrontRepository = memoryRepository()
  const backendRepository = memoryRepository()
  // Each surface in its own encapsulated context, each with its own JWT key.
  await app.register(async (storefront) => {
    await storefront.register(fastifyJwt, { secret: JWT_SECRET })
    await storefront.register(glueMfa, { providers: [emailProvider({ send: storefrontOutbox.send })], repository: storefrontRepository, codeSecret: CODE_SECRET })
  })
  await app.register(async (backend) => {
    await backend.register(fastifyJwt, { secret: `${JWT_SECRET}-backend` })
    await backend.register(glueMfa, {
      surface: 'backend',
      prefix: '/backend',
      providers: [emailProvider({ send: backendOutbox.send, type: 'mail' })],
      repository: backendRepository,
      codeSecret: CODE_SECRET
    })
  })
  await app.ready()
  t.teardown(() => app.close())

  const storefrontSigner = Fastify()
  await storefrontSigner.register(fastifyJwt, { secret: JWT_SECRET })
  const customer = storefrontSigner.jwt.sign({ sub: 'same-id' })
  const backendSigner = Fastify()
  await backendSigner.register(fastifyJwt, { secret: `${JWT_SECRET}-backend` })
  const user = backendSigner.jwt.sign({ sub: 'same-id' })

  t.same(statuses(await list(app, customer)), { email: 0 })
  t.same(statuses(await list(app, user, '/backend')), { mail: 0 })
  t.equal((await list(app, customer, '/backend')).statusCode, 401, 'a storefront token is no backend token')

  t.equal((await post(app, 'multi-factor-auth-type-activate', user, { prefix: '/backend', type: 'mail' })).statusCode, 204)
  t.equal(backendOutbox.messages.length, 1)
  t.equal(storefrontOutbox.messages.length, 0)
  t.same(statuses(await list(app, customer)), { email: 0 }, 'the storefront repository is untouched')
  t.same(statuses(await list(app, user, '/backend')), { mail: 1 })
  t.equal(inspectMemory(storefrontRepository).records.size, 0)

  const noId = backendSigner.jwt.sign({ name: 'x' })
  const res = await list(app, noId, '/backend')
  t.equal(res.json().errors[0].code, '5909', 'backend surface answers 5909')
  t.equal((await list(app, storefrontSigner.jwt.sign({ name: 'x' }))).json().errors[0].code, '5905', 'storefront answers 5905')
  await backendSigner.close()
  await storefrontSigner.close()
})
