import { test } from 'tap'
import { generateSync, ScureBase32Plugin } from 'otplib'
import { totpProvider } from '../../lib/providers/totp.js'

const base32 = new ScureBase32Plugin()
const b32 = (ascii: string): string => base32.encode(Buffer.from(ascii, 'ascii'))

// RFC 6238 Appendix B: the seed of each mode is "1234567890" repeated to the hash's size.
const SEEDS = {
  SHA1: '12345678901234567890',
  SHA256: '12345678901234567890123456789012',
  SHA512: '1234567890123456789012345678901234567890123456789012345678901234'
} as const

const RFC6238: Array<[number, string, 'SHA1' | 'SHA256' | 'SHA512', number]> = [
  [59, '94287082', 'SHA1', 1],
  [59, '46119246', 'SHA256', 1],
  [59, '90693936', 'SHA512', 1],
  [1111111109, '07081804', 'SHA1', 0x23523EC],
  [1111111109, '68084774', 'SHA256', 0x23523EC],
  [1111111109, '25091201', 'SHA512', 0x23523EC],
  [1111111111, '14050471', 'SHA1', 0x23523ED],
  [1111111111, '67062674', 'SHA256', 0x23523ED],
  [1111111111, '99943326', 'SHA512', 0x23523ED],
  [1234567890, '89005924', 'SHA1', 0x273EF07],
  [1234567890, '91819424', 'SHA256', 0x273EF07],
  [1234567890, '93441116', 'SHA512', 0x273EF07],
  [2000000000, '69279037', 'SHA1', 0x3F940AA],
  [2000000000, '90698825', 'SHA256', 0x3F940AA],
  [2000000000, '38618901', 'SHA512', 0x3F940AA],
  [20000000000, '65353130', 'SHA1', 0x27BC86AA],
  [20000000000, '77737706', 'SHA256', 0x27BC86AA],
  [20000000000, '47863826', 'SHA512', 0x27BC86AA]
]

// RFC 4226 Appendix D: HOTP values for counters 0..9 with the SHA-1 seed.
const RFC4226 = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489']

test('RFC 6238 Appendix B vectors match at their time step', async (t) => {
  for (const [seconds, code, algorithm, step] of RFC6238) {
    t.equal(step, Math.floor(seconds / 30), `step of ${seconds}`)
    const secret = b32(SEEDS[algorithm])
    for (const window of [0, 1]) {
      const provider = totpProvider({ issuer: 'RFC', digits: 8, algorithm, window })
      t.equal(provider.match(secret, code, seconds * 1000), step, `${algorithm} at ${seconds} (window ${window})`)
      // The millisecond part of `now` does not move the step.
      t.equal(provider.match(secret, code, seconds * 1000 + 999), step, `${algorithm} at ${seconds}.999`)
    }
    // Lower-case algorithm names are the same option.
    const lower = totpProvider({ issuer: 'RFC', digits: 8, algorithm: algorithm.toLowerCase() as 'sha1' })
    t.equal(lower.match(secret, code, seconds * 1000), step, `${algorithm.toLowerCase()} at ${seconds}`)
  }
})

test('RFC 6238 vectors fail under another algorithm or another seed', async (t) => {
  const [seconds, code] = RFC6238[3]
  const sha256 = totpProvider({ issuer: 'RFC', digits: 8, algorithm: 'SHA256' })
  t.equal(sha256.match(b32(SEEDS.SHA1), code, seconds * 1000), null, 'SHA1 code under SHA256')
  const sha1 = totpProvider({ issuer: 'RFC', digits: 8 })
  t.equal(sha1.match(b32(SEEDS.SHA256), code, seconds * 1000), null, 'SHA1 code under the SHA256 seed')
  t.equal(sha1.match(b32(SEEDS.SHA1), code, seconds * 1000), 0x23523EC, 'control')
})

test('RFC 4226 Appendix D: a 30 s TOTP at counter * 30 s is HOTP at that counter', async (t) => {
  const secret = b32(SEEDS.SHA1)
  const exact = totpProvider({ issuer: 'RFC', window: 0 })
  const defaults = totpProvider({ issuer: 'RFC' })
  RFC4226.forEach((code, counter) => {
    t.equal(exact.match(secret, code, counter * 30_000), counter, `counter ${counter}`)
    t.equal(exact.match(secret, code, counter * 30_000 + 29_999), counter, `counter ${counter}, end of its step`)
    t.equal(defaults.match(secret, code, counter * 30_000), counter, `counter ${counter}, window 1`)
  })
  // Step 0 has no step before it: the window is clipped, not an error.
  t.equal(defaults.match(secret, RFC4226[1], 0), 1, 'step 1 is the next step at time 0')
  t.equal(defaults.match(secret, RFC4226[2], 0), null, 'step 2 is outside the window at time 0')
})

