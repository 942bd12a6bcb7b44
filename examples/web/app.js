// The example server's page: a client of the Glue MFA HTTP API and the demo logins, nothing
// more. The same module runs the storefront page (/) and the back-office page (/backend); the
// <body data-surface> attribute says which. No build step, no dependency, nothing from another
// origin (the QR code comes from this server's POST /demo/qr as SVG). Passkeys are made and
// used by the browser (WebAuthn); their options and signed responses travel through the API.
/* global sessionStorage, DOMParser, PublicKeyCredential, location */

const surface = document.body.dataset.surface === 'backend' ? 'backend' : 'storefront'
const PREFIX = surface === 'backend' ? '/backend' : ''
const JSON_API = 'application/vnd.api+json'
const TOKEN_KEY = `glue-mfa-demo:${surface}:token`
const STATUS = { DISABLED: 0, PENDING: 1, ENABLED: 2 }
// The plugin answers numbers by default, the labels with `statusFormat: 'label'`.
const STATUS_LABELS = { deactivated: 0, 'activation is pending': 1, activated: 2 }
const RECOVERY = 'recovery-codes'
const PASSKEY = 'passkey'
const TYPE_NAMES = { email: 'Email', totp: 'Authenticator app', [PASSKEY]: 'Passkey', [RECOVERY]: 'Recovery codes' }
const RECOVERY_FILE = 'glue-mfa-recovery-codes.txt'
const STATUS_TEXT = ['Off', 'Waiting for a code', 'On']

const $ = (id) => document.getElementById(id)
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props)
  node.append(...children)
  return node
}

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  methods: [],
  outbox: false,
  passkey: null, // the server's passkey relying party { rpID, origin }, or null: no passkey type
  step: null, // the open code prompt: { ask, resolve } while it waits for a code
  shown: null, // the `ask` the code prompt shows
  recoveryCodes: [] // the codes of the recovery-code activation on screen (shown once, never stored)
}

// ---- HTTP ---------------------------------------------------------------------------------

/** One API call; never throws for an HTTP status, only for a network failure. */
async function api (method, path, { body, code, json = JSON_API } = {}) {
  const headers = { accept: `${JSON_API}, application/json` }
  if (body !== undefined) headers['content-type'] = json
  if (state.token !== null) headers.authorization = `Bearer ${state.token}`
  if (code !== undefined && code !== '') headers['x-mfa-code'] = code
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await response.text()
  let doc = null
  try { doc = text === '' ? null : JSON.parse(text) } catch { doc = null }
  const result = { status: response.status, ok: response.ok, document: doc, retryAfter: response.headers.get('retry-after') }
  if (!path.startsWith('/dev/')) logCall(method, path, result, headers['x-mfa-code'] !== undefined)
  return result
}

/** The first JSON:API error of a refused call, with the wait of a 429. */
function errorOf (result) {
  const first = result.document?.errors?.[0] ?? {}
  return {
    code: first.code ?? null,
    status: first.status ?? result.status,
    detail: first.detail ?? first.message ?? `HTTP ${result.status}`,
    retryAfter: result.retryAfter === null ? null : Number(result.retryAfter),
    document: result.document
  }
}

const needsCode = (result) => {
  const { code } = errorOf(result)
  return code === '5900' || code === '5901'
}

function resource (type, attributes) {
  return { data: { type, attributes } }
}

// ---- messages ----------------------------------------------------------------------------

function errorNode (result, what) {
  const error = errorOf(result)
  const box = el('div', { className: 'error-body' })
  box.dataset.code = error.code ?? ''
  box.append(el('p', {}, el('strong', {}, `${what} was refused: `), error.detail))
  const facts = [`HTTP ${error.status}`]
  if (error.code !== null) facts.unshift(`error ${error.code}`)
  box.append(el('p', { className: 'facts' }, facts.join(' · ')))
  if (error.code === '5900') box.append(el('p', {}, 'A code is needed: enter one and try again.'))
  if (error.code === '5901') box.append(el('p', {}, 'The code is wrong, used up, expired or blocked (too many tries). Check it or ask for a new one.'))
  if (error.code === '5912' || error.code === '001') box.append(el('p', {}, 'Sign out and sign in again, then retry.'))
  if (error.retryAfter !== null && Number.isFinite(error.retryAfter)) {
    const wait = el('p', { className: 'wait' }, `Wait ${error.retryAfter} s before asking again.`)
    wait.dataset.wait = String(error.retryAfter)
    box.append(wait)
  }
  if (error.document !== null) {
    box.append(el('details', {}, el('summary', {}, 'Error document'), el('pre', {}, JSON.stringify(error.document, null, 2))))
  }
  return box
}

