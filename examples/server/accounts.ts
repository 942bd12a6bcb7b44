/** The demo accounts and the password check of the demo logins. */
import { createHash, timingSafeEqual } from 'node:crypto'

export interface DemoAccount { username: string, password: string }

/** The demo accounts; passwords live in memory and change through PATCH /customer-password/:id. */
export const DEMO_CUSTOMERS: ReadonlyArray<DemoAccount & { customerReference: string }> = [
  { username: 'sonia@example.com', password: 'change123', customerReference: 'DE--1' },
  { username: 'spencor@example.com', password: 'change123', customerReference: 'DE--2' }
]
export const DEMO_BACKEND_USERS: ReadonlyArray<DemoAccount & { id: string }> = [
  { username: 'admin@example.com', password: 'change123', id: 'user-1' }
]

/** `username / password` of each account, for descriptions and the startup message. */
export function credentials (accounts: readonly DemoAccount[]): string {
  return accounts.map((a) => `${a.username} / ${a.password}`).join(', ')
}

/** Compares in constant time (the digests have one length whatever the inputs). */
export function sameSecret (given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/**
 * The account with this username and password, else undefined. Both checks always run, so a
 * wrong username and a wrong password take the same time.
 */
export function logIn<A extends DemoAccount> (accounts: Iterable<A>, username: string, password: string): A | undefined {
  const account = [...accounts].find((a) => a.username === username)
  const passwordOk = sameSecret(password, account?.password ?? 'no such account')
  return passwordOk ? account : undefined
}
