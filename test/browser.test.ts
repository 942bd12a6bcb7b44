// The example server's web page in a real Chromium: the whole storefront flow a customer sees
// (sign in, email on with the code from the dev outbox panel, TOTP on with the QR code and the
// key on the page, a protected action refused and then passed, a new code and its cooldown,
// recovery codes on with their download, TOTP removed with a recovery code: "lost my device"),
// then the back office (support resets the customer's MFA; the storefront shows it off and the
// customer's notification). The page must log no console error and ask no other origin for
// anything. A second test makes passkeys with the DevTools protocol's virtual authenticator: one
// is added, confirms a protected action and is removed, in the storefront and the back office.
//
// Chromium comes from the system (Debian's `chromium`, or MFA_TEST_CHROMIUM=/path); nothing
// is downloaded. Without one the file says so in one line and plans nothing, unless
// MFA_REQUIRE_BROWSER=1 (CI), which fails. UPDATE_SCREENSHOT=1 also saves docs/screenshot.png.
import { test, type Test } from 'tap'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createServer, type AddressInfo } from 'node:net'
import { chromium, type Browser, type Page } from 'playwright-core'
import jsQR from 'jsqr' // CommonJS: under NodeNext its function is `.default` (set on the export too)
import { PNG } from 'pngjs'
import { generateSync } from 'otplib'
import { buildServer, passkeyRelyingParty, type PasskeyRelyingParty } from '../examples/server.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const SCREENSHOT = join(ROOT, 'docs', 'screenshot.png')
const SECRETS = { codeSecret: 'browser-test-code-secret-0123456789abcdef', jwtSecret: 'browser-test-jwt-secret-0123456789' }

/** One line on stderr, which tap shows whatever its reporter (a comment shows only in TAP output). */
function say (line: string): void {
  process.stderr.write(`${line}\n`)
}

/** The Chromium to drive: MFA_TEST_CHROMIUM when set (and only it), else the usual system paths. */
function findChromium (): string | undefined {
  const chosen = process.env.MFA_TEST_CHROMIUM
  const candidates = chosen !== undefined && chosen !== ''
    ? [chosen]
    : ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable']
  return candidates.find((path) => existsSync(path))
}

/**
 * What the page did that it must not (console errors, uncaught exceptions, requests to other
 * origins, failed requests), and the refusals it received. Chromium notes every HTTP answer of
 * 400 or more as a console error ("Failed to load resource: … status of 403"): those are counted
 * apart, against the refused responses, since the test provokes some refusals on purpose.
 */
function watch (page: Page, origin: string): { problems: string[], refusalNotes: number[], refused: number[] } {
  const problems: string[] = []
  const refusalNotes: number[] = []
  const refused: number[] = []
  page.on('console', (message) => {
    if (message.type() !== 'error') return
    const note = /^Failed to load resource: the server responded with a status of (4\d\d)\b/.exec(message.text())
    if (note !== null) refusalNotes.push(Number(note[1]))
    else problems.push(`console error: ${message.text()}`)
  })
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`))
  page.on('request', (request) => {
    const url = request.url()
    if (url.startsWith('data:')) return
    if (new URL(url).origin !== origin) problems.push(`request to another origin: ${url}`)
  })
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`))
  page.on('response', (response) => {
    if (response.status() >= 500) problems.push(`server error: ${response.status()} ${response.url()}`)
    else if (response.status() >= 400) refused.push(response.status())
  })
  return { problems, refusalNotes, refused }
}

/**
 * Chromium, launched for `t` (closed at its end); undefined when there is none and none is
 * required (the test then plans nothing and says why in one line).
 */