test('match looks exactly `window` steps either side of now', async (t) => {
  const provider = totpProvider({ issuer: 'Test' })
  const secret = provider.createSecret()
  const now = Date.UTC(2026, 0, 1, 12, 0, 10)
  const step = Math.floor(now / 30_000)
  const codeAt = (s: number): string => generateSync({ secret, epoch: s * 30 })
  t.equal(provider.match(secret, codeAt(step), now), step, 'current step')
  t.equal(provider.match(secret, codeAt(step - 1), now), step - 1, 'previous step')
  t.equal(provider.match(secret, codeAt(step + 1), now), step + 1, 'next step')
  for (const far of [step - 2, step + 2]) {
    const code = codeAt(far)
    // A random 6-digit collision with the three accepted steps is possible in principle; skip it then.
    if ([step - 1, step, step + 1].some((s) => codeAt(s) === code)) continue
    t.equal(provider.match(secret, code, now), null, `step ${far - step} is outside the window`)
  }

  const wide = totpProvider({ issuer: 'Test', window: 3 })
  t.equal(wide.match(secret, codeAt(step - 3), now), step - 3, 'window 3 reaches 3 steps back')
  t.equal(wide.match(secret, codeAt(step + 3), now), step + 3, 'window 3 reaches 3 steps ahead')

  const strict = totpProvider({ issuer: 'Test', window: 0 })
  t.equal(strict.match(secret, codeAt(step), now), step, 'window 0: current step')
  const previous = codeAt(step - 1)
  if (previous !== codeAt(step)) t.equal(strict.match(secret, previous, now), null, 'window 0: previous step refused')
})

test('match uses the given time, never the wall clock', async (t) => {
  const provider = totpProvider({ issuer: 'Test' })
  const secret = provider.createSecret()
  const past = Date.UTC(2001, 8, 9, 1, 46, 40)
  const code = generateSync({ secret, epoch: past / 1000 })
  t.equal(provider.match(secret, code, past), Math.floor(past / 30_000))
  const realNow = Date.now
  Date.now = () => { throw new Error('Date.now must not be read') }
  try {
    t.equal(provider.match(secret, code, past), Math.floor(past / 30_000), 'no Date.now call')
  } finally {
    Date.now = realNow
  }
})

test('period, digits and algorithm options change the code', async (t) => {
  const provider = totpProvider({ issuer: 'Test', digits: 7, period: 60, algorithm: 'SHA512', window: 0 })
  const secret = provider.createSecret()
  const now = 1_800_000_000_000
  const code = generateSync({ secret, epoch: now / 1000, digits: 7, period: 60, algorithm: 'sha512' })
  t.match(code, /^[0-9]{7}$/)
  t.equal(provider.match(secret, code, now), Math.floor(now / 60_000), 'step of a 60 s period')
})

test('anything but exactly `digits` ASCII digits is refused', async (t) => {
  const provider = totpProvider({ issuer: 'Test', window: 10 })
  const secret = b32(SEEDS.SHA1)
  const now = 5 * 30_000
  const good = RFC4226[5]
  t.equal(provider.match(secret, good, now), 5, 'control')
  const bad = [
    '', '75522', '7552240', `${good} `, ` ${good}`, `${good}\n`, '25467a', '-54676', '+54676', '2546.7',
    '２５４６７６', '٢٥٤٦٧٦', '0x1234', '1e5678', `${good}${good}`
  ]
  for (const code of bad) t.equal(provider.match(secret, code, now), null, JSON.stringify(code))
  const eight = totpProvider({ issuer: 'Test', digits: 8 })
  t.equal(eight.match(b32(SEEDS.SHA1), '287082', 59_000), null, '6 digits for an 8-digit type')
})

test('createSecret: a fresh base32 secret of 160 bits', async (t) => {
  const provider = totpProvider({ issuer: 'Test' })
  const secrets = new Set<string>()
  for (let i = 0; i < 50; i++) {
    const secret = provider.createSecret()
    t.match(secret, /^[A-Z2-7]{32}$/, 'unpadded base32')
    t.equal(base32.decode(secret).length, 20, '20 bytes')
    secrets.add(secret)
  }
  t.equal(secrets.size, 50, 'never repeats')
})

