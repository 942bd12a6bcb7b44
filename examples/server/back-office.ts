/**
 * The back office: users, at /backend, with their own tokens, MFA state and error codes
 * (5908/5909). A login (POST /backend/token), a refund route guarded by `requireMfa`, and the
 * support path: resetting a customer's MFA (a lost device), behind the user's own step-up.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import type { GlueMfaAdmin, Principal } from '../../lib/index.js'
import { credentials, DEMO_BACKEND_USERS, DEMO_CUSTOMERS, logIn } from './accounts.js'
import { errors, jsonApiError, MFA_CODE_HEADER } from './json-api.js'
import { registerMfaSurface, type SurfaceSettings } from './mfa-surface.js'

const TOKEN_TTL = 60 * 60 // seconds

export interface BackOfficeSettings extends SurfaceSettings {
  /** The storefront's admin API, for the customers' MFA. */
  customerMfa: () => GlueMfaAdmin
}

export function backOffice (settings: BackOfficeSettings): FastifyPluginAsync {
  return async function backend (scope) {
    const users = new Map(DEMO_BACKEND_USERS.map((u) => [u.id, { ...u }]))

    await registerMfaSurface(scope, {
      ...settings,
      surface: 'backend',
      prefix: '/backend',
      tokenTtl: TOKEN_TTL,
      findPrincipal: (principal) => users.has(principal.id)
    })

    scope.post('/backend/token', {
      schema: {
        summary: 'Log in the demo back-office user',
        description: `Demo user: ${credentials(DEMO_BACKEND_USERS)}.`,
        tags: ['demo'],
        body: {
          type: 'object',
          required: ['username', 'password'],
          properties: { username: { type: 'string' }, password: { type: 'string' } }
        },
        response: {
          200: {
            type: 'object',
            description: 'The access token',
            properties: { accessToken: { type: 'string' }, tokenType: { type: 'string' }, expiresIn: { type: 'integer' } }
          },
          ...errors(400, 401)
        }
      }
    }, async (request, reply) => {
      const { username, password } = request.body as { username: string, password: string }
      const user = logIn(users.values(), username, password)
      if (user === undefined) return await jsonApiError(reply, 401, 'Failed to authenticate user.', '003')
      return { accessToken: scope.jwt.sign({ sub: user.id, email: user.username }), tokenType: 'Bearer', expiresIn: TOKEN_TTL }
    })

    scope.post('/backend/refunds', {
      schema: {
        summary: 'Refund an order (protected by requireMfa)',
        description: 'Uses `preHandler: scope.requireMfa`: always needs a valid back-office token, and a code once the user has MFA enabled.',
        tags: ['demo'],
        security: [{ bearerAuth: [] }],
        headers: MFA_CODE_HEADER,
        body: {
          type: 'object',
          required: ['orderReference', 'amount'],
          properties: { orderReference: { type: 'string' }, amount: { type: 'integer', minimum: 1, description: 'cents' } }
        },
        response: {
          201: {
            type: 'object',
            description: 'The refund',
            properties: { id: { type: 'string' }, orderReference: { type: 'string' }, amount: { type: 'integer' }, refundedBy: { type: 'string' } }
          },
          ...errors(400, 401, 403)
        }
      },
      preHandler: scope.requireMfa
    }, async (request, reply) => {
      const { orderReference, amount } = request.body as { orderReference: string, amount: number }
      return await reply.code(201).send({ id: randomUUID(), orderReference, amount, refundedBy: (request.principal as Principal).id })
    })

    scope.post('/backend/customers/:customerReference/mfa-reset', {
      schema: {
        summary: "Reset a customer's MFA (support, a lost device), protected by requireMfa",
        description: "Disables the customer's MFA types (all, or `type`), drops their codes and secrets and clears the lockout, through the storefront registration's admin API (`glueMfa.reset`). Needs a back-office token, and the back-office user's own code once their MFA is enabled.",
        tags: ['demo'],
        security: [{ bearerAuth: [] }],
        headers: MFA_CODE_HEADER,
        params: { type: 'object', required: ['customerReference'], properties: { customerReference: { type: 'string' } } },
        body: { type: 'object', properties: { type: { type: 'string', minLength: 1, description: 'one MFA type; every type when absent' } } },
        response: {
          200: {
            type: 'object',
            description: 'What was disabled, and the customer\'s types now',
            properties: {
              customerReference: { type: 'string' },
              disabled: { type: 'array', items: { type: 'string' } },
              types: { type: 'array', items: { type: 'object', properties: { type: { type: 'string' }, status: { type: 'integer' }, remaining: { type: 'integer' } } } },
              resetBy: { type: 'string' }
            }
          },
          ...errors(400, 401, 403, 404)
        }
      },
      preHandler: scope.requireMfa
    }, async (request, reply) => {
      const { customerReference } = request.params as { customerReference: string }
      const customer = DEMO_CUSTOMERS.find((c) => c.customerReference === customerReference)
      if (customer === undefined) return await jsonApiError(reply, 404, 'Customer not found.')
      const { type } = (request.body ?? {}) as { type?: string }
      const mfa = settings.customerMfa()
      // The principal object, so the admin.reset event carries the customer's email (a notification).
      const disabled = await mfa.reset({ id: customerReference, email: customer.username }, type === undefined ? {} : { type })
      return { customerReference, disabled, types: await mfa.status(customerReference), resetBy: (request.principal as Principal).id }
    })
  }
}
