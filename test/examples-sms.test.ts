import { test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { emailProvider } from '../lib/index.js'
import { smsProvider, type SmsMessage } from '../examples/sms-provider.js'
import { buildApp, list, Outbox, post, statuses } from './helpers.js'
import { inspectMemory } from '../lib/repositories/memory.js'

const ACTIVATE = 'multi-factor-auth-type-activate'
const VERIFY = 'multi-factor-auth-type-verify'

async function setup (sendSms?: (message: SmsMessage) => Promise<void>): Promise<Awaited<ReturnType<typeof buildApp>> & { texts: SmsMessage[], mail: Outbox }> {
  const texts: SmsMessage[] = []
  const mail = new Outbox()
  const built = await buildApp({
    providers: [
      emailProvider({ send: mail.send }),
      smsProvider({ sender: 'Acme', sendSms: sendSms ?? (async (message) => { texts.push(message) }) })
    ],
    principal: (payload) => typeof payload?.sub === 'string' ? { id: payload.sub, phone: payload.phone } : null,
    protectedResources: ['carts']
  }, (app) => {
    app.post('/carts', async () => ({ ok: true }))
  })
  return { ...built, texts, mail }
}

function codeIn (message: SmsMessage | undefined): string {
  const found = /\b([0-9]{6})\b/.exec(message?.text ?? '')
  if (found === null) throw new Error('no code in the text')
  return found[1]
}

function glueCode (res: LightMyRequestResponse): string | undefined {
  return res.json().errors?.[0]?.code
}

test('an sms provider written against the exported types: activate → verify → step-up', async (t) => {
  const { app, token, texts, mail } = await setup()
  t.teardown(() => app.close())
  const jwt = token('customer-7', { phone: '+4915112345678' })

  t.same(statuses(await list(app, jwt)), { email: 0, sms: 0 }, 'registered next to email, in provider order')

  const activated = await post(app, ACTIVATE, jwt, { type: 'sms' })
  t.equal(activated.statusCode, 204)
  t.equal(texts.length, 1, 'one text sent')
  t.equal(mail.messages.length, 0, 'no mail')
  t.equal(texts[0].to, '+4915112345678')
  t.match(texts[0].text, /^Acme: [1-9][0-9]{5} is your verification code\./)
  t.same(statuses(await list(app, jwt)), { email: 0, sms: 1 })

  const code = codeIn(texts[0])
  const wrong = code === '123456' ? '654321' : '123456'
  t.equal(glueCode(await post(app, VERIFY, jwt, { type: 'sms', code: wrong })), '5901', 'a wrong code')
  t.equal((await post(app, VERIFY, jwt, { type: 'sms', code })).statusCode, 204, 'the texted code verifies')
  t.same(statuses(await list(app, jwt)), { email: 0, sms: 2 })

  const cart = async (mfa?: string): Promise<LightMyRequestResponse> => await app.inject({
    method: 'POST', url: '/carts', payload: {}, headers: { authorization: `Bearer ${jwt}`, ...(mfa === undefined ? {} : { 'x-mfa-code': mfa }) }
  })
  t.equal(glueCode(await cart()), '5900', 'sms enabled: step-up needs a code')
  t.equal((await cart(code)).statusCode, 200, 'the sms code steps up (grace reuse)')
})

test('no phone number, or a failing gateway: 5910 and nothing usable stored', async (t) => {
  const { app, token, texts, repository } = await setup()
  t.teardown(() => app.close())
  const res = await post(app, ACTIVATE, token('no-phone'), { type: 'sms' })
  t.equal(glueCode(res), '5910')
  t.equal(texts.length, 0)
  t.equal(inspectMemory(repository).records.get('no-phone')?.get('sms')?.code, null, 'no code stored')

  const failing = await setup(async () => { throw new Error('gateway down') })
  t.teardown(() => failing.app.close())
  t.equal(glueCode(await post(failing.app, ACTIVATE, failing.token('c-9', { phone: '+12025550123' }), { type: 'sms' })), '5910')
})

test('smsProvider checks its options', async (t) => {
  t.throws(() => smsProvider({} as never), { code: 'FST_GLUE_MFA_INVALID_OPTION', message: /option "smsProvider\.sendSms" must be a function/ })
  const custom = smsProvider({ sendSms: () => {}, type: 'text', phoneOf: () => '+12025550123' })
  t.equal(custom.type, 'text')
  t.equal(custom.kind, 'delivered')
})
