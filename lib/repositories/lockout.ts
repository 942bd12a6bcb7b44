import type { LockoutRule } from './types.js'

/** One lockout counter as stored: consecutive failures, the current lock and the last lock's length. */
export interface LockoutCounter {
  failures: number
  /** Epoch ms; the counter is locked while `now < lockedUntil`. */
  lockedUntil: number
  /** ms of the last lock (0: none since the last accepted code), which the next one doubles. */
  lastLock: number
}

/**
 * The escalating lockout, for a counter that is not locked at `now`: one more failure is
 * counted; reaching `rule.failures` locks for `rule.duration`, and every failure after that
 * (each one admitted only once the previous lock has ended) locks again for twice the previous
 * lock, up to `rule.maxDuration`. An accepted code resets the counter (the stores delete it).
 * Every repository applies exactly this rule (PostgreSQL in SQL, mirrored from here); the
 * conformance suite holds them to it.
 */
export function lockoutStep (counter: LockoutCounter, rule: LockoutRule, now: number): LockoutCounter & { locked: boolean } {
  const failures = counter.failures + 1
  if (failures < rule.failures) return { failures, lockedUntil: counter.lockedUntil, lastLock: counter.lastLock, locked: false }
  const lock = counter.lastLock === 0 ? rule.duration : Math.min(counter.lastLock * 2, rule.maxDuration)
  return { failures, lockedUntil: now + lock, lastLock: lock, locked: true }
}