test('provisioning: the secret and an otpauth URI with every parameter', async (t) => {
  const provider = totpProvider({ issuer: 'Acme Shop' })
  const secret = provider.createSecret()
  const withEmail = provider.provisioning({ id: 'customer-1', email: 'ann+mfa@example.com' }, secret)
  t.same(Object.keys(withEmail).sort(), ['otpauthUri', 'secret'])
  t.equal(withEmail.secret, secret)
  t.equal(withEmail.otpauthUri,
    `otpauth://totp/Acme%20Shop:ann%2Bmfa%40example.com?secret=${secret}&issuer=Acme%20Shop&algorithm=SHA1&digits=6&period=30`)

  const uri = new URL(withEmail.otpauthUri)
  t.equal(uri.protocol, 'otpauth:')
  t.equal(uri.host, 'totp')
  t.equal(decodeURIComponent(uri.pathname.slice(1)), 'Acme Shop:ann+mfa@example.com')
  t.same(Object.fromEntries(uri.searchParams), { secret, issuer: 'Acme Shop', algorithm: 'SHA1', digits: '6', period: '30' })

  t.equal(provider.provisioning({ id: 'urn:id/7' }, secret).otpauthUri.split('?')[0],
    'otpauth://totp/Acme%20Shop:urn%3Aid%2F7', 'no email: the id, with its ":" and "/" encoded')
  t.equal(provider.provisioning({ id: 'c-2', email: '' }, secret).otpauthUri.split('?')[0],
    'otpauth://totp/Acme%20Shop:c-2', 'an empty email falls back to the id')
  t.equal(provider.provisioning({ id: 'c-3', email: 42 as unknown as string }, secret).otpauthUri.split('?')[0],
    'otpauth://totp/Acme%20Shop:c-3', 'a non-string email falls back to the id')

  const custom = totpProvider({ issuer: 'A:B', digits: 8, period: 60, algorithm: 'sha256', label: (p) => `user ${p.id}` })
  t.equal(custom.provisioning({ id: 'x', email: 'x@example.com' }, 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP').otpauthUri,
    'otpauth://totp/A%3AB:user%20x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=A%3AB&algorithm=SHA256&digits=8&period=60')
})

test('type name', async (t) => {
  t.equal(totpProvider({ issuer: 'Test' }).type, 'totp')
  t.equal(totpProvider({ issuer: 'Test' }).kind, 'computed')
  t.equal(totpProvider({ issuer: 'Test', type: 'authenticator' }).type, 'authenticator')
})

test('bad options throw InvalidOptionError naming the option', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['no options', undefined, /option "totpProvider\.issuer" must be a non-empty string/],
    ['issuer missing', {}, /option "totpProvider\.issuer" must be a non-empty string/],
    ['issuer empty', { issuer: '' }, /option "totpProvider\.issuer"/],
    ['issuer blank', { issuer: '  ' }, /option "totpProvider\.issuer"/],
    ['issuer not a string', { issuer: 7 }, /option "totpProvider\.issuer"/],
    ['digits 5', { issuer: 'T', digits: 5 }, /option "totpProvider\.digits" must be an integer from 6 to 8/],
    ['digits 9', { issuer: 'T', digits: 9 }, /option "totpProvider\.digits"/],
    ['digits 6.5', { issuer: 'T', digits: 6.5 }, /option "totpProvider\.digits"/],
    ['digits string', { issuer: 'T', digits: '6' }, /option "totpProvider\.digits"/],
    ['period 0', { issuer: 'T', period: 0 }, /option "totpProvider\.period" must be an integer from 1 to 3600/],
    ['period negative', { issuer: 'T', period: -30 }, /option "totpProvider\.period"/],
    ['period fraction', { issuer: 'T', period: 29.5 }, /option "totpProvider\.period"/],
    ['period too long', { issuer: 'T', period: 3601 }, /option "totpProvider\.period"/],
    ['period NaN', { issuer: 'T', period: NaN }, /option "totpProvider\.period"/],
    ['algorithm md5', { issuer: 'T', algorithm: 'MD5' }, /option "totpProvider\.algorithm" must be one of "SHA1", "SHA256", "SHA512"/],
    ['algorithm sha-1', { issuer: 'T', algorithm: 'sha-1' }, /option "totpProvider\.algorithm"/],
    ['algorithm prototype key', { issuer: 'T', algorithm: 'constructor' }, /option "totpProvider\.algorithm"/],
    ['algorithm not a string', { issuer: 'T', algorithm: 1 }, /option "totpProvider\.algorithm"/],
    ['window negative', { issuer: 'T', window: -1 }, /option "totpProvider\.window" must be an integer from 0 to 10/],
    ['window 11', { issuer: 'T', window: 11 }, /option "totpProvider\.window"/],
    ['window fraction', { issuer: 'T', window: 0.5 }, /option "totpProvider\.window"/],
    ['label not a function', { issuer: 'T', label: 'me' }, /option "totpProvider\.label" must be a function/]
  ]
  for (const [name, options, message] of cases) {
    t.throws(() => totpProvider(options as Parameters<typeof totpProvider>[0]), { code: 'FST_GLUE_MFA_INVALID_OPTION', message }, name)
  }
  t.doesNotThrow(() => totpProvider({ issuer: 'T', digits: 8, period: 3600, window: 10, algorithm: 'SHA512' }), 'upper bounds are allowed')
  t.doesNotThrow(() => totpProvider({ issuer: 'T', digits: 6, period: 1, window: 0, algorithm: 'sha1' }), 'lower bounds are allowed')
})