function flash (message, kind = 'ok') {
  const box = $('flash')
  box.replaceChildren(typeof message === 'string' ? el('p', {}, message) : message)
  box.className = `flash ${kind}`
  box.hidden = false
}

function flashError (result, what) {
  flash(errorNode(result, what), 'error')
}

function clearFlash () {
  $('flash').hidden = true
  $('flash').replaceChildren()
}

function logCall (method, path, result, withCode) {
  const list = $('api-log')
  const line = el('li', {}, el('code', {}, `${method} ${path}`), ` → ${result.status}`)
  if (withCode) line.append(' (with X-MFA-Code)')
  const code = result.document?.errors?.[0]?.code
  if (code !== undefined) line.append(` error ${code}`)
  list.prepend(line)
  while (list.children.length > 40) list.lastElementChild.remove()
}

// ---- signing in ---------------------------------------------------------------------------

function claims () {
  try {
    const part = state.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    return JSON.parse(atob(part))
  } catch {
    return {}
  }
}

async function signIn (event) {
  event.preventDefault()
  clearFlash()
  const form = new FormData(event.target)
  const credentials = { username: String(form.get('username')), password: String(form.get('password')) }
  state.token = null
  const result = surface === 'backend'
    ? await api('POST', '/backend/token', { body: credentials, json: 'application/json' })
    : await api('POST', '/access-tokens', { body: resource('access-tokens', credentials) })
  if (!result.ok) return flashError(result, 'Signing in')
  state.token = surface === 'backend' ? result.document.accessToken : result.document.data.attributes.accessToken
  sessionStorage.setItem(TOKEN_KEY, state.token)
  await showAccount()
  $('methods-title').focus()
}

function signOut () {
  state.token = null
  state.methods = []
  sessionStorage.removeItem(TOKEN_KEY)
  $('notice-list').replaceChildren()
  closeStep()
  clearFlash()
  $('account').hidden = true
  $('signin').hidden = false
  $('username').focus()
}

async function showAccount () {
  const { email, sub } = claims()
  $('who').textContent = `${email ?? sub} (${sub})`
  $('signin').hidden = true
  $('account').hidden = false
  await refreshMethods()
}

// ---- the MFA methods ------------------------------------------------------------------------

const nameOf = (type) => TYPE_NAMES[type] ?? type
const statusOf = (value) => typeof value === 'number' ? value : (STATUS_LABELS[value] ?? STATUS.DISABLED)
const enabledMethods = () => state.methods.filter((m) => m.status === STATUS.ENABLED)
const emailEnabled = () => enabledMethods().some((m) => m.type === 'email')
const isOn = (type) => enabledMethods().some((m) => m.type === type)
/** The enabled methods a recovery code can stand in for (everything but the recovery codes). */
const primaryEnabled = () => enabledMethods().filter((m) => m.type !== RECOVERY)

async function refreshMethods () {
  const result = await api('GET', `${PREFIX}/multi-factor-auth-types`)
  if (!result.ok) {
    if (result.status === 401) signOut()
    return flashError(result, 'Reading your methods')
  }
  state.methods = result.document.data.map((item) => ({ type: item.attributes.type, status: statusOf(item.attributes.status) }))
  renderMethods()
  renderLostDevice()
  await refreshNotifications()
}

function button (label, onClick, { secondary = false, name } = {}) {
  const node = el('button', { type: 'button', textContent: label, className: secondary ? 'secondary' : '' })
  if (name !== undefined) node.setAttribute('aria-label', name)
  node.addEventListener('click', () => { onClick().catch(networkFailure) })
  return node
}

function renderMethods () {
  const list = $('method-list')
  list.replaceChildren()
  for (const method of state.methods) {
    const name = nameOf(method.type)
    const pendingPasskey = method.type === PASSKEY && method.status === STATUS.PENDING
    const status = el('span', { className: `status status-${method.status}`, textContent: pendingPasskey ? 'Not finished' : STATUS_TEXT[method.status] })
    const actions = el('div', { className: 'actions' })
    if (method.type === PASSKEY) {
      renderPasskeyActions(method, actions)
    } else if (method.status === STATUS.DISABLED && method.type === RECOVERY && primaryEnabled().length === 0) {
      // The server would answer 5913: recovery codes back up another method, never stand alone.
      actions.append(el('p', { className: 'hint' }, 'Single-use codes for the day your phone is gone. Turn on another method first.'))
    } else if (method.status === STATUS.DISABLED) {
      actions.append(button('Turn on', () => enable(method.type), { name: `Turn on ${name}` }))
    } else if (method.status === STATUS.PENDING) {
      actions.append(
        button('Enter code', () => verify(method.type), { name: `Enter code for ${name}` }),
        button('Start again', () => enable(method.type), { secondary: true, name: `Start again with ${name}` }))
    } else {
      if (method.type === 'email') actions.append(button('Email me a code', () => trigger(method.type), { secondary: true }))
      actions.append(button('Turn off', () => disable(method.type), { secondary: true, name: `Turn off ${name}` }))
    }
    const item = el('li', { className: 'method' }, el('span', { className: 'name', textContent: name }), status, actions)
    item.dataset.type = method.type
    item.dataset.status = String(method.status)
    list.append(item)
  }
  if (state.methods.length === 0) list.append(el('li', {}, 'This server offers no methods.'))
}

