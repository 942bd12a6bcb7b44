import type { FactorKind } from './factor.js'
import type { ComputedCodeProvider } from './types.js'

/**
 * Codes the provider computes from a per-principal secret (TOTP apps): activation shows the
 * secret once, stored sealed (AES-256-GCM, bound to principal and type); each time step is
 * accepted once (the store keeps the last accepted step). Nothing is ever sent.
 */
export const computedKind: FactorKind<ComputedCodeProvider> = {
  methods: ['createSecret', 'provisioning', 'match'],
  create (provider, { repository, keys }) {
    const { type } = provider
    return {
      type,

      async start ({ principal }) {
        const secret = provider.createSecret()
        if (!(await repository.beginActivation(principal.id, type, keys.seal(principal.id, type, secret)))) return null
        return { provisioning: provider.provisioning(principal, secret), delivery: 'none' }
      },

      resend: async () => 'none',

      prove (principalId, record, code, now) {
        const secret = record.secret === null ? null : keys.open(principalId, type, record.secret)
        if (secret === null) return null
        const step = provider.match(secret, code, now)
        if (step === null || (record.lastStep !== null && step <= record.lastStep)) return null
        return { step }
      },

      countsAttempts: () => false
    }
  }
}