async function launch (t: Test): Promise<Browser | undefined> {
  const executablePath = findChromium()
  if (executablePath === undefined) {
    if (process.env.MFA_REQUIRE_BROWSER === '1') {
      t.fail('MFA_REQUIRE_BROWSER=1 but no Chromium found (install Debian\'s chromium, or set MFA_TEST_CHROMIUM)')
      return undefined
    }
    const reason = 'no Chromium found (apt-get install chromium, or set MFA_TEST_CHROMIUM=/path/to/chrome)'
    say(`browser: none, the browser test did not run: ${reason}`)
    t.plan(0, reason)
    return undefined
  }
  const browser = await chromium.launch({ executablePath, headless: true })
  t.teardown(() => browser.close())
  return browser
}

/**
 * A port free on loopback now. The passkeys' origin names the port, and the server takes it
 * when built, before it listens: so the port is chosen first.
 */
async function freePort (): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}

async function signIn (page: Page, who: string): Promise<void> {
  await page.locator('body[data-ready="true"]').waitFor()
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.locator('#who', { hasText: who }).waitFor()
}

/** The code in the newest message of the dev outbox panel. */
async function newestOutboxCode (page: Page, previous?: string): Promise<string> {
  const code = page.locator('#outbox-list .message').first().locator('.code')
  // A locator, not waitForFunction: its polling evaluates a string, which the page's CSP refuses.
  if (previous !== undefined) await code.filter({ hasNotText: previous }).waitFor()
  return (await code.textContent()) ?? ''
}

async function submitCode (page: Page, code: string): Promise<void> {
  await page.getByLabel('Code', { exact: true }).fill(code)
  await page.getByLabel('Code', { exact: true }).press('Enter') // the keyboard submits the prompt
}

async function statusOf (page: Page, type: string): Promise<string> {
  return (await page.locator(`#method-list li[data-type="${type}"] .status`).textContent()) ?? ''
}

async function waitForStatus (page: Page, type: string, text: string): Promise<void> {
  await page.locator(`#method-list li[data-type="${type}"] .status`, { hasText: text }).waitFor()
}

/** The QR element as rendered, decoded from its screenshot. */
async function decodeQr (page: Page): Promise<string | undefined> {
  const png = PNG.sync.read(await page.locator('#qr').screenshot())
  return jsQR.default(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.byteLength), png.width, png.height)?.data
}