/**
 * Runs `call(code)`; while the server answers 5900/5901, shows why and asks for a(nother) code.
 * `ask` is asked first when `askFirst` (the caller knows a code is needed). Returns the last
 * result, or null when the person cancelled.
 */
async function withCode (call, ask, askFirst) {
  let code
  if (askFirst) {
    code = await askCode(ask)
    if (code === null) return null
  }
  for (;;) {
    const result = await call(code)
    if (!needsCode(result)) return result
    showStepError(result, ask.what)
    code = await askCode(ask, { keepError: true })
    if (code === null) return null
  }
}

function stepUpPrompt (title, what) {
  const on = enabledMethods().filter((m) => m.type !== PASSKEY).map((m) => m.type === RECOVERY ? 'one of your recovery codes' : nameOf(m.type))
  const codes = `Enter a code from a method that is on (${on.join(' or ') || 'none'}).`
  let text = codes
  if (isOn(PASSKEY)) {
    const problem = passkeyProblem()
    if (problem !== null) text = on.length > 0 ? `${problem} ${codes}` : problem
    else text = on.length > 0 ? `Use your passkey, or enter a code from a method that is on (${on.join(' or ')}).` : 'Use your passkey.'
  }
  return {
    title,
    what,
    text,
    resend: emailEnabled() ? { label: 'Email me a code', run: () => sendCode('email') } : undefined,
    letters: isOn(RECOVERY),
    passkey: isOn(PASSKEY) && passkeyProblem() === null,
    codeless: on.length === 0
  }
}

async function enable (type) {
  clearFlash()
  const name = nameOf(type)
  const activate = (code) => api('POST', `${PREFIX}/multi-factor-auth-type-activate`, { body: resource('multi-factor-auth-type-activate', { type }), code })
  const confirm = enabledMethods().filter((m) => m.type !== type).length > 0
  const ask = stepUpPrompt(`Turn on ${name}`, `Turning on ${name}`)
  const result = await withCode(activate, ask, confirm)
  if (result === null) return
  closeStep(ask)
  if (!result.ok) {
    await refreshMethods()
    return flashError(result, `Turning on ${name}`)
  }
  await refreshMethods()
  hideSetups()
  if (type === PASSKEY) return await registerPasskey(type, result.document?.data?.attributes?.options)
  if (result.status === 201 && type === 'totp') await showTotpSetup(result.document.data.attributes)
  if (result.status === 201 && type === RECOVERY) showRecoverySetup(result.document.data.attributes.codes)
  await refreshOutbox()
  await verify(type, { started: true })
}

async function verify (type, { started = false } = {}) {
  clearFlash()
  const name = nameOf(type)
  if (!started) hideSetups()
  const ask = type === RECOVERY
    ? {
        title: started ? 'Save your recovery codes' : `Finish turning on ${name}`,
        what: 'Checking the recovery code',
        text: started
          ? 'These codes are shown only now. Download them or write them down, keep them apart from your phone; each works once, in place of a code. Saved them? Enter one of them to finish (that one is then used up).'
          : 'Enter one of the recovery codes you saved. Did not save them? Choose "Start again" in the list for new ones.',
        submit: started ? 'I saved them: finish' : undefined,
        letters: true
      }
    : {
        title: `Finish turning on ${name}`,
        what: `Checking the ${name.toLowerCase()} code`,
        text: type === 'email'
          ? `We emailed you a code. Enter it here.${state.outbox ? ' (Development mode: it is in the dev mail outbox panel.)' : ''}`
          : (started ? 'Scan the QR code (or type the key) in your authenticator app, then enter the 6-digit code it shows.' : 'Enter the 6-digit code your authenticator app shows. Lost the set-up? Choose "Start again" in the list.'),
        resend: type === 'email' ? { label: 'Email me a new code', run: () => resendActivation(type) } : undefined
      }
  const result = await withCode((code) => api('POST', `${PREFIX}/multi-factor-auth-type-verify`, { body: resource('multi-factor-auth-type-verify', { type }), code }), ask, true)
  closeStep(ask)
  await refreshMethods()
  if (result === null) return
  if (!result.ok) return flashError(result, `Turning on ${name}`)
  flash(type === RECOVERY
    ? 'Recovery codes are on. Each of the others you saved works once, wherever a code is asked for.'
    : `${name} is on. Protected actions now ask for a code.`)
}

