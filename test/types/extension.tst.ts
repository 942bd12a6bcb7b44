// Type tests of what a host implements: its own providers and repositories.
import { describe, expect, test } from 'tstyche'
import {
  memoryRepository,
  type CodeMessage, type ComputedCodeProvider, type DeliveredCodeProvider, type MfaProvider, type MfaRepository
} from '../../lib/index.js'
import { repositoryConformance, type RepositoryFactory } from '../../lib/testing/index.js'

describe('a provider', () => {
  test('delivered: kind, type and send', () => {
    const sms: DeliveredCodeProvider = { kind: 'delivered', type: 'sms', send: async (message: CodeMessage) => { console.log(message.code) } }
    expect<MfaProvider>().type.toBeAssignableFrom(sms)
    expect<MfaProvider>().type.toBeAssignableFrom({ kind: 'delivered' as const, type: 'sms', send: () => {} })
  })

  test('delivered without send does not compile', () => {
    expect<MfaProvider>().type.not.toBeAssignableFrom({ kind: 'delivered' as const, type: 'sms' })
    expect<MfaProvider>().type.not.toBeAssignableFrom({ kind: 'delivered' as const, type: 'sms', send: 'sms-gateway' })
    expect<MfaProvider>().type.not.toBeAssignableFrom({ kind: 'delivered' as const, send: () => {} })
  })

  test('computed: createSecret, provisioning and match', () => {
    const hotp: ComputedCodeProvider = {
      kind: 'computed',
      type: 'hotp',
      createSecret: () => 'secret',
      provisioning: (principal, secret) => ({ uri: `otpauth://hotp/${principal.id}?secret=${secret}` }),
      match: (_secret, code) => code === '123456' ? 0 : null
    }
    expect<MfaProvider>().type.toBeAssignableFrom(hotp)
    const { match: _match, ...noMatch } = hotp
    expect<MfaProvider>().type.not.toBeAssignableFrom(noMatch)
    expect<MfaProvider>().type.not.toBeAssignableFrom({ ...hotp, match: (_secret: string, code: string) => code === '123456' })
  })

  test('of an unknown kind does not compile', () => {
    expect<MfaProvider>().type.not.toBeAssignableFrom({ kind: 'push' as const, type: 'push', send: () => {} })
  })
})

describe('a repository', () => {
  test('the memory repository is one', () => {
    expect<MfaRepository>().type.toBeAssignableFrom(memoryRepository())
  })

  test('one missing a method does not compile', () => {
    const { disable: _disable, ...noDisable } = memoryRepository()
    expect<MfaRepository>().type.not.toBeAssignableFrom(noDisable)
    const { admit: _admit, ...noAdmit } = memoryRepository()
    expect<MfaRepository>().type.not.toBeAssignableFrom(noAdmit)
  })

  test('its optional methods may be left out', () => {
    const { ready: _ready, close: _close, getStatuses: _getStatuses, ...required } = memoryRepository()
    expect<MfaRepository>().type.toBeAssignableFrom(required)
  })

  test('one whose method answers synchronously does not compile', () => {
    const repository = memoryRepository()
    expect<MfaRepository>().type.not.toBeAssignableFrom({ ...repository, lockedUntil: (_principalId: string) => 0 })
  })

  test('the conformance suite takes a factory of repositories', () => {
    const factory: RepositoryFactory = () => memoryRepository()
    expect(repositoryConformance).type.toBeCallableWith((_name: string, _fn: () => Promise<void>) => {}, factory)
    expect(repositoryConformance).type.not.toBeCallableWith((_name: string, _fn: () => Promise<void>) => {}, memoryRepository())
  })
})
