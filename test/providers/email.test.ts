import { test } from 'tap'
import { emailProvider } from '../../lib/index.js'

// A JavaScript caller (or a config file read at run time) can call it with nothing at all:
// the error must still name the option, not be a TypeError from reading `send` of undefined.
test('emailProvider called without options names the missing option', async (t) => {
  for (const options of [undefined, null]) {
    t.throws(() => emailProvider(options as never), { code: 'FST_GLUE_MFA_INVALID_OPTION', message: /option "emailProvider\.send" must be a function/ })
  }
  const send = (): void => {}
  t.same(emailProvider({ send }), { kind: 'delivered', type: 'email', send }, 'the defaults')
})