async function resendActivation (type) {
  const result = await api('POST', `${PREFIX}/multi-factor-auth-type-activate`, { body: resource('multi-factor-auth-type-activate', { type }) })
  await refreshOutbox()
  return result
}

async function sendCode (type) {
  const result = await api('POST', `${PREFIX}/multi-factor-auth-trigger`, { body: resource('multi-factor-auth-trigger', { type }) })
  await refreshOutbox()
  return result
}

async function trigger (type) {
  clearFlash()
  const result = await sendCode(type)
  if (!result.ok) return flashError(result, 'Sending a code')
  flash(`A new code is on its way to your ${nameOf(type).toLowerCase()}.`)
}

/** Turns `type` off with a code; `withRecovery`: the "lost my device" path, a recovery code only. */
async function disable (type, { withRecovery = false } = {}) {
  clearFlash()
  hideSetups()
  const name = nameOf(type)
  const recoveryOn = isOn(RECOVERY)
  let ask
  if (withRecovery) {
    ask = {
      title: `Turn off ${name} with a recovery code`,
      what: `Turning off ${name}`,
      text: 'Enter one of your saved recovery codes (like 7KQD-M2XA-9TNB-C4RE). It is used up once accepted.',
      letters: true
    }
  } else if (type === RECOVERY) {
    // Recovery codes go with a code of any method that is on.
    ask = stepUpPrompt(`Turn off ${name}`, `Turning off ${name}`)
  } else if (type === PASSKEY) {
    // A passkey goes with its own signature (or a recovery code).
    const problem = passkeyProblem()
    ask = {
      title: 'Remove your passkey',
      what: 'Removing the passkey',
      text: [problem ?? 'Confirm with the passkey.', recoveryOn ? 'Or enter one of your recovery codes.' : ''].join(' ').trim(),
      letters: true,
      passkey: problem === null,
      codeless: !recoveryOn
    }
  } else {
    const own = type === 'email' ? 'Enter a code we email you' : 'Enter the 6-digit code your authenticator app shows'
    ask = {
      title: `Turn off ${name}`,
      what: `Turning off ${name}`,
      text: recoveryOn ? `${own}, or one of your recovery codes.` : `${own}.`,
      resend: type === 'email' ? { label: 'Email me a code', run: () => sendCode(type) } : undefined,
      letters: recoveryOn
    }
  }
  const primariesBefore = primaryEnabled().length
  const result = await withCode((code) => api('POST', `${PREFIX}/multi-factor-auth-type-deactivate`, { body: resource('multi-factor-auth-type-deactivate', { type }), code }), ask, true)
  closeStep(ask, { focus: withRecovery ? 'lost-title' : 'methods-title' })
  await refreshMethods()
  if (result === null) return
  if (!result.ok) return flashError(result, `Turning off ${name}`)
  // The last other method gone: the server turned the recovery codes off with it.
  const also = recoveryOn && type !== RECOVERY && primariesBefore === 1 ? ' Your recovery codes went with it: they back up another method, never stand alone.' : ''
  if (type === PASSKEY && !withRecovery) return flash(`The passkey is removed.${also} It stays in your device's passkey list until you delete it there.`)
  flash(withRecovery
    ? `${name} is off.${also} Set up your new device: turn ${name} on again from the list.`
    : `${name} is off.${also}`)
}

// ---- recovery codes ---------------------------------------------------------------------------

function showRecoverySetup (codes) {
  state.recoveryCodes = Array.isArray(codes) ? codes.map(String) : []
  const list = $('recovery-codes')
  list.replaceChildren(...state.recoveryCodes.map((code) => el('li', {}, el('code', { textContent: code }))))
  $('recovery-setup').hidden = false
}

function hideRecoverySetup () {
  state.recoveryCodes = []
  $('recovery-setup').hidden = true
  $('recovery-codes').replaceChildren()
}

function hideSetups () {
  hideTotpSetup()
  hideRecoverySetup()
}

/** The codes on screen as a text file, made in the page (a Blob): nothing is sent anywhere. */
function downloadRecoveryCodes () {
  const { email, sub } = claims()
  const text = [
    `Glue MFA demo (${surface}): recovery codes for ${email ?? sub}`,
    `Made ${new Date().toISOString()}. Each code works once, wherever a code is asked for.`,
    'Keep this file apart from your phone.',
    '',
    ...state.recoveryCodes,
    ''
  ].join('\n')
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }))
  const link = el('a', { href: url, download: RECOVERY_FILE })
  document.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}

