import { invalidOption } from '../option-checks.js'

/** Table prefixes are spliced into SQL, so only plain identifier characters are allowed. */
const TABLE_PREFIX = /^[A-Za-z_][A-Za-z0-9_]{0,39}$/

/** Option checks the SQL repositories share; errors name `<factory>.<option>`. */
export function exactlyOne (factory: string, options: Record<string, unknown> | undefined, a: string, b: string): void {
  if ((options?.[a] === undefined) === (options?.[b] === undefined)) {
    invalidOption(factory, `needs exactly one of "${a}" and "${b}"`)
  }
}

export function checkTablePrefix (factory: string, value: unknown = 'glue_mfa_'): string {
  if (typeof value !== 'string' || !TABLE_PREFIX.test(value)) {
    invalidOption(`${factory}.tablePrefix`, 'must be 1 to 40 letters, digits or "_", not starting with a digit')
  }
  return value
}
