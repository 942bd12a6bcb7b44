import { glueMfa } from './plugin.js'

export default glueMfa
export { glueMfa }
export { requireMfa } from './guard.js'
export { MFA_STATUS, MFA_STATUS_LABELS, type MfaStatus } from './status.js'
export { emailProvider, type EmailProviderOptions } from './providers/email.js'
export { totpProvider, type TotpAlgorithm, type TotpProviderOptions } from './providers/totp.js'
export { recoveryCodesProvider, type RecoveryCodesProviderOptions } from './providers/recovery.js'
export { passkeyProvider, type PasskeyProviderOptions } from './providers/passkey.js'
export type {
  CodeMessage, ComputedCodeProvider, DeliveredCodeProvider, MfaProvider, PasskeyProvider, PasskeyUserVerification, RecoveryCodesProvider
} from './providers/types.js'
export { memoryRepository } from './repositories/memory.js'
export { sqliteRepository, type SqliteRepositoryOptions, type SqliteDatabase, type SqliteStatement } from './repositories/sqlite.js'
export { postgresRepository, type PostgresRepositoryOptions, type PgPool, type PgClient, type PgQueryConfig, type PgResult } from './repositories/postgres.js'
export type {
  AcceptOptions, AcceptResult, Admission, AdmitOptions, CodeProof, LockoutRule, MfaRepository, StoredCode, TypeRecord, TypeStatus
} from './repositories/types.js'
export type { StepUpResult } from './service.js'
export { lockoutStep, type LockoutCounter } from './repositories/lockout.js'
export type { GlueMfaOptions, StatusFormat, Surface } from './options.js'
export type { Principal } from './principal.js'
export type { MfaEvent, MfaEventName } from './events.js'
export { MfaErrors, InvalidOptionError, RepositoryUnavailableError } from './errors.js'
export type { JsonApiError, JsonApiErrorDocument } from './jsonapi.js'
export type { AdminResetOptions, AdminTypeStatus, GlueMfaAdmin } from './admin.js'