// ---- lost my device --------------------------------------------------------------------------

/** The "lost my device" form: which methods a recovery code can turn off, or why none. */
function renderLostDevice () {
  const form = $('lost-form')
  const note = $('lost-note')
  const primaries = primaryEnabled()
  const ready = isOn(RECOVERY) && primaries.length > 0
  form.hidden = !ready
  if (ready) {
    const select = $('lost-type')
    const chosen = select.value
    select.replaceChildren(...primaries.map((m) => el('option', { value: m.type, textContent: nameOf(m.type) })))
    if (primaries.some((m) => m.type === chosen)) select.value = chosen
    note.textContent = 'Choose the method whose device is gone, then enter one of your recovery codes in place of its code.'
  } else if (primaries.length === 0) {
    note.textContent = 'No method is on, so nothing asks for a code from a device.'
  } else {
    note.textContent = surface === 'backend'
      ? 'Recovery codes are off: turn them on in the list while you still have your device. Without them, ask for your methods to be reset.'
      : 'Recovery codes are off: turn them on in the list while you still have your device. Without them, support can reset your methods after checking who you are (the back office\'s "Reset a customer\'s MFA").'
  }
}

function lostDevice (event) {
  event.preventDefault()
  return disable($('lost-type').value, { withRecovery: true })
}

// ---- TOTP set-up ------------------------------------------------------------------------------

async function showTotpSetup ({ secret, otpauthUri }) {
  $('totp-secret').textContent = secret
  $('totp-uri').textContent = otpauthUri
  const response = await fetch('/demo/qr', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: otpauthUri }) })
  const svg = new DOMParser().parseFromString(await response.text(), 'image/svg+xml').documentElement
  const qr = $('qr')
  qr.replaceChildren()
  if (response.ok && svg.nodeName === 'svg') {
    svg.setAttribute('aria-hidden', 'true')
    svg.setAttribute('focusable', 'false')
    qr.append(document.importNode(svg, true))
  } else {
    qr.append(el('p', {}, 'The QR code could not be made: type the key instead.'))
  }
  $('totp-setup').hidden = false
}

function hideTotpSetup () {
  $('totp-setup').hidden = true
  $('qr').replaceChildren()
  $('totp-secret').textContent = ''
  $('totp-uri').textContent = ''
}

// ---- the code prompt ------------------------------------------------------------------------

/** Shows the code prompt; resolves with what was typed ('' is sent as no header), or null. */
function askCode (ask, { keepError = false } = {}) {
  if (state.step !== null) state.step.resolve(null)
  $('step-title').textContent = ask.title
  $('step-text').textContent = ask.text
  if (!keepError) {
    $('step-error').hidden = true
    $('step-error').replaceChildren()
  }
  const resend = $('code-resend')
  resend.hidden = ask.resend === undefined
  if (ask.resend !== undefined) resend.textContent = ask.resend.label
  $('code-submit').textContent = ask.submit ?? 'Continue'
  $('code-passkey').hidden = ask.passkey !== true
  // Only a passkey can answer: no code field to type into.
  $('code-field').hidden = ask.codeless === true && ask.passkey === true
  $('code-submit').hidden = $('code-field').hidden
  // Recovery codes have letters: a phone shows the full keyboard for them.
  $('code').inputMode = ask.letters === true ? 'text' : 'numeric'
  $('code').value = ''
  state.shown = ask
  $('step').hidden = false
  $(($('code-field').hidden) ? 'code-passkey' : 'code').focus()
  return new Promise((resolve) => {
    state.step = { ask, resolve }
  })
}

function showStepError (result, what) {
  const box = $('step-error')
  box.replaceChildren(errorNode(result, what))
  box.hidden = false
}

/** Closes the code prompt of `ask` (or whatever it shows, without `ask`), unless another flow took it over. */
function closeStep (ask, { focus = 'methods-title' } = {}) {
  if (ask !== undefined && state.shown !== ask) return
  // Keyboard users keep their place: from the closing prompt, focus goes back where they were.
  if ($('step').contains(document.activeElement)) $(focus).focus()
  if (state.step !== null) state.step.resolve(null)
  state.step = null
  state.shown = null
  $('step').hidden = true
  $('step-error').hidden = true
  hideSetups()
}

function submitCode (event) {
  event.preventDefault()
  if (state.step === null) return
  const { resolve } = state.step
  state.step = null
  resolve($('code').value.trim())
}

async function resendFromStep () {
  if (state.step === null || state.step.ask.resend === undefined) return
  const result = await state.step.ask.resend.run()
  if (!result.ok) return showStepError(result, 'Sending a code')
  $('step-error').hidden = true
  $('step-text').textContent = `${state.step.ask.text} A new code is on its way.`
  $('code').focus()
}

