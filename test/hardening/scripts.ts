// The principals' scripts of the hardening load: per principal a fixed list of steps (a step is
// one request, or a few sent at once), picked by a seeded PRNG so a run can be repeated.
import { type OpSpec, WRONG } from './model.js'

/** What a step can ask for when it is built: the codes the principal has received so far. */
export interface Codes {
  /** The newest code of `type` (WRONG if none arrived). */
  last: (type: string) => string
  /** The code before the newest one (WRONG if none). */
  previous: (type: string) => string
}
export type Step = (codes: Codes) => OpSpec[]
export interface Plan {
  principal: string
  script: string
  steps: Step[]
}

/** Small deterministic PRNG (mulberry32), so a run can be repeated from its seed. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const list = (): OpSpec => ({ kind: 'list' })
const write = (code?: string): OpSpec => ({ kind: 'write', code })
const activate = (type: string, code?: string): OpSpec => ({ kind: 'activate', type, code })
const verify = (type: string, code: string): OpSpec => ({ kind: 'verify', type, code })
const deactivate = (type: string, code: string): OpSpec => ({ kind: 'deactivate', type, code })
const trigger = (type: string): OpSpec => ({ kind: 'trigger', type })
const times = (n: number, spec: OpSpec): OpSpec[] => Array.from({ length: n }, () => ({ ...spec }))

/**
 * The scripts. Each principal runs one, step after step; the requests of one step go out at
 * once (and usually through both instances), which is where a lost failure count, a double
 * enable or a double disable would show. No step has two requests that create a code, so the
 * code each one sent is known; no step crosses the lockout limit with concurrent requests.
 */
export function scriptFor (principal: string, random: () => number): Plan {
  const pick = random()
  const n = (max: number): number => Math.floor(random() * (max + 1))
  if (pick < 0.5) {
    // activate → wrong codes → verify (a race of right codes) → step-up with, without, wrong,
    // grace reuse → trigger → the old code refused → the new one works → maybe deactivate
    const wrongs = n(2)
    const rights = 1 + n(2)
    const reuse = 1 + n(2)
    const off = random() < 0.35
    const steps: Step[] = [
      () => [list()],
      () => [write()],
      () => [activate('email')],
      ...(wrongs > 0 ? [() => times(wrongs, verify('email', WRONG))] : []),
      () => [list()],
      (c) => [...times(rights, verify('email', c.last('email'))), ...(random() < 0.5 ? [list()] : [])],
      () => [write()],
      (c) => times(reuse, write(c.last('email'))),
      () => [write(WRONG)],
      () => [trigger('email')],
      (c) => [write(c.previous('email'))],
      (c) => [write(c.last('email'))],
      ...(off ? [(c: Codes) => [deactivate('email', c.last('email'))], () => [list()], () => [write()]] : []),
      () => [list()]
    ]
    return { principal, script: off ? 'standard+off' : 'standard', steps }
  }
  if (pick < 0.7) {
    // two factors: adding the second needs a code of the first; step-up takes either
    return {
      principal,
      script: 'two-factors',
      steps: [
        () => [activate('email')],
        (c) => [verify('email', c.last('email'))],
        () => [activate('sms')],
        () => [activate('sms', WRONG)],
        (c) => [activate('sms', c.last('email'))],
        (c) => [verify('sms', c.last('sms'))],
        () => [list()],
        (c) => [write(c.last('email')), write(c.last('sms'))],
        () => [trigger('sms')],
        () => [write(WRONG)],
        (c) => [deactivate('email', c.last('email'))],
        (c) => [write(c.last('sms')), list()],
        () => [list()]
      ]
    }
  }
  if (pick < 0.85) {
    // a code blocked by concurrent wrong guesses stays blocked; a new activation starts over
    return {
      principal,
      script: 'blocked',
      steps: [
        () => [activate('email')],
        () => times(3, verify('email', WRONG)),
        (c) => [verify('email', c.last('email'))],
        () => [list()],
        () => [activate('email')],
        (c) => [verify('email', c.last('email'))],
        (c) => times(3, write(c.last('email'))),
        () => [list()]
      ]
    }
  }
  if (pick < 0.95) {
    // the principal lockout: the 8th failure locks, then even the right code is refused
    return {
      principal,
      script: 'lockout',
      steps: [
        () => [activate('email')],
        () => times(4, verify('email', WRONG)),
        () => [activate('email')],
        () => times(3, verify('email', WRONG)),
        () => [verify('email', WRONG)],
        (c) => [verify('email', c.last('email'))],
        () => [list()]
      ]
    }
  }
  // two deactivations at once: one wins, the other finds nothing to deactivate
  return {
    principal,
    script: 'double-deactivate',
    steps: [
      () => [activate('email')],
      (c) => [verify('email', c.last('email'))],
      (c) => [deactivate('email', c.last('email')), deactivate('email', c.last('email')), list()],
      () => [list()],
      () => [write()]
    ]
  }
}

export function plans (prefix: string, count: number, seed: number): Plan[] {
  const random = prng(seed)
  return Array.from({ length: count }, (_, i) => scriptFor(`${prefix}${i}`, random))
}
