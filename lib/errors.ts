import createError, { type FastifyErrorConstructor } from '@fastify/error'
import type { FastifyError } from 'fastify'

// The Glue error catalogue. Fastify error codes are `FST_GLUE_MFA_<glue code>` so a log
// line still tells which Glue error was answered.
const catalogue = {
  MissingAccessToken: ['002', 403, 'Missing access token.'],
  InvalidAccessToken: ['001', 401, 'Invalid access token.'],
  CodeMissing: ['5900', 403, 'X-MFA-Code header is missing.'],
  CodeInvalid: ['5901', 403, 'X-MFA-Code is invalid.'],
  TypeMissing: ['5902', 400, 'Multi-factor authentication type is missing.'],
  DeactivationFailed: ['5903', 500, 'Failed to deactivate multi-factor authentication.'],
  TypeAlreadyActivated: ['5904', 400, 'Multi-factor authentication type already activated.'],
  NoCustomerIdentifier: ['5905', 400, 'No customer identifier provided.'],
  TypeNotFound: ['5906', 400, 'Multi-factor authentication type is not found.'],
  CustomerNotFound: ['5907', 400, 'Customer not found.'],
  UserNotFound: ['5908', 400, 'User not found.'],
  NoUserIdentifier: ['5909', 400, 'No user identifier provided.'],
  SendFailed: ['5910', 400, 'Something went wrong while sending your code. Please try again later or contact the system administrator.'],
  TooManyCodes: ['5911', 429, 'Too many codes requested. Try again later.'],
  SignInAgain: ['5912', 403, 'Sign in again to set up multi-factor authentication.'],
  AnotherTypeFirst: ['5913', 400, 'Enable another multi-factor authentication type first.'],
  EnrollmentRequired: ['5914', 403, 'Multi-factor authentication must be enabled for this action.']
} as const

type CatalogueName = keyof typeof catalogue

/** Fastify error code → Glue code. */
const glueCodes = new Map<string, string>()

function define (name: CatalogueName): FastifyErrorConstructor {
  const [glue, status, detail] = catalogue[name]
  const code = `FST_GLUE_MFA_${glue}`
  glueCodes.set(code, glue)
  return createError(code, detail, status)
}

/** Error constructors of the Glue catalogue, created once (as @fastify/* plugins do). */
export const MfaErrors = Object.fromEntries(
  (Object.keys(catalogue) as CatalogueName[]).map((name) => [name, define(name)])
) as Record<CatalogueName, FastifyErrorConstructor>

/** Thrown for bad plugin options at registration; the message names the option. */
export const InvalidOptionError = createError<[string, string]>(
  'FST_GLUE_MFA_INVALID_OPTION',
  'fastify-glue-mfa: option "%s" %s'
)

/**
 * An `X-MFA-Code` header longer than any valid one (a passkey's response is the longest): a
 * client mistake outside the Glue catalogue, answered 400 without a Glue code.
 */
export const CodeTooLongError = createError('FST_GLUE_MFA_CODE_TOO_LONG', 'X-MFA-Code is too long.', 400)

/**
 * A repository that cannot work (driver missing, store unreachable, bad credentials), raised by
 * its `ready()` so that Fastify's `ready()` fails at boot with the cause and the fix.
 */
export const RepositoryUnavailableError = createError<[message: string, options?: { cause: unknown }]>(
  'FST_GLUE_MFA_REPOSITORY_UNAVAILABLE',
  'fastify-glue-mfa: %s'
)

/** The Glue code (e.g. '5901') of an error of the catalogue; undefined for any other error. */
export function glueCodeOf (error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? glueCodes.get(code) : undefined
}

/** Whether an error is one of the Glue catalogue's (a decided answer, not a failure). */
export function isGlueError (error: unknown): boolean {
  return glueCodeOf(error) !== undefined
}

/** 5911 carries the seconds a client should wait; the handler turns it into `Retry-After`. */
export function tooManyCodes (retryAfterMs: number): FastifyError & { retryAfter: number } {
  const error = new MfaErrors.TooManyCodes() as FastifyError & { retryAfter: number }
  error.retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000))
  return error
}
