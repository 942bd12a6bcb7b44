// The wire side of one op: the HTTP request a client sends for it, and how its answer is read.
import type { Kind, Op, OpSpec } from './model.js'

const RESOURCE: Record<Exclude<Kind, 'list' | 'write'>, string> = {
  activate: 'multi-factor-auth-type-activate',
  verify: 'multi-factor-auth-type-verify',
  deactivate: 'multi-factor-auth-type-deactivate',
  trigger: 'multi-factor-auth-trigger'
}

export interface HttpRequest {
  method: string
  path: string
  headers: Record<string, string>
  body?: string
}

/** The request a client sends for one op; `write` is a protected write (PATCH /carts/:id). */
export function toRequest (op: Op, token: string): HttpRequest {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` }
  if (op.code !== undefined) headers['x-mfa-code'] = op.code
  if (op.kind === 'list') return { method: 'GET', path: '/multi-factor-auth-types', headers }
  if (op.kind === 'write') {
    return { method: 'PATCH', path: `/carts/${op.principal}`, headers: { ...headers, 'content-type': 'application/json' }, body: '{}' }
  }
  const resource = RESOURCE[op.kind]
  return {
    method: 'POST',
    path: `/${resource}`,
    headers: { ...headers, 'content-type': 'application/vnd.api+json' },
    body: JSON.stringify({ data: { type: resource, attributes: { type: op.type } } })
  }
}

/**
 * "status glue-code" of an answer, and what is wrong with its shape if it is an error: every
 * error must be a JSON:API error document.
 */
export function classify (op: OpSpec, status: number, body: string, contentType: string | undefined): { result: string, shapeError?: string } {
  if (status < 300) {
    if (op.kind !== 'list') return { result: String(status) }
    try {
      const data = JSON.parse(body).data as Array<{ id: string, attributes: { status: number } }>
      return { result: `${status} ${data.map((d) => `${d.id}=${d.attributes.status}`).join(',')}` }
    } catch {
      return { result: `${status} unreadable list`, shapeError: `list body ${body.slice(0, 200)}` }
    }
  }
  let code = '?'
  let shapeError: string | undefined
  try {
    const doc = JSON.parse(body)
    const error = doc.errors?.[0]
    code = error?.code ?? '-'
    if (Object.keys(doc).join() !== 'errors' || doc.errors.length !== 1 || error.status !== status || typeof error.detail !== 'string') {
      shapeError = `not a JSON:API error document: ${body.slice(0, 200)}`
    } else if (status >= 500 && !(error.detail === 'Internal server error.' || error.code === '5903')) {
      shapeError = `unexpected 5xx detail: ${body.slice(0, 200)}`
    }
  } catch {
    shapeError = `not JSON: ${body.slice(0, 200)}`
  }
  if (shapeError === undefined && !/^application\/vnd\.api\+json/.test(contentType ?? '')) shapeError = `content type ${contentType}`
  return { result: code === '-' ? String(status) : `${status} ${code}`, shapeError }
}
