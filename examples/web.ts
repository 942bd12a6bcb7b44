/**
 * The example server's web page: a storefront page at `/` and a back-office page at `/backend`,
 * plain HTML, CSS and one ES module from `examples/web/`. The page is a client of the plugin's
 * HTTP API and the demo logins, nothing privileged; the two routes added here only help it:
 *
 *   GET  /demo/web-config  what the page may show (is the dev outbox on? the passkeys' rpID and
 *                          origin, so the page can tell a visitor on the wrong address where to go)
 *   POST /demo/qr          a QR code as SVG for an `otpauth://` URI (POST, so the TOTP secret
 *                          stays out of URLs and request logs)
 *
 * Every page response carries a Content-Security-Policy that allows this origin only, so the
 * page cannot load anything from the internet, and a browser reports it if it ever tried.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import fastifyStatic from '@fastify/static'
import QRCode from 'qrcode'

export interface WebPageOptions {
  /** The dev mail outbox (`GET /dev/outbox`) exists: the page shows it in a side panel [false]. */
  outbox?: boolean
  /** The passkey type's relying party, or false when the server has none [false]. */
  passkey?: { rpID: string, origin: string } | false
}

/** Where index.html, backend.html, app.js and style.css live. */
export const WEB_ROOT = join(dirname(fileURLToPath(import.meta.url)), 'web')

/** Same origin only; no inline script or style (the QR code is inline SVG markup, not a style). */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'"
].join('; ')

/** The longest text the QR route encodes: an otpauth URI is far shorter. */
const QR_MAX_LENGTH = 1024

/** The headers of every page file. */
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer'
}

/** Registers the page and its two helper routes on the example server's root instance. */
export async function registerWebPage (app: FastifyInstance, options: WebPageOptions = {}): Promise<void> {
  const outbox = options.outbox ?? false
  const passkey = options.passkey === undefined || options.passkey === false ? null : { rpID: options.passkey.rpID, origin: options.passkey.origin }

  // Only the files that exist get a route (`wildcard: false`), so every other path still ends in
  // the example server's JSON:API 404.
  await app.register(fastifyStatic, {
    root: WEB_ROOT,
    wildcard: false,
    index: 'index.html',
    setHeaders: (res) => {
      for (const [name, value] of Object.entries(PAGE_HEADERS)) res.setHeader(name, value)
    }
  })

  app.get('/backend', { schema: { hide: true } }, async (_request, reply) => {
    return await reply.sendFile('backend.html')
  })

  app.get('/demo/web-config', { schema: { hide: true } }, async () => ({ outbox, passkey }))

  app.post('/demo/qr', {
    schema: {
      hide: true,
      body: {
        type: 'object',
        required: ['data'],
        properties: { data: { type: 'string', minLength: 1, maxLength: QR_MAX_LENGTH } }
      }
    }
  }, async (request, reply) => {
    const { data } = request.body as { data: string }
    const svg = await QRCode.toString(data, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 })
    return await reply.type('image/svg+xml').header('cache-control', 'no-store').send(svg)
  })
}
