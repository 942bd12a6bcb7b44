// Type tests of the public API (tstyche): what a host writes must compile, and the mistakes
// below must not. Run with `npm run test:types`.
import Fastify, { type preHandlerAsyncHookHandler } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { describe, expect, test } from 'tstyche'
import glueMfaDefault, {
  emailProvider, glueMfa, memoryRepository, MFA_STATUS, passkeyProvider, requireMfa, totpProvider,
  type GlueMfaOptions, type MfaEvent, type MfaEventName, type MfaStatus, type Principal
} from '../../lib/index.js'

const options = {
  providers: [emailProvider({ send: async ({ principal, code }) => { console.log(principal.id, code.length) } })],
  repository: memoryRepository(),
  codeSecret: 'x'.repeat(32)
}

describe('glueMfa', () => {
  test('is the default export too', () => {
    expect(glueMfaDefault).type.toBe(glueMfa)
  })

  test('registers with its options', () => {
    const app = Fastify()
    app.register(fastifyJwt, { secret: 'x'.repeat(32) })
    expect(app.register(glueMfa, options)).type.not.toRaiseError()
    expect(app.register(glueMfa, {
      ...options,
      surface: 'backend',
      prefix: '/backend',
      codeSecret: Buffer.alloc(32),
      principal: (payload: { sub: string }) => ({ id: payload.sub }),
      findPrincipal: async (principal: Principal) => principal.id !== '',
      protectedResources: ['orders'],
      statusFormat: 'label',
      principalLockout: { failures: 5 },
      rateLimit: false,
      onEvent: (event: MfaEvent) => { console.log(event.name, event.type) }
    })).type.not.toRaiseError()
    expect<GlueMfaOptions>().type.toBeAssignableFrom(options)
  })

  test('refuses options of the wrong type', () => {
    const app = Fastify()
    expect(app.register(glueMfa, { ...options, codeSecret: 42 })).type.toRaiseError(2769)
    expect(app.register(glueMfa, { ...options, surface: 'admin' })).type.toRaiseError(2769)
    expect(app.register(glueMfa, { ...options, codeTtl: '10m' })).type.toRaiseError(2769)
    expect(app.register(glueMfa, { ...options, statusFormat: 'text' })).type.toRaiseError(2769)
    expect(app.register(glueMfa, { ...options, protectedResources: 'orders' })).type.toRaiseError(2769)
    expect(app.register(glueMfa, { ...options, principalLockout: { window: 60_000 } })).type.toRaiseError(2769)
    expect(app.register(glueMfa, { ...options, rateLimit: true })).type.toRaiseError(2769)
  })

  test('refuses options that lack a required key', () => {
    const app = Fastify()
    const { repository: _repository, ...noRepository } = options
    const { codeSecret: _codeSecret, ...noSecret } = options
    const { providers: _providers, ...noProviders } = options
    expect(app.register(glueMfa, noRepository)).type.toRaiseError(2769)
    expect(app.register(glueMfa, noSecret)).type.toRaiseError(2769)
    expect(app.register(glueMfa, noProviders)).type.toRaiseError(2769)
  })

  test('refuses an onEvent of another signature', () => {
    expect<GlueMfaOptions['onEvent']>().type.toBeAssignableFrom(() => {})
    expect<GlueMfaOptions['onEvent']>().type.toBeAssignableFrom((event: MfaEvent) => event.principalId)
    expect<GlueMfaOptions['onEvent']>().type.not.toBeAssignableFrom((name: string) => name)
    expect<GlueMfaOptions['onEvent']>().type.not.toBeAssignableFrom((event: MfaEvent, extra: string) => extra)
    expect<GlueMfaOptions['onEvent']>().type.not.toBeAssignableFrom((event: { name: 'code.sent' }) => event)
  })
})

describe('the step-up guard', () => {
  test('is a preHandler on the instance and as a named export', () => {
    const app = Fastify()
    expect(app.requireMfa).type.toBe<preHandlerAsyncHookHandler>()
    expect(requireMfa).type.toBe<preHandlerAsyncHookHandler>()
    expect(app.post).type.toBeCallableWith('/orders', { preHandler: app.requireMfa }, async () => 'ok')
    expect(app.post).type.toBeCallableWith('/orders', { preHandler: [requireMfa] }, async () => 'ok')
  })

  test('leaves the principal on the request', () => {
    const app = Fastify()
    app.get('/me', async (request) => {
      expect(request.principal).type.toBe<Principal | null>()
      return request.principal?.id
    })
  })
})

describe('statuses and events', () => {
  test('MFA_STATUS holds the literal statuses', () => {
    expect(MFA_STATUS.ENABLED).type.toBe<2>()
    expect<MfaStatus>().type.toBe<0 | 1 | 2>()
    expect<MfaEvent['name']>().type.toBe<MfaEventName>()
    expect<MfaEventName>().type.not.toBeAssignableFrom('code.typo' as const)
  })
})

describe('the built-in providers', () => {
  test('emailProvider needs a send function', () => {
    expect(emailProvider).type.toBeCallableWith({ send: () => {} })
    expect(emailProvider).type.toBeCallableWith({ send: async () => {}, type: 'email-work' })
    expect(emailProvider).type.not.toBeCallableWith({})
    expect(emailProvider).type.not.toBeCallableWith({ send: 'mailer' })
    expect(emailProvider).type.not.toBeCallableWith({ send: () => {}, type: 1 })
  })

  test('totpProvider needs an issuer', () => {
    expect(totpProvider).type.toBeCallableWith({ issuer: 'Shop' })
    expect(totpProvider).type.toBeCallableWith({ issuer: 'Shop', digits: 8, period: 30, algorithm: 'SHA256', window: 1 })
    expect(totpProvider).type.not.toBeCallableWith({})
    expect(totpProvider).type.not.toBeCallableWith({ issuer: 'Shop', algorithm: 'MD5' })
  })

  test('passkeyProvider needs rpName, rpID and origin', () => {
    expect(passkeyProvider).type.toBeCallableWith({ rpName: 'Shop', rpID: 'shop.example', origin: 'https://shop.example' })
    expect(passkeyProvider).type.toBeCallableWith({
      rpName: 'Shop', rpID: 'shop.example', origin: ['https://shop.example', 'https://www.shop.example'], type: 'key', userVerification: 'required', challengeTtl: 60_000
    })
    expect(passkeyProvider).type.not.toBeCallableWith({ rpName: 'Shop', rpID: 'shop.example' })
    expect(passkeyProvider).type.not.toBeCallableWith({ rpName: 'Shop', origin: 'https://shop.example' })
    expect(passkeyProvider).type.not.toBeCallableWith({ rpName: 'Shop', rpID: 'shop.example', origin: 'https://shop.example', userVerification: 'always' })
    expect(passkeyProvider({ rpName: 'Shop', rpID: 'shop.example', origin: 'https://shop.example' }).kind).type.toBe<'passkey'>()
  })

  test('MfaEvent names include passkey.counter_rollback', () => {
    expect<'passkey.counter_rollback'>().type.toBeAssignableTo<MfaEventName>()
  })
})
