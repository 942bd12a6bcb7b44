/**
 * The storefront: customers, at /. A Glue-style login (POST /access-tokens), and demo resources
 * protected through the plugin's `protectedResources`: creating a cart and changing the password
 * need a code once the customer has MFA enabled.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { credentials, DEMO_CUSTOMERS, logIn, sameSecret } from './accounts.js'
import { errors, JSON_API, jsonApiError, MFA_CODE_HEADER, resourceBody, resourceResponse } from './json-api.js'
import type { GlueMfaAdmin } from '../../lib/index.js'
import { registerMfaSurface, type SurfaceSettings } from './mfa-surface.js'

const TOKEN_TTL = 8 * 60 * 60 // seconds, as Glue's default access token

/** The host's own token check on its demo resources (Glue's 002/001), before the MFA step-up. */
async function authenticate (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (typeof request.headers.authorization !== 'string' || request.headers.authorization.trim() === '') {
    return await jsonApiError(reply, 403, 'Missing access token.', '002')
  }
  try {
    await request.jwtVerify()
  } catch {
    return await jsonApiError(reply, 401, 'Invalid access token.', '001')
  }
}

export interface StorefrontSettings extends SurfaceSettings {
  /** Receives the storefront registration's admin API (the back office resets customers' MFA with it). */
  exposeAdmin: (admin: GlueMfaAdmin) => void
}

export function storefront (settings: StorefrontSettings): FastifyPluginAsync {
  return async function storefront (scope) {
    const customers = new Map(DEMO_CUSTOMERS.map((c) => [c.customerReference, { ...c }]))
    const carts = new Map<string, Array<{ id: string, attributes: Record<string, unknown> }>>()

    await registerMfaSurface(scope, {
      ...settings,
      surface: 'storefront',
      tokenTtl: TOKEN_TTL,
      findPrincipal: (principal) => customers.has(principal.id),
      protectedResources: ['carts', 'customer-password']
    })
    settings.exposeAdmin(scope.glueMfa)

    scope.post('/access-tokens', {
      schema: {
        summary: 'Log in a demo customer',
        description: `Glue-style login. Demo customers: ${credentials(DEMO_CUSTOMERS)}.`,
        tags: ['demo'],
        consumes: [JSON_API, 'application/json'],
        produces: [JSON_API],
        body: resourceBody('access-tokens', { username: { type: 'string' }, password: { type: 'string' } }, ['username', 'password']),
        response: {
          201: resourceResponse('access-tokens', 'The access token', {
            tokenType: { type: 'string' }, expiresIn: { type: 'integer' }, accessToken: { type: 'string' }
          }),
          ...errors(400, 401)
        }
      }
    }, async (request, reply) => {
      const { username, password } = (request.body as any).data.attributes as { username: string, password: string }
      const customer = logIn(customers.values(), username, password)
      if (customer === undefined) return await jsonApiError(reply, 401, 'Failed to authenticate user.', '003')
      const accessToken = scope.jwt.sign({ sub: customer.customerReference, email: customer.username })
      return await reply.code(201).type(JSON_API).send({
        data: { type: 'access-tokens', id: null, attributes: { tokenType: 'Bearer', expiresIn: TOKEN_TTL, accessToken } }
      })
    })

    const cartAttributes = { priceMode: { type: 'string' }, currency: { type: 'string' }, store: { type: 'string' }, name: { type: 'string' } }
    scope.get('/carts', {
      schema: {
        summary: "The customer's carts (a read: never needs a code)",
        tags: ['demo'],
        security: [{ bearerAuth: [] }],
        produces: [JSON_API]
      },
      preHandler: authenticate
    }, async (request, reply) => {
      const customer = (request.user as { sub: string }).sub
      const data = (carts.get(customer) ?? []).map((cart) => ({ type: 'carts', id: cart.id, attributes: cart.attributes }))
      return await reply.type(JSON_API).send({ data })
    })

    scope.post('/carts', {
      schema: {
        summary: 'Create a cart (protected: a code once MFA is enabled)',
        description: 'Protected through protectedResources: ["carts"]. With an enabled MFA type, a valid code must come in X-MFA-Code (5900/5901 otherwise).',
        tags: ['demo'],
        security: [{ bearerAuth: [] }],
        consumes: [JSON_API, 'application/json'],
        produces: [JSON_API],
        headers: MFA_CODE_HEADER,
        body: resourceBody('carts', cartAttributes, []),
        response: { 201: resourceResponse('carts', 'The new cart', cartAttributes), ...errors(400, 401, 403) }
      },
      preHandler: authenticate
    }, async (request, reply) => {
      const customer = (request.user as { sub: string }).sub
      const attributes = { priceMode: 'GROSS_MODE', currency: 'EUR', store: 'DE', name: 'My Cart', ...(request.body as any).data.attributes }
      const cart = { id: randomUUID(), attributes }
      carts.set(customer, [...(carts.get(customer) ?? []), cart])
      return await reply.code(201).type(JSON_API).send({ data: { type: 'carts', id: cart.id, attributes }, links: { self: `/carts/${cart.id}` } })
    })

    scope.patch('/customer-password/:id', {
      schema: {
        summary: "Change the customer's password (protected)",
        description: 'Protected through protectedResources: ["customer-password"]. `:id` is the customer reference (DE--1 for sonia@example.com).',
        tags: ['demo'],
        security: [{ bearerAuth: [] }],
        consumes: [JSON_API, 'application/json'],
        produces: [JSON_API],
        params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        headers: MFA_CODE_HEADER,
        body: resourceBody('customer-password', {
          password: { type: 'string' }, newPassword: { type: 'string', minLength: 8 }, confirmPassword: { type: 'string' }
        }, ['password', 'newPassword', 'confirmPassword']),
        response: { 204: { type: 'null', description: 'Password changed' }, ...errors(400, 401, 403) }
      },
      preHandler: authenticate
    }, async (request, reply) => {
      const { id } = request.params as { id: string }
      const customer = customers.get((request.user as { sub: string }).sub)
      if (customer === undefined || customer.customerReference !== id) return await jsonApiError(reply, 403, 'Unauthorized request.')
      const { password, newPassword, confirmPassword } = (request.body as any).data.attributes
      if (!sameSecret(password, customer.password)) return await jsonApiError(reply, 400, 'The current password is wrong.')
      if (newPassword !== confirmPassword) return await jsonApiError(reply, 400, 'The new passwords do not match.')
      customer.password = newPassword
      return await reply.code(204).send()
    })
  }
}
