import { computedKind } from './computed.js'
import { deliveredKind } from './delivered.js'
import type { Factor, FactorKind, FactorTools } from './factor.js'
import { passkeyKind } from './passkey.js'
import { recoveryKind } from './recovery.js'
import type { MfaProvider } from './types.js'

/** Every kind of factor, by the `kind` its providers carry. A new kind is one more entry. */
export const FACTOR_KINDS: Record<MfaProvider['kind'], FactorKind<any>> = {
  delivered: deliveredKind,
  computed: computedKind,
  recovery: recoveryKind,
  passkey: passkeyKind
}

/** The factor for a provider checked at registration (its kind exists). */
export function createFactor (provider: MfaProvider, tools: FactorTools): Factor {
  return FACTOR_KINDS[provider.kind].create(provider, tools)
}
