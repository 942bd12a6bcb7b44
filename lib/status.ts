/** The status of one MFA type for one principal (as Glue's list of MFA methods shows it). */
export const MFA_STATUS = Object.freeze({ DISABLED: 0, PENDING: 1, ENABLED: 2 } as const)

export type MfaStatus = typeof MFA_STATUS[keyof typeof MFA_STATUS]

/** The labels newer Glue releases answer with `statusFormat: 'label'`. */
export const MFA_STATUS_LABELS: Readonly<Record<MfaStatus, string>> = Object.freeze({
  0: 'deactivated',
  1: 'activation is pending',
  2: 'activated'
})
