// Known answers: every format that is stored or exchanged, pinned to fixed values, so that a
// change to any of them fails here before it silently breaks stored data or a client.
// Stored: code hashes, recovery-code hashes, sealed TOTP secrets, the last accepted TOTP step,
// passkey challenge hashes, user handles and sealed passkeys, status numbers.
// Exchanged: TOTP codes and otpauth URIs, a passkey response in X-MFA-Code, event names, Glue
// error codes with status and detail.
import { createDecipheriv, createHmac, hkdfSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { test } from 'tap'
import { CodeKeys } from '../lib/codes.js'
import { createEmitter, type MfaEvent, type MfaEventName } from '../lib/events.js'
import { MFA_STATUS, MFA_STATUS_LABELS, MfaErrors, totpProvider } from '../lib/index.js'
import { challengeHash, decodeResponse, encodeResponse } from '../lib/providers/passkey.js'
import { generateRecoveryCode, normaliseRecoveryCode } from '../lib/providers/recovery.js'

/** Base32 (RFC 4648, upper case, no padding), written out here so no library's encoder is trusted. */
function base32 (bytes: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31]
  return out
}

// ---------------------------------------------------------------------------------------------
// Code hashes and sealed secrets (lib/codes.ts)
// ---------------------------------------------------------------------------------------------

const TEXT_SECRET = 'fastify-glue-mfa known-answer codeSecret, 0.1.0'
const BYTES_SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => i)) // 00 01 … 1f
const TOTP_SECRET = 'JBSWY3DPEHPK3PXP'

// Made by the 0.1.0 release's own code: `git show 22a79c3:lib/codes.ts` (22a79c3 is "CHANGELOG
// for 0.1.0"; package.json says 0.1.0 there) copied to a scratch directory and run with tsx:
//   const text = new CodeKeys('fastify-glue-mfa known-answer codeSecret, 0.1.0')
//   const bytes = new CodeKeys(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))
//   text.hash('customer-1', 'email', '123456'); bytes.hash(…same…)
//   text.seal('customer-1', 'totp', 'JBSWY3DPEHPK3PXP'); bytes.seal(…same…)
// A sealed value has a random IV, so it cannot be recomputed: these are the stored bytes an
// upgrade must still open. Never regenerate them with the current code.
const V010 = {
  text: {
    hash: 'b99f8e67c2e7243dbbcb9906e3c95a75150af5735ac9fccf91aa64eff83994b1',
    sealed: 'Ix_ha_KFuUvAI80x.v70zpWqcNNBUQ4Gl4Ja_pA.PF-1DlM6fBY75IJ8rlVIRA'
  },
  bytes: {
    hash: '9ac6e07fcb95988a2ad49a3a863aa91f497663d268c2abf4fa8d25263849201c',
    sealed: 'hXk2v4ykiQ8tvtfr.m34elRvg-ReQlmQCsJZKDw.iVegHLGQ_-8rV7hGbm93Mw'
  }
} as const

/** The keys as documented: HKDF-SHA256 of codeSecret, salt 'fastify-glue-mfa', one label per use. */
function derive (codeSecret: string | Buffer, label: string): Buffer {
  const ikm = typeof codeSecret === 'string' ? Buffer.from(codeSecret, 'utf8') : codeSecret
  return Buffer.from(hkdfSync('sha256', ikm, 'fastify-glue-mfa', label, 32))
}