/** The prompt's "Use your passkey": a fresh challenge, the browser signs it, the prompt answers with the signature. */
async function passkeyFromStep () {
  if (state.step === null || state.step.ask.passkey !== true) return
  const step = state.step
  const signed = await passkeyAssertion(PASSKEY)
  if (state.step !== step) return // the prompt was closed or taken over meanwhile
  if (signed.error !== undefined) {
    $('step-error').replaceChildren(signed.error)
    $('step-error').hidden = false
    return
  }
  state.step = null
  step.resolve(signed.code)
}

// ---- passkeys (WebAuthn) ----------------------------------------------------------------------

/**
 * Why this page cannot use a passkey, or null when it can: WebAuthn needs a secure context
 * (https, or http://localhost) and a page on the relying party's domain (an IP address never is).
 */
function passkeyProblem () {
  if (state.passkey === null) return 'This server offers no passkeys.'
  const { rpID, origin } = state.passkey
  const host = location.hostname
  const onSite = host === rpID || host.endsWith(`.${rpID}`)
  if (!window.isSecureContext || !onSite) {
    return `Passkeys work only on this demo's own address: open ${origin}${location.pathname} (this page is ${location.origin}; passkeys need https or localhost, never an IP address).`
  }
  if (typeof window.PublicKeyCredential !== 'function' || navigator.credentials === undefined) {
    return 'This browser cannot make or use passkeys (it has no WebAuthn).'
  }
  return null
}

function renderPasskeyActions (method, actions) {
  const problem = passkeyProblem()
  if (method.status !== STATUS.ENABLED && problem !== null) {
    const hint = el('p', { className: 'hint passkey-problem', textContent: problem })
    hint.dataset.problem = 'passkey'
    actions.append(hint)
  } else if (method.status === STATUS.DISABLED) {
    actions.append(button('Add a passkey', () => enable(PASSKEY)))
    actions.append(el('p', { className: 'hint' }, 'Your device (phone, computer, security key) confirms it is you: a fingerprint, face, PIN or a touch.'))
  } else if (method.status === STATUS.PENDING) {
    actions.append(button('Add a passkey', () => enable(PASSKEY), { name: 'Add a passkey again' }))
    actions.append(el('p', { className: 'hint' }, 'The passkey was not made (cancelled, or the time ran out). Try again.'))
  } else {
    actions.append(button('Remove', () => disable(PASSKEY), { secondary: true, name: 'Remove the passkey' }))
  }
}

const bytes = (value) => value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength)

function toBase64url (value) {
  let text = ''
  for (const byte of bytes(value)) text += String.fromCharCode(byte)
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

function fromBase64url (text) {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'))
  return Uint8Array.from(binary, (c) => c.charCodeAt(0))
}

/** The server's options as WebAuthn takes them: parseCreationOptionsFromJSON where the browser has it, by hand elsewhere. */
function creationOptions (json) {
  if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function') return PublicKeyCredential.parseCreationOptionsFromJSON(json)
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: (json.excludeCredentials ?? []).map((c) => ({ ...c, id: fromBase64url(c.id) }))
  }
}

function requestOptions (json) {
  if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function') return PublicKeyCredential.parseRequestOptionsFromJSON(json)
  return { ...json, challenge: fromBase64url(json.challenge), allowCredentials: (json.allowCredentials ?? []).map((c) => ({ ...c, id: fromBase64url(c.id) })) }
}

/** A credential's JSON (credential.toJSON() where the browser has it), as X-MFA-Code carries it: base64url of that JSON. */
function encodeCredential (credential) {
  let json
  if (typeof credential.toJSON === 'function') {
    json = credential.toJSON()
  } else {
    const r = credential.response
    const response = r.attestationObject !== undefined
      ? { clientDataJSON: toBase64url(r.clientDataJSON), attestationObject: toBase64url(r.attestationObject), transports: r.getTransports?.() ?? [] }
      : { clientDataJSON: toBase64url(r.clientDataJSON), authenticatorData: toBase64url(r.authenticatorData), signature: toBase64url(r.signature), userHandle: r.userHandle === null ? undefined : toBase64url(r.userHandle) }
    json = { id: credential.id, rawId: toBase64url(credential.rawId), type: credential.type, authenticatorAttachment: credential.authenticatorAttachment ?? undefined, clientExtensionResults: credential.getClientExtensionResults(), response }
  }
  return toBase64url(new TextEncoder().encode(JSON.stringify(json)))
}