test('the example server page in Chromium: the whole storefront flow, then the back office', async (t: Test) => {
  const browser = await launch(t)
  if (browser === undefined) return

  // The MFA clock is the test's: TOTP codes of distinct time steps without sleeping (a step
  // accepted once is never accepted again), and the resend cooldown without waiting it out.
  let now = Date.now()
  const app = await buildServer({ database: 'memory', logger: false, devMode: true, clock: () => now })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const origin = `http://localhost:${(app.server.address() as AddressInfo).port}`

  say(`browser: ${chromium.name()} ${browser.version()}`)
  const context = await browser.newContext({ viewport: { width: 800, height: 1000 }, deviceScaleFactor: 1 })
  const page = await context.newPage()
  page.setDefaultTimeout(10_000)
  const seen = watch(page, origin)
  const totpCode = (secret: string): string => generateSync({ secret, epoch: Math.floor(now / 1000) })

  const response = await page.goto(`${origin}/`)
  t.match(response?.headers()['content-security-policy'], /^default-src 'self';/, 'the page allows its own origin only')
  await page.locator('body[data-ready="true"]').waitFor()
  t.ok(await page.locator('#outbox').isVisible(), 'dev mode: the outbox panel is shown')

  // Sign in with the keyboard: the demo customer's credentials are filled in.
  await page.getByLabel('Password', { exact: true }).press('Enter')
  await page.locator('#who', { hasText: 'sonia@example.com' }).waitFor()
  t.equal(await statusOf(page, 'email'), 'Off', 'email is listed, off')
  t.equal(await statusOf(page, 'totp'), 'Off', 'TOTP is listed, off')
  t.equal(await statusOf(page, 'recovery-codes'), 'Off', 'recovery codes are listed, off')
  t.match(await page.locator('#method-list li[data-type="recovery-codes"]').textContent(), /Turn on another method first/, 'recovery codes alone: the page says why, instead of a 5913')
  t.equal(await page.locator('#method-list li[data-type="recovery-codes"] button').count(), 0, 'no button that the server would refuse')

  // Email on: the code comes from the outbox panel. A wrong code, then no code, are refused.
  // With the keyboard: signing in put the focus on the methods; Tab, Tab is the first action.
  await page.keyboard.press('Tab')
  await page.keyboard.press('Tab')
  t.equal(await page.evaluate('document.activeElement.getAttribute("aria-label")'), 'Turn on Email', 'Tab reaches "Turn on Email"')
  await page.keyboard.press('Enter')
  await waitForStatus(page, 'email', 'Waiting for a code')
  await page.locator('#step-title', { hasText: 'Finish turning on Email' }).waitFor()
  const emailCode = await newestOutboxCode(page)
  t.match(emailCode, /^[1-9]\d{5}$/, 'the outbox panel shows the emailed code')
  await submitCode(page, emailCode === '999999' ? '999998' : '999999')
  await page.locator('#step-error [data-code="5901"]').waitFor()
  t.match(await page.locator('#step-error').textContent(), /X-MFA-Code is invalid\..*error 5901 · HTTP 403/, 'a wrong code: 5901 and its detail')
  await submitCode(page, '')
  await page.locator('#step-error [data-code="5900"]').waitFor()
  t.match(await page.locator('#step-error').textContent(), /X-MFA-Code header is missing\..*error 5900 · HTTP 403/, 'no code: 5900')
  await page.locator('#outbox-list .message').first().getByRole('button', { name: /^Use code/ }).click()
  t.equal(await page.getByLabel('Code', { exact: true }).inputValue(), emailCode, '"Use this code" fills the prompt')
  await page.getByLabel('Code', { exact: true }).press('Enter')
  await waitForStatus(page, 'email', 'On')
  t.match(await page.locator('#flash').textContent(), /Email is on/)

  // TOTP on: with email on, adding a factor asks for an email code first (a fresh one here).
  await page.getByRole('button', { name: 'Turn on Authenticator app' }).click()
  await page.locator('#step-title', { hasText: 'Turn on Authenticator app' }).waitFor()
  now += 11_000 // past the resend cooldown of the activation's code
  await page.getByRole('button', { name: 'Email me a code' }).first().click()
  const stepUpCode = await newestOutboxCode(page, emailCode)
  await submitCode(page, stepUpCode)
  await page.locator('#step-title', { hasText: 'Finish turning on Authenticator app' }).waitFor()
  await page.locator('#qr svg').waitFor()
  const secret = (await page.locator('#totp-secret').textContent()) ?? ''
  const uri = (await page.locator('#totp-uri').textContent()) ?? ''
  t.match(secret, /^[A-Z2-7]{16,}$/, 'the key is shown as text (base32)')
  t.equal(new URL(uri).searchParams.get('secret'), secret, 'the set-up link carries that key')
  t.equal(await decodeQr(page), uri, 'the QR code decodes to the otpauth URI')
  if (process.env.UPDATE_SCREENSHOT === '1') {
    mkdirSync(dirname(SCREENSHOT), { recursive: true })
    await page.evaluate('window.scrollTo(0, 0)')
    await page.mouse.move(0, 0) // no hover state in the picture
    writeFileSync(SCREENSHOT, await page.screenshot())
    say(`browser: saved ${SCREENSHOT}`)
  }
  await submitCode(page, totpCode(secret))
  await waitForStatus(page, 'totp', 'On')
  t.match(await page.locator('#flash').textContent(), /Authenticator app is on/)

  // The protected action asks for a code, shows a refusal, then passes with a TOTP code.
  await page.getByLabel('Current password').fill('change123')
  await page.getByLabel('New password (8 characters or more)').fill('a-better-password')
  await page.getByLabel('Repeat the new password').fill('a-better-password')
  await page.getByRole('button', { name: 'Change password' }).click()
  await page.locator('#step-title', { hasText: 'Confirm it is you' }).waitFor()
  await submitCode(page, '000001')
  await page.locator('#step-error [data-code="5901"]').waitFor()
  t.match(await page.locator('#step-error').textContent(), /The password change was refused: X-MFA-Code is invalid\./, 'the refusal shows the JSON:API error')
  now += 30_000 // the next time step: the code that turned TOTP on is never accepted again
  await submitCode(page, totpCode(secret))
  await page.locator('#protected-result', { hasText: 'Password changed' }).waitFor()
  t.pass('the protected action passes with a valid code')

  // A new email code, and a second one inside the cooldown: 5911 with its wait.
  await page.getByRole('button', { name: 'Email me a code' }).click()
  await page.locator('#flash', { hasText: 'A new code is on its way' }).waitFor()
  await newestOutboxCode(page, stepUpCode)
  await page.getByRole('button', { name: 'Email me a code' }).click()
  await page.locator('#flash [data-code="5911"]').waitFor()
  t.match(await page.locator('#flash').textContent(), /Too many codes requested\. Try again later\..*error 5911 · HTTP 429.*Wait 10 s before asking again\./, '5911 with the wait from Retry-After')

  // Recovery codes on: a step-up code (TOTP, the next step), then the codes, shown once, with
  // their download; one of them finishes ("saved them") and is used up.
  t.match(await page.locator('#lost').textContent(), /Recovery codes are off/, '"Lost my device?" says recovery codes are needed first')
  await page.getByRole('button', { name: 'Turn on Recovery codes' }).click()
  await page.locator('#step-title', { hasText: 'Turn on Recovery codes' }).waitFor()
  now += 30_000
  await submitCode(page, totpCode(secret))
  await page.locator('#step-title', { hasText: 'Save your recovery codes' }).waitFor()
  const codes = await page.locator('#recovery-codes code').allTextContents()
  t.equal(codes.length, 10, 'ten recovery codes are shown')
  t.ok(codes.every((code) => /^[A-Z0-9]{4}(?:-[A-Z0-9]{4}){3}$/.test(code)), 'like 7KQD-M2XA-9TNB-C4RE')
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download as a text file' }).click()])
  t.equal(download.suggestedFilename(), 'glue-mfa-recovery-codes.txt', 'the download is a text file')
  const file = readFileSync(await download.path(), 'utf8')
  t.same(file.split('\n').filter((line) => /^[A-Z0-9]{4}-/.test(line)), codes, 'the download holds the same codes, in order')
  t.match(file, /recovery codes for sonia@example\.com/, 'and says whose they are')
  t.equal(await page.locator('#code-submit').textContent(), 'I saved them: finish', 'a clear "saved them" step')
  await submitCode(page, codes[0])
  await waitForStatus(page, 'recovery-codes', 'On')
  t.match(await page.locator('#flash').textContent(), /Recovery codes are on/)
  t.equal(await page.locator('#recovery-codes code').count(), 0, 'the codes are not shown again')

  // Lost my device: TOTP goes with a recovery code; a used one is refused first.
  await page.getByLabel('Method to turn off').selectOption('totp')
  await page.getByRole('button', { name: 'Turn it off with a recovery code' }).click()
  await page.locator('#step-title', { hasText: 'Turn off Authenticator app with a recovery code' }).waitFor()
  await submitCode(page, codes[0])
  await page.locator('#step-error [data-code="5901"]').waitFor()
  t.pass('a used recovery code is refused (5901)')
  await submitCode(page, codes[1])
  await waitForStatus(page, 'totp', 'Off')
  t.match(await page.locator('#flash').textContent(), /Authenticator app is off\..*turn Authenticator app on again/, 'the lost device is gone; the page says what next')
  t.equal(await statusOf(page, 'email'), 'On', 'email stays on')
  t.equal(await statusOf(page, 'recovery-codes'), 'On', 'so do the other recovery codes')
  await page.locator('#notice-list [data-event="recovery.used"]').first().waitFor()
  t.match(await page.locator('#notice-list').textContent(), /A recovery code was used to confirm an action on your account; 8 left\./, 'the notifications panel shows what the customer was told')

  // Readable on a phone: nothing wider than the screen.
  await page.setViewportSize({ width: 360, height: 740 })
  t.ok(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'no horizontal scrolling at 360 px')

  // The back office: its own sign-in, its own methods, the support path.
  const backOffice = await page.goto(`${origin}/backend`)
  t.match(backOffice?.headers()['content-security-policy'], /^default-src 'self';/, 'so does the back-office page')
  await page.locator('body[data-ready="true"]').waitFor()
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.locator('#who', { hasText: 'admin@example.com' }).waitFor()
  t.equal(await statusOf(page, 'email'), 'Off', "the admin's own methods are listed")
  await page.getByLabel('Amount in EUR').fill('5')
  await page.getByRole('button', { name: 'Refund' }).click()
  await page.locator('#protected-result', { hasText: 'Refunded 5.00 EUR' }).waitFor()
  t.pass('without MFA the requireMfa route passes')

  // The admin turns on TOTP; then the reset asks for the admin's own code (a wrong one first).
  await page.getByRole('button', { name: 'Turn on Authenticator app' }).click()
  await page.locator('#totp-secret', { hasText: /^[A-Z2-7]{16,}$/ }).waitFor()
  const adminSecret = (await page.locator('#totp-secret').textContent()) ?? ''
  await submitCode(page, totpCode(adminSecret))
  await waitForStatus(page, 'totp', 'On')
  await page.locator('#notice-list [data-event="type.enabled"]').waitFor()
  t.match(await page.locator('#notice-list').textContent(), /^To admin@example\.com · type\.enabled/, "the back office lists the admin's own notifications")
  await page.getByLabel('Customer', { exact: true }).selectOption('DE--1')
  await page.getByRole('button', { name: 'Reset', exact: true }).click()
  await page.locator('#step-title', { hasText: 'Confirm it is you' }).waitFor()
  await submitCode(page, '000001')
  await page.locator('#step-error [data-code="5901"]').waitFor()
  t.match(await page.locator('#step-error').textContent(), /The reset of DE--1 was refused: X-MFA-Code is invalid\./, "a wrong admin code: the reset's JSON:API error")
  now += 30_000
  await submitCode(page, totpCode(adminSecret))
  await page.locator('#support-result', { hasText: 'Reset DE--1' }).waitFor()
  t.match(await page.locator('#support-result').textContent(), /Reset DE--1: turned off Email, Recovery codes\..*reset by user-1/, "the answer: the customer's disabled types, and who reset them")
  t.same(await page.locator('#support-result li .status').allTextContents(), ['Off', 'Off', 'Off', 'Off'], 'and their types now, all off')
  t.ok(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'the back office at 360 px: no horizontal scrolling either')

  // Back on the storefront (the same tab keeps its sign-in): everything off, and the customer
  // was told.
  await page.goto(`${origin}/`)
  await page.locator('body[data-ready="true"]').waitFor()
  await page.locator('#notice-list [data-event="admin.reset"]').waitFor()
  t.same(await page.locator('#method-list .status').allTextContents(), ['Off', 'Off', 'Off', 'Off'], "after support's reset the customer's methods are all off")
  t.match(await page.locator('#notice-list').first().textContent(), /^To sonia@example\.com · admin\.reset .*Support reset the multi-factor authentication of your account\./, "the customer's notification appears, newest first")
  t.ok(await page.locator('#lost-form').isHidden(), 'nothing left for a recovery code to turn off')

  // Without the dev outbox (production mode): no panel, and still nothing refused or logged.
  const quiet = await buildServer({ database: 'memory', logger: false, outbox: false, ...SECRETS })
  t.teardown(() => quiet.close())
  await quiet.listen({ port: 0, host: '127.0.0.1' })
  const quietPage = await context.newPage()
  const quietOrigin = `http://localhost:${(quiet.server.address() as AddressInfo).port}`
  const quietSeen = watch(quietPage, quietOrigin)
  await quietPage.goto(`${quietOrigin}/`)
  await quietPage.locator('body[data-ready="true"]').waitFor()
  t.notOk(await quietPage.locator('#outbox').isVisible(), 'outbox off: no outbox panel')
  t.same([...quietSeen.problems, ...quietSeen.refused], [], 'outbox off: the page loads with nothing refused or logged')

  t.same(seen.problems, [], 'no console error, no uncaught exception, no other origin, no failed request')
  // The refusals provoked above: a wrong code and no code at verify, a wrong code at the
  // protected action (403 each), a code inside the cooldown (429), a used recovery code and a
  // wrong admin code at the reset (403 each). Nothing else was refused.
  t.same(seen.refused, [403, 403, 403, 429, 403, 403], 'the only refused calls are the ones provoked on purpose')
  t.same(seen.refusalNotes, seen.refused, "Chromium's console notes are those refusals, nothing more")
})