for (const [name, codeSecret] of [['string', TEXT_SECRET], ['Buffer', BYTES_SECRET]] as const) {
  const fixture = name === 'string' ? V010.text : V010.bytes

  test(`code hash under a ${name} codeSecret: the value 0.1.0 stored`, async (t) => {
    const keys = new CodeKeys(codeSecret)
    t.equal(keys.hash('customer-1', 'email', '123456'), fixture.hash, 'a code stored by 0.1.0 still matches')
    // The same value, computed from the documented construction alone.
    const hmac = createHmac('sha256', derive(codeSecret, 'code-hmac'))
      .update(JSON.stringify(['customer-1', 'email', '123456'])).digest('hex')
    t.equal(hmac, fixture.hash, 'HMAC-SHA256, key HKDF(codeSecret, "fastify-glue-mfa", "code-hmac"), message JSON [principal, type, code]')
  })

  test(`TOTP secret sealed by 0.1.0 under a ${name} codeSecret opens with the current code`, async (t) => {
    const keys = new CodeKeys(codeSecret)
    t.equal(keys.open('customer-1', 'totp', fixture.sealed), TOTP_SECRET)
    t.equal(keys.open('customer-2', 'totp', fixture.sealed), null, 'bound to its principal')
    t.equal(keys.open('customer-1', 'totp2', fixture.sealed), null, 'bound to its type')
    // The same, from the documented format alone: base64url iv.tag.ciphertext, AES-256-GCM with
    // key HKDF(codeSecret, "fastify-glue-mfa", "secret-aes-256-gcm"), AAD JSON [principal, type].
    const [iv, tag, body] = fixture.sealed.split('.').map((part) => Buffer.from(part, 'base64url'))
    t.equal(iv.length, 12, '96-bit IV')
    t.equal(tag.length, 16, '128-bit tag')
    const decipher = createDecipheriv('aes-256-gcm', derive(codeSecret, 'secret-aes-256-gcm'), iv)
    decipher.setAAD(Buffer.from(JSON.stringify(['customer-1', 'totp'])))
    decipher.setAuthTag(tag)
    t.equal(Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8'), TOTP_SECRET)
  })

  test(`what the current code seals under a ${name} codeSecret, 0.1.0's construction opens`, async (t) => {
    const sealed = new CodeKeys(codeSecret).seal('customer-1', 'totp', TOTP_SECRET)
    t.match(sealed, /^[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$/, 'iv (12 bytes).tag (16).ciphertext (16), base64url without padding')
    const [iv, tag, body] = sealed.split('.').map((part) => Buffer.from(part, 'base64url'))
    const decipher = createDecipheriv('aes-256-gcm', derive(codeSecret, 'secret-aes-256-gcm'), iv)
    decipher.setAAD(Buffer.from(JSON.stringify(['customer-1', 'totp'])))
    decipher.setAuthTag(tag)
    t.equal(Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8'), TOTP_SECRET)
  })
}

test('a string codeSecret is its UTF-8 bytes', async (t) => {
  const secret = 'clé-secrète-à-32-octets-au-moins-ünïcødé'
  t.equal(new CodeKeys(secret).hash('p', 'email', '1'), new CodeKeys(Buffer.from(secret, 'utf8')).hash('p', 'email', '1'))
})

test('recovery codes: the stored spelling and its hash', async (t) => {
  t.equal(normaliseRecoveryCode('0123-4567-89ab-cdef'), '0123456789ABCDEF', 'no separators, upper case')
  t.equal(normaliseRecoveryCode(' oiL0 4567 89AB-CDEF '), '0110456789ABCDEF', 'O, I and L folded to 0, 1, 1')
  t.match(generateRecoveryCode(), /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/, "Crockford's base32, four groups of four")
  // Value made with the code of this commit (recovery codes are newer than 0.1.0); each stored
  // code is the code HMAC of its stored spelling, the set joined with ','.
  t.equal(new CodeKeys(TEXT_SECRET).hash('customer-1', 'recovery-codes', '0123456789ABCDEF'),
    'b4a7c2297a6e4a08919ef29467c940ec8ac9761a9dbac45125bfafad6362cfef')
})

test('passkeys: the stored challenge hash, the user handle, the sealed passkey, the X-MFA-Code encoding', async (t) => {
  const keys = new CodeKeys(TEXT_SECRET)
  const challenge = 'KoPOZ3QE4CSCiv-nyzVWRWD9-seQd8Wpki7yAJgdyEU'
  // Values made with the code of this commit (passkeys are newer than 0.1.0). A challenge is
  // stored as the code HMAC of '<ceremony>:<challenge>' (base64url, as the options carry it).
  t.equal(challengeHash(keys, 'customer-1', 'passkey', 'registration', challenge),
    '80f71038e0e4e2056fead2881c164dcd302032735583370577f579a619fc8b0b', 'registration')
  t.equal(keys.hash('customer-1', 'passkey', `registration:${challenge}`), challengeHash(keys, 'customer-1', 'passkey', 'registration', challenge))
  t.equal(challengeHash(keys, 'customer-1', 'passkey', 'authentication', challenge),
    '1820dc192eabb5221cb3eb8c1dc723a81ea0d9dd0e9420135d1bec5051600ca8', 'authentication')
  // The user handle (options.user.id) is the code HMAC of 'user-handle': an authenticator that
  // keeps one passkey per handle replaces it on a new registration only if it stays the same.
  t.equal(keys.hash('customer-1', 'passkey', 'user-handle'), '595da9ef893a388526f7f4983f75e8ee9ea0befa3d5bf741bf65511a1082e8ce')
  // A passkey as stored: JSON { id, publicKey, counter, transports } sealed like a TOTP secret.
  // Sealed once by this commit's code (random IV): the bytes an upgrade must still open.
  const sealed = 'TFpzNI9aBNIF2zXP.qsOym48W_7HCxV_pu2sYIw.NPZWXYyzpbp7OjZBKkjMWUsDPQl68TOXm5ZrPq5_PnZSqknmNc3lx__ghHpE3Zq3U46jNXjCmvAbjzCev_PNDYFwrR61HchV6GSmVMCvXrgV6TXB6ssA18wlT-tFVYZAZ5I'
  t.same(JSON.parse(keys.open('customer-1', 'passkey', sealed) as string), { id: 'N9SDTNMGnaw7aPz0rwcZqA', publicKey: 'pQECAyYgASFYIA', counter: 7, transports: ['internal'] })
  t.equal(keys.open('customer-1', 'totp', sealed), null, 'bound to its type')
  // X-MFA-Code carries a browser's response as base64url (no padding) of its JSON.
  t.equal(encodeResponse({ id: 'x', type: 'public-key' }), 'eyJpZCI6IngiLCJ0eXBlIjoicHVibGljLWtleSJ9')
  t.same(decodeResponse('eyJpZCI6IngiLCJ0eXBlIjoicHVibGljLWtleSJ9'), { id: 'x', type: 'public-key' })
  t.same(decodeResponse('eyJpZCI6IngiLCJ0eXBlIjoicHVibGljLWtleSJ9=='), { id: 'x', type: 'public-key' }, 'padding tolerated')
})

// ---------------------------------------------------------------------------------------------
// TOTP (lib/providers/totp.ts): RFC 6238 Appendix B through the provider, the step it returns
// (stored as the last accepted step), the default 6-digit codes and the otpauth URI.
// ---------------------------------------------------------------------------------------------

// The seed of each mode is "1234567890" repeated to the hash's size (RFC 6238 Appendix A).
const SEED = {
  SHA1: Buffer.from('12345678901234567890', 'ascii'),
  SHA256: Buffer.from('12345678901234567890123456789012', 'ascii'),
  SHA512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234', 'ascii')
} as const

// RFC 6238 Appendix B: time (s) → 8-digit TOTP for SHA1, SHA256, SHA512.
const RFC6238: Array<[number, { SHA1: string, SHA256: string, SHA512: string }]> = [
  [59, { SHA1: '94287082', SHA256: '46119246', SHA512: '90693936' }],
  [1111111109, { SHA1: '07081804', SHA256: '68084774', SHA512: '25091201' }],
  [1111111111, { SHA1: '14050471', SHA256: '67062674', SHA512: '99943326' }],
  [1234567890, { SHA1: '89005924', SHA256: '91819424', SHA512: '93441116' }],
  [2000000000, { SHA1: '69279037', SHA256: '90698825', SHA512: '38618901' }],
  [20000000000, { SHA1: '65353130', SHA256: '77737706', SHA512: '47863826' }]
]

test('base32 of the RFC seeds (as otplib takes secrets)', async (t) => {
  t.equal(base32(SEED.SHA1), 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 'RFC 4648 encoding of the SHA1 seed')
  t.equal(base32(Buffer.from('f', 'ascii')), 'MY', 'a partial last group')
})

test('RFC 6238 Appendix B: each code matches at its time, and the provider returns its time step', async (t) => {
  for (const [seconds, codes] of RFC6238) {
    for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const) {
      const provider = totpProvider({ issuer: 'RFC 6238', digits: 8, algorithm, window: 0 })
      t.equal(provider.match(base32(SEED[algorithm]), codes[algorithm], seconds * 1000), Math.floor(seconds / 30), `${algorithm} at T=${seconds}`)
    }
  }
})

test('the default provider (SHA1, 6 digits, 30 s, ±1 step) answers the RFC codes\' last six digits', async (t) => {
  const provider = totpProvider({ issuer: 'RFC 6238' })
  const secret = base32(SEED.SHA1)
  for (const [seconds, codes] of RFC6238) {
    const code = codes.SHA1.slice(2)
    const step = Math.floor(seconds / 30)
    t.equal(provider.match(secret, code, seconds * 1000), step, `T=${seconds}: ${code}`)
    t.equal(provider.match(secret, code, (seconds + 30) * 1000), step, 'one step later, the same step')
    t.equal(provider.match(secret, code, (seconds - 30) * 1000), step, 'one step earlier, the same step')
    t.equal(provider.match(secret, code, (seconds + 60) * 1000), null, 'two steps later, no match')
  }
})

test('the otpauth URI that authenticator apps scan', async (t) => {
  const provider = totpProvider({ issuer: 'Acme Shop' })
  const secret = base32(SEED.SHA1)
  t.same(provider.provisioning({ id: 'customer-1', email: 'ann@example.com' }, secret), {
    secret,
    otpauthUri: 'otpauth://totp/Acme%20Shop:ann%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Shop&algorithm=SHA1&digits=6&period=30'
  })
  const sha512 = totpProvider({ issuer: 'Acme', algorithm: 'sha512', digits: 8, period: 60 })
  t.equal(sha512.provisioning({ id: 'c-1' }, secret).otpauthUri,
    'otpauth://totp/Acme:c-1?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme&algorithm=SHA512&digits=8&period=60')
  t.match(provider.createSecret(), /^[A-Z2-7]{32}$/, 'a new secret: 20 random bytes in base32, 32 characters')
})

// ---------------------------------------------------------------------------------------------
// Status numbers (stored, and answered by the list)
// ---------------------------------------------------------------------------------------------

test('status numbers and labels', async (t) => {
  t.same({ ...MFA_STATUS }, { DISABLED: 0, PENDING: 1, ENABLED: 2 })
  t.same({ ...MFA_STATUS_LABELS }, { 0: 'deactivated', 1: 'activation is pending', 2: 'activated' })
})

// ---------------------------------------------------------------------------------------------
// Events (lib/events.ts): hosts build alerts and metrics on these names.
// ---------------------------------------------------------------------------------------------

const EVENT_NAMES = [
  'code.sent',
  'code.send_failed',
  'code.verified',
  'code.rejected',
  'code.locked_out',
  'code.blocked',
  'principal.locked',
  'type.pending',
  'type.enabled',
  'type.disabled',
  'stepup.passed',
  'stepup.denied',
  'recovery.used',
  'passkey.counter_rollback',
  'admin.reset',
  'admin.unlock',
  'admin.codes_revoked'
] as const satisfies readonly MfaEventName[]

// Compile-time half (npm run typecheck): the list above is every MfaEventName, no more, no less.
type Unlisted = Exclude<MfaEventName, typeof EVENT_NAMES[number]>
const everyNameListed: [Unlisted] extends [never] ? true : never = true

test('the event names the plugin can emit, exactly', async (t) => {
  t.ok(everyNameListed)
  // Run-time half: the names declared in lib/events.ts, whatever form the declaration takes.
  const source = readFileSync(new URL('../lib/events.ts', import.meta.url), 'utf8')
  const declared = [...new Set(source.match(/'[a-z]+\.[a-z_]+'/g)?.map((name) => name.slice(1, -1)))]
  t.same(declared.sort(), [...EVENT_NAMES].sort())
})

test('an event as onEvent and the log receive it', async (t) => {
  const events: MfaEvent[] = []
  const lines: Array<[unknown, string]> = []
  const log = { info: (object: unknown, message: string) => { lines.push([object, message]) } }
  const emit = createEmitter(() => 1_700_000_000_000, (event) => { events.push(event) })
  const principal = { id: 'customer-1', email: 'ann@example.com' }
  emit(log as never, 'code.rejected', 'customer-1', 'email')
  emit(log as never, 'principal.locked', principal, null)
  emit(log as never, 'recovery.used', principal, 'recovery-codes', { remaining: 9 })
  const at = 1_700_000_000_000
  t.same(events, [
    { name: 'code.rejected', principalId: 'customer-1', type: 'email', at },
    { name: 'principal.locked', principalId: 'customer-1', type: null, at, principal },
    { name: 'recovery.used', principalId: 'customer-1', type: 'recovery-codes', at, remaining: 9, principal }
  ], 'onEvent: name, principalId, type, at, what the event adds, and the principal when known')
  t.same(Object.keys(events[0]), ['name', 'principalId', 'type', 'at'], 'no other field')
  t.same(lines, [
    [{ mfaEvent: { name: 'code.rejected', principalId: 'customer-1', type: 'email', at } }, 'mfa code.rejected'],
    [{ mfaEvent: { name: 'principal.locked', principalId: 'customer-1', type: null, at } }, 'mfa principal.locked'],
    [{ mfaEvent: { name: 'recovery.used', principalId: 'customer-1', type: 'recovery-codes', at, remaining: 9 } }, 'mfa recovery.used']
  ], 'one info line per event under mfaEvent, naming the principal by id only')
})

// ---------------------------------------------------------------------------------------------
// The Glue error catalogue: code, HTTP status, detail.
// ---------------------------------------------------------------------------------------------

test('the Glue error catalogue, exactly', async (t) => {
  const catalogue = Object.values(MfaErrors).map((MfaError) => {
    const error = new MfaError()
    t.match(error.code, /^FST_GLUE_MFA_\d{3,4}$/, 'Fastify code FST_GLUE_MFA_<Glue code>')
    return [error.code.slice('FST_GLUE_MFA_'.length), error.statusCode, error.message]
  }).sort(([a], [b]) => Number(a) - Number(b))
  t.same(catalogue, [
    ['001', 401, 'Invalid access token.'],
    ['002', 403, 'Missing access token.'],
    ['5900', 403, 'X-MFA-Code header is missing.'],
    ['5901', 403, 'X-MFA-Code is invalid.'],
    ['5902', 400, 'Multi-factor authentication type is missing.'],
    ['5903', 500, 'Failed to deactivate multi-factor authentication.'],
    ['5904', 400, 'Multi-factor authentication type already activated.'],
    ['5905', 400, 'No customer identifier provided.'],
    ['5906', 400, 'Multi-factor authentication type is not found.'],
    ['5907', 400, 'Customer not found.'],
    ['5908', 400, 'User not found.'],
    ['5909', 400, 'No user identifier provided.'],
    ['5910', 400, 'Something went wrong while sending your code. Please try again later or contact the system administrator.'],
    ['5911', 429, 'Too many codes requested. Try again later.'],
    ['5912', 403, 'Sign in again to set up multi-factor authentication.'],
    ['5913', 400, 'Enable another multi-factor authentication type first.'],
    ['5914', 403, 'Multi-factor authentication must be enabled for this action.']
  ])
})
