import { InvalidOptionError } from './errors.js'

/**
 * The option checks of the plugin, the providers and the repositories. Each names the option in
 * its error as the caller passes it: `codeLength`, `totpProvider.digits`, `sqliteRepository.tablePrefix`.
 */

export function invalidOption (name: string, problem: string): never {
  throw new InvalidOptionError(name, problem)
}

/** An integer from `min` to `max`; `fallback` when left out. */
export function integer (value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalidOption(name, `must be an integer from ${min} to ${max}`)
  }
  return value
}

/** A function, or left out. */
export function optionalFunction<T> (value: T | undefined, name: string): T | undefined {
  if (value !== undefined && typeof value !== 'function') invalidOption(name, 'must be a function')
  return value
}

/** One of `allowed`; `fallback` when left out. */
export function oneOf<T extends string> (value: unknown, name: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback
  if (!allowed.includes(value as T)) invalidOption(name, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`)
  return value as T
}

/** A string with more than white space in it. */
export function nonEmptyString (value: unknown, name: string): string {
  if (typeof value !== 'string' || value.trim() === '') invalidOption(name, 'must be a non-empty string')
  return value
}