test('passkeys in Chromium (a virtual authenticator): added, a protected action confirmed with one, removed; in both surfaces', async (t: Test) => {
  const browser = await launch(t)
  if (browser === undefined) return
  const port = await freePort()
  const relyingParty = passkeyRelyingParty('127.0.0.1', port) as PasskeyRelyingParty
  const origin = `http://localhost:${port}`
  t.same(relyingParty, { rpID: 'localhost', origin }, 'on loopback: rpID localhost, the page on http://localhost:<port>')
  const app = await buildServer({ database: 'memory', logger: false, devMode: true, passkey: relyingParty })
  t.teardown(() => app.close())
  await app.listen({ port, host: '127.0.0.1' })
  const context = await browser.newContext({ viewport: { width: 800, height: 1000 }, deviceScaleFactor: 1 })

  // On 127.0.0.1 a passkey cannot be made (an IP address is no relying party): the page says where to go.
  const elsewhere = await context.newPage()
  elsewhere.setDefaultTimeout(10_000)
  const elsewhereSeen = watch(elsewhere, `http://127.0.0.1:${port}`)
  await elsewhere.goto(`http://127.0.0.1:${port}/`)
  await signIn(elsewhere, 'sonia@example.com')
  t.match(await elsewhere.locator('#method-list li[data-type="passkey"] [data-problem="passkey"]').textContent(),
    `Passkeys work only on this demo's own address: open ${origin}/ (this page is http://127.0.0.1:${port}`, 'on 127.0.0.1: the page names the address to open')
  t.equal(await elsewhere.getByRole('button', { name: 'Add a passkey' }).count(), 0, 'and offers no button that would fail')
  t.same([...elsewhereSeen.problems, ...elsewhereSeen.refused], [], 'nothing refused or logged there either')
  await elsewhere.close()

  const page = await context.newPage()
  page.setDefaultTimeout(10_000)
  const seen = watch(page, origin)
  const cdp = await context.newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true }
  })
  const credentials = async (): Promise<Array<{ rpId?: string, signCount: number }>> => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials

  // What the server saw: the customer's types, through the API with a token of its own.
  const login = await app.inject({ method: 'POST', url: '/access-tokens', headers: { 'content-type': 'application/vnd.api+json' }, payload: { data: { type: 'access-tokens', attributes: { username: 'sonia@example.com', password: 'change123' } } } })
  const customerToken = login.json().data.attributes.accessToken as string
  const serverSees = async (): Promise<Array<[string, number]>> => (await app.inject({ url: '/multi-factor-auth-types', headers: { authorization: `Bearer ${customerToken}` } }))
    .json().data.map((d: any) => [d.id, d.attributes.status])

  await page.goto(`${origin}/`)
  await signIn(page, 'sonia@example.com')
  t.equal(await statusOf(page, 'passkey'), 'Off', 'the passkey is listed, off')
  await page.getByRole('button', { name: 'Add a passkey' }).click()
  await waitForStatus(page, 'passkey', 'On')
  t.match(await page.locator('#flash').textContent(), /Your passkey is added/)
  const made = await credentials()
  t.equal(made.length, 1, 'the authenticator holds one passkey')
  t.equal(made[0].rpId, 'localhost', 'for rpID localhost')
  t.same(await serverSees(), [['email', 0], ['totp', 0], ['passkey', 2], ['recovery-codes', 0]], 'the server has the passkey type enabled')

  // The protected action: only the passkey can answer, so the prompt has no code field.
  await page.getByLabel('Current password').fill('change123')
  await page.getByLabel('New password (8 characters or more)').fill('a-better-password')
  await page.getByLabel('Repeat the new password').fill('a-better-password')
  await page.getByRole('button', { name: 'Change password' }).click()
  await page.locator('#step-title', { hasText: 'Confirm it is you' }).waitFor()
  t.equal(await page.locator('#step-text').textContent(), 'Use your passkey.')
  t.ok(await page.locator('#code').isHidden(), 'no code field when only a passkey is on')
  t.equal(await page.evaluate('document.activeElement.id'), 'code-passkey', 'the focus is on "Use your passkey"')
  await page.keyboard.press('Enter')
  await page.locator('#protected-result', { hasText: 'Password changed' }).waitFor()
  t.match(await page.locator('#api-log').textContent(), /POST \/multi-factor-auth-trigger → 201.*$/m, 'a fresh challenge from the trigger')
  t.match(await page.locator('#api-log li').first().textContent(), /^PATCH \/customer-password\/DE--1 → 204 \(with X-MFA-Code\)$/, 'the assertion in X-MFA-Code passed the protected request')
  t.ok((await credentials())[0].signCount > made[0].signCount, 'the authenticator signed once more')
  const relogin = await app.inject({ method: 'POST', url: '/access-tokens', headers: { 'content-type': 'application/vnd.api+json' }, payload: { data: { type: 'access-tokens', attributes: { username: 'sonia@example.com', password: 'a-better-password' } } } })
  t.equal(relogin.statusCode, 201, 'the server changed the password')

  // Removed, with the passkey's own signature.
  await page.getByRole('button', { name: 'Remove the passkey' }).click()
  await page.locator('#step-title', { hasText: 'Remove your passkey' }).waitFor()
  await page.getByRole('button', { name: 'Use your passkey' }).click()
  await waitForStatus(page, 'passkey', 'Off')
  t.match(await page.locator('#flash').textContent(), /The passkey is removed\./)
  t.same((await serverSees()).find(([type]) => type === 'passkey'), ['passkey', 0], 'the server has it off')

  // The back office has a passkey type of its own: the admin adds one and refunds with it.
  await page.goto(`${origin}/backend`)
  await signIn(page, 'admin@example.com')
  await page.getByRole('button', { name: 'Add a passkey' }).click()
  await waitForStatus(page, 'passkey', 'On')
  t.equal((await credentials()).length, 2, "the admin's passkey is another one")
  await page.getByLabel('Amount in EUR').fill('5')
  await page.getByRole('button', { name: 'Refund' }).click()
  await page.getByRole('button', { name: 'Use your passkey' }).click()
  await page.locator('#protected-result', { hasText: 'Refunded 5.00 EUR' }).waitFor()
  t.pass('the refund (requireMfa) passes with the back-office passkey')

  t.same(seen.problems, [], 'no console error, no uncaught exception, no other origin, no failed request')
  t.same(seen.refused, [], 'nothing refused')
})
