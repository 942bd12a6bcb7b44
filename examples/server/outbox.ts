/**
 * The dev mail outbox: where the email type's codes go when no mailer is configured, shown at
 * `GET /dev/outbox` and logged (dev mode only).
 */
import type { FastifyInstance } from 'fastify'
import type { CodeMessage, MfaEvent } from '../../lib/index.js'
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

/** A notification mailed to a user when their MFA changed (no code in it). */
export interface OutboxNotification {
  id: number
  surface: 'storefront' | 'backend'
  to: string
  /** The event it tells about: `type.enabled`, `type.disabled`, `recovery.used`, `admin.reset`, `principal.locked`. */
  event: MfaEvent['name']
  mfaType: string | null
  text: string
  sentAt: string
}

/** What a user is told, per event. */
const NOTIFICATIONS: Partial<Record<MfaEvent['name'], (event: MfaEvent) => string>> = {
  'type.enabled': (e) => `Multi-factor authentication by ${e.type as string} was turned on for your account.`,
  'type.disabled': (e) => `Multi-factor authentication by ${e.type as string} was turned off for your account.`,
  'recovery.used': (e) => `A recovery code was used to confirm an action on your account; ${e.remaining as number} left.`,
  'admin.reset': () => 'Support reset the multi-factor authentication of your account.',
  'principal.locked': () => 'Too many wrong codes were entered for your account: codes are refused for a while.'
}

/** The in-process dev mail outbox: the last few messages, newest first, and the notifications apart. */
export class DevOutbox {
  #next = 1
  readonly messages: OutboxMessage[] = []
  readonly notifications: OutboxNotification[] = []

  /** Mails a notification for the events a user is told about (others are ignored). */
  notify (surface: OutboxNotification['surface'], event: MfaEvent): void {
    const text = NOTIFICATIONS[event.name]?.(event)
    if (text === undefined) return
    const email = event.principal?.email
    this.notifications.unshift({
      id: this.#next++,
      surface,
      to: typeof email === 'string' ? email : event.principalId,
      event: event.name,
      mfaType: event.type,
      text,
      sentAt: new Date(event.at).toISOString()
    })
    this.notifications.length = Math.min(this.notifications.length, OUTBOX_SIZE)
  }

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
  app.get('/dev/notifications', {
    schema: {
      summary: 'The dev mail outbox: notifications of MFA changes (enabled, disabled, recovery code used, reset by support, locked), newest first (dev mode only)',
      tags: ['dev'],
      produces: [JSON_API]
    }
  }, async (_request, reply) => {
    const data = outbox.notifications.map(({ id, ...attributes }) => ({ type: 'dev-outbox-notifications', id: String(id), attributes }))
    return await reply.type(JSON_API).send({ data })
  })
}