/** What the browser's refusal means, in words. */
function passkeyFailure (error, what) {
  const reason = error?.name === 'NotAllowedError'
    ? 'it was cancelled, or the time ran out.'
    : error?.name === 'InvalidStateError'
      ? 'this device already holds a passkey of yours for this site.'
      : error?.name === 'SecurityError'
        ? `the page's address does not match the passkeys' site (${state.passkey?.origin ?? 'none'}).`
        : `${error?.message ?? String(error)}.`
  const box = el('div', { className: 'error-body' }, el('p', {}, el('strong', {}, `${what} did not happen: `), reason))
  box.dataset.code = 'webauthn'
  return box
}

/** The browser makes the passkey for the activation's options, and verify stores it. */
async function registerPasskey (type, options) {
  if (options === undefined) return flash('The server sent no passkey options.', 'error')
  flash('Follow your browser: it asks your device to make a passkey for this site.')
  let credential
  try {
    credential = await navigator.credentials.create({ publicKey: creationOptions(options) })
  } catch (error) {
    await refreshMethods()
    return flash(passkeyFailure(error, 'Adding a passkey'), 'error')
  }
  const result = await api('POST', `${PREFIX}/multi-factor-auth-type-verify`, { body: resource('multi-factor-auth-type-verify', { type }), code: encodeCredential(credential) })
  await refreshMethods()
  if (!result.ok) return flashError(result, 'Adding a passkey')
  flash('Your passkey is added. Protected actions can now be confirmed with it.')
}

/** A fresh challenge (trigger), signed by the browser: `{ code }` for X-MFA-Code, or `{ error }` to show. */
async function passkeyAssertion (type) {
  const result = await api('POST', `${PREFIX}/multi-factor-auth-trigger`, { body: resource('multi-factor-auth-trigger', { type }) })
  if (!result.ok) return { error: errorNode(result, 'Asking for a passkey challenge') }
  try {
    const credential = await navigator.credentials.get({ publicKey: requestOptions(result.document.data.attributes.options) })
    return { code: encodeCredential(credential) }
  } catch (error) {
    return { error: passkeyFailure(error, 'Signing with the passkey') }
  }
}

// ---- the protected demo action ----------------------------------------------------------------

async function protectedAction (event) {
  event.preventDefault()
  clearFlash()
  const form = event.target
  const result$ = $('protected-result')
  result$.replaceChildren()
  const fields = Object.fromEntries(new FormData(form))
  let call, what, done
  if (surface === 'backend') {
    what = 'The refund'
    const body = { orderReference: fields.orderReference, amount: Math.round(Number(fields.amount) * 100) }
    call = (code) => api('POST', '/backend/refunds', { body, code, json: 'application/json' })
    done = (result) => `Refunded ${(result.document.amount / 100).toFixed(2)} EUR on order ${result.document.orderReference}.`
  } else {
    what = 'The password change'
    const id = claims().sub
    call = (code) => api('PATCH', `/customer-password/${encodeURIComponent(id)}`, { body: resource('customer-password', fields), code })
    done = () => 'Password changed. Use the new one next time you sign in.'
  }
  const ask = stepUpPrompt('Confirm it is you', what)
  const result = await withCode(call, ask, enabledMethods().length > 0)
  closeStep(ask, { focus: 'protected-title' })
  if (result === null) return
  if (!result.ok) {
    result$.replaceChildren(el('div', { className: 'error' }, errorNode(result, what)))
    return
  }
  form.reset()
  result$.replaceChildren(el('p', { className: 'ok' }, done(result)))
}

// ---- the support path (back office) -------------------------------------------------------------

const statusText = (value) => STATUS_TEXT[statusOf(value)] ?? String(value)

/** POST /backend/customers/:ref/mfa-reset, behind the back-office user's own step-up. */
async function resetCustomer (event) {
  event.preventDefault()
  clearFlash()
  const form = new FormData(event.target)
  const customer = String(form.get('customer'))
  const type = String(form.get('type') ?? '')
  const body = type === '' ? {} : { type }
  const out = $('support-result')
  out.replaceChildren()
  const what = `The reset of ${customer}`
  const call = (code) => api('POST', `/backend/customers/${encodeURIComponent(customer)}/mfa-reset`, { body, code, json: 'application/json' })
  const ask = stepUpPrompt('Confirm it is you', what)
  const result = await withCode(call, ask, enabledMethods().length > 0)
  closeStep(ask, { focus: 'support-title' })
  if (result === null) return
  if (!result.ok) {
    out.replaceChildren(el('div', { className: 'error' }, errorNode(result, what)))
    return
  }
  const answer = result.document
  const disabled = answer.disabled.map(nameOf)
  const types = el('ul', { className: 'plain' }, ...answer.types.map((t) => {
    const item = el('li', {}, el('span', { className: 'name', textContent: nameOf(t.type) }), ': ',
      el('span', { className: `status status-${statusOf(t.status)}`, textContent: statusText(t.status) }))
    if (typeof t.remaining === 'number' && statusOf(t.status) !== STATUS.DISABLED) item.append(` (${t.remaining} codes left)`)
    item.dataset.type = t.type
    return item
  }))
  out.replaceChildren(el('div', { className: 'answer' },
    el('p', { className: 'ok' }, disabled.length === 0
      ? `Nothing to reset: no method of ${answer.customerReference} was on.`
      : `Reset ${answer.customerReference}: turned off ${disabled.join(', ')}.`),
    el('p', {}, `Their methods now (reset by ${answer.resetBy}):`),
    types,
    el('p', { className: 'hint' }, 'The customer is told by email (see the notifications in dev mode) and can set up a new device.')))
}

