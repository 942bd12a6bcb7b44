// The in-process benches' set-up of a principal with email enabled: activate, then verify with
// the code the app's email provider was handed, through app.inject as a client would.
import type { FastifyInstance } from 'fastify'

/** Enables email for the token in `headers`; `code()` reads the last code the app "sent". */
export async function enableEmail (app: FastifyInstance, headers: Record<string, string>, code: () => string, name: string): Promise<void> {
  for (const [resource, withCode] of [['multi-factor-auth-type-activate', false], ['multi-factor-auth-type-verify', true]] as const) {
    const res = await app.inject({
      method: 'POST',
      url: `/${resource}`,
      headers: { ...headers, 'content-type': 'application/vnd.api+json', ...(withCode ? { 'x-mfa-code': code() } : {}) },
      payload: { data: { type: resource, attributes: { type: 'email' } } }
    })
    if (res.statusCode !== 204) throw new Error(`${name}: ${resource} answered ${res.statusCode} ${res.body}`)
  }
}
