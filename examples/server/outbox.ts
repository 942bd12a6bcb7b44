/**
 * The dev mail outbox: where the email type's codes go when no mailer is configured, shown at
 * `GET /dev/outbox` and logged (dev mode only).
 */
import type { FastifyInstance } from 'fastify'
import type { CodeMessage } from '../../lib/index.js'
import { JSON_API } from './json-api.js'

const OUTBOX_SIZE = 50

/** One message the email type was asked to send. */
export interface OutboxMessage {
  id: number
  surface: 'storefront' | 'backend'
  to: string
  principal: string
  mfaType: string
  code: string
  sentAt: string
}

/** The in-process dev mail outbox: the last few messages, newest first. */
export class DevOutbox {
  #next = 1
  readonly messages: OutboxMessage[] = []

  add (surface: OutboxMessage['surface'], { principal, type, code }: CodeMessage, now: number): OutboxMessage {
    const message = {
      id: this.#next++,
      surface,
      to: typeof principal.email === 'string' ? principal.email : principal.id,
      principal: principal.id,
      mfaType: type,
      code,
      sentAt: new Date(now).toISOString()
    }
    this.messages.unshift(message)
    this.messages.length = Math.min(this.messages.length, OUTBOX_SIZE)
    return message
  }
}

/** `GET /dev/outbox`: the messages, newest first, as JSON:API resources. */
export function registerOutboxRoute (app: FastifyInstance, outbox: DevOutbox): void {
  app.get('/dev/outbox', {
    schema: {
      summary: 'The dev mail outbox: codes the email type sent, newest first (dev mode only)',
      tags: ['dev'],
      produces: [JSON_API]
    }
  }, async (_request, reply) => {
    const data = outbox.messages.map(({ id, ...attributes }) => ({ type: 'dev-outbox-messages', id: String(id), attributes }))
    return await reply.type(JSON_API).send({ data })
  })
}