// ---- the dev outbox -----------------------------------------------------------------------------

async function refreshOutbox () {
  if (!state.outbox) return
  const result = await api('GET', '/dev/outbox')
  if (!result.ok) return
  const list = $('outbox-list')
  list.replaceChildren()
  const messages = result.document.data.filter((m) => m.attributes.surface === surface)
  for (const { id, attributes: m } of messages) {
    const use = el('button', { type: 'button', className: 'secondary', textContent: 'Use this code' })
    use.setAttribute('aria-label', `Use code ${m.code}`)
    use.addEventListener('click', () => {
      if ($('step').hidden) return
      $('code').value = m.code
      $('code').focus()
    })
    const item = el('li', { className: 'message' },
      el('p', { className: 'meta' }, `To ${m.to} · ${nameOf(m.mfaType)} · ${new Date(m.sentAt).toLocaleTimeString()}`),
      el('p', {}, 'Your code: ', el('code', { className: 'code', textContent: m.code })),
      use)
    item.dataset.id = id
    list.append(item)
  }
  if (messages.length === 0) list.append(el('li', { className: 'empty' }, 'No email sent yet.'))
}

/** The notifications the signed-in user was sent about MFA changes (dev mode only). */
async function refreshNotifications () {
  const list = $('notice-list')
  if (!state.outbox) return
  if (state.token === null) {
    list.replaceChildren()
    return
  }
  const result = await api('GET', '/dev/notifications')
  if (!result.ok) return
  const { email, sub } = claims()
  const to = email ?? sub
  const notices = result.document.data.filter((n) => n.attributes.surface === surface && n.attributes.to === to)
  list.replaceChildren(...notices.map(({ id, attributes: n }) => {
    const item = el('li', { className: 'message notice' },
      el('p', { className: 'meta' }, `To ${n.to} · ${n.event} · ${new Date(n.sentAt).toLocaleTimeString()}`),
      el('p', { className: 'text', textContent: n.text }))
    item.dataset.id = id
    item.dataset.event = n.event
    return item
  }))
  if (notices.length === 0) list.append(el('li', { className: 'empty' }, `Nothing sent to ${to} yet.`))
}

// ---- start ----------------------------------------------------------------------------------------

function networkFailure (error) {
  flash(`The server did not answer (${error.message}). Is it still running?`, 'error')
}

async function start () {
  for (const node of document.querySelectorAll('[data-api-prefix]')) node.textContent = PREFIX
  $('signin-form').addEventListener('submit', (event) => { signIn(event).catch(networkFailure) })
  $('signout').addEventListener('click', signOut)
  $('refresh').addEventListener('click', () => { refreshMethods().catch(networkFailure) })
  $('code-form').addEventListener('submit', submitCode)
  $('code-cancel').addEventListener('click', () => closeStep())
  $('code-resend').addEventListener('click', () => { resendFromStep().catch(networkFailure) })
  $('code-passkey').addEventListener('click', () => { passkeyFromStep().catch(networkFailure) })
  $('protected-form').addEventListener('submit', (event) => { protectedAction(event).catch(networkFailure) })
  $('outbox-refresh').addEventListener('click', () => { Promise.all([refreshOutbox(), refreshNotifications()]).catch(networkFailure) })
  $('recovery-download').addEventListener('click', downloadRecoveryCodes)
  $('lost-form').addEventListener('submit', (event) => { lostDevice(event).catch(networkFailure) })
  if (surface === 'backend') $('support-form').addEventListener('submit', (event) => { resetCustomer(event).catch(networkFailure) })
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !$('step').hidden) closeStep()
  })

  const config = await (await fetch('/demo/web-config')).json()
  state.outbox = config.outbox === true
  state.passkey = config.passkey ?? null
  $('outbox').hidden = !state.outbox
  document.body.classList.toggle('with-outbox', state.outbox)
  await refreshOutbox()
  if (state.token !== null) await showAccount()
  document.body.dataset.ready = 'true'
}

start().catch(networkFailure)
