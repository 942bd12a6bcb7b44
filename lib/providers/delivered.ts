import { generateCode, sameHash } from '../codes.js'
import { tooManyCodes } from '../errors.js'
import type { Delivery, FactorKind, FactorRequest } from './factor.js'
import type { DeliveredCodeProvider } from './types.js'

/**
 * Codes the plugin generates and the provider delivers (email, SMS): one code at a time, sent
 * at most once per `resendCooldown`, stored as a keyed hash, valid for `codeTtl` and for
 * `maxAttempts` wrong tries. Delivery sits between two atomic store steps: the send slot is
 * taken before it and given back when the delivery or the next step fails.
 */
export const deliveredKind: FactorKind<DeliveredCodeProvider> = {
  methods: ['send'],
  create (provider, tools) {
    const { repository, keys, matched } = tools
    const { type } = provider

    /** Sends a fresh code; what is stored of it, or null when the provider failed. */
    async function send (request: FactorRequest): Promise<{ hash: string, expiresAt: number } | null> {
      const code = generateCode(tools.codeLength)
      try {
        await provider.send({ principal: request.principal, type, code })
      } catch (err) {
        // By name and code only: a message may quote the code in any spelling ("6 4 7 7 3 3").
        request.log.warn({ err: describeError(err), type }, 'fastify-glue-mfa: code delivery failed')
        return null
      }
      return { hash: keys.hash(request.principal.id, type, code), expiresAt: tools.clock() + tools.codeTtl }
    }

    async function reserve (principalId: string, now: number): Promise<void> {
      const freeAt = await repository.reserveSend(principalId, type, now, tools.resendCooldown)
      if (freeAt !== 0) throw tooManyCodes(freeAt - now)
    }

    /**
     * A store step made after the send slot was taken: when it fails, the slot is given back
     * (so asking again works at once) before the error is answered. Giving it back may fail
     * too when the store is down; the step's own error is the one answered.
     */
    async function holdingSlot<T> (principalId: string, now: number, previous: number | null, step: () => Promise<T>): Promise<T> {
      try {
        return await step()
      } catch (err) {
        await repository.releaseSend(principalId, type, now, previous).catch(() => {})
        throw err
      }
    }

    return {
      type,

      async start (request) {
        const { principal, now } = request
        const previous = request.record?.lastSentAt ?? null
        await reserve(principal.id, now)
        const sent = await send(request)
        // One atomic step: pending, with the code just sent (none when delivery failed).
        const begun = await holdingSlot(principal.id, now, previous, async () => await repository.beginActivation(principal.id, type, null, sent))
        if (!begun || sent === null) await repository.releaseSend(principal.id, type, now, previous)
        if (!begun) return null
        return { provisioning: null, delivery: sent === null ? 'failed' : 'sent' }
      },

      async resend (request): Promise<Delivery> {
        const { principal, now, record } = request
        await reserve(principal.id, now)
        const sent = await send(request)
        if (sent === null) {
          await repository.releaseSend(principal.id, type, now, record.lastSentAt)
          return 'failed'
        }
        await holdingSlot(principal.id, now, record.lastSentAt, async () => { await repository.storeCode(principal.id, type, sent) })
        return 'sent'
      },

      prove (principalId, record, code, now) {
        const stored = record.code
        if (stored === null || now >= stored.expiresAt || stored.attempts >= tools.maxAttempts) return null
        if (matched.has(stored.hash, code)) return { hash: stored.hash }
        const hash = keys.hash(principalId, type, code)
        if (!sameHash(stored.hash, hash)) return null
        matched.add(hash, code)
        return { hash }
      },

      countsAttempts: (record) => record.code !== null
    }
  }
}

/** What may be logged of an error thrown by a provider: its class name and its code, if any. */
function describeError (err: unknown): { name: string, code?: string } {
  const name = typeof (err as Error | null)?.name === 'string' ? (err as Error).name : typeof err
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' || typeof code === 'number' ? { name, code: String(code) } : { name }
}
