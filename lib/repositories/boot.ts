import { RepositoryUnavailableError } from '../errors.js'

/**
 * Loads a repository's optional driver (`pg`, `better-sqlite3`) on first use. When it is not
 * installed, the error says which package to install instead of Node's bare "Cannot find package".
 */
export async function loadDriver<T> (factory: string, install: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw err
    throw new RepositoryUnavailableError(`${factory} needs its driver, which is not installed: run npm install ${install}`, { cause: err })
  }
}

/** A store that failed its readiness check: the factory, what failed, and the driver's words. */
export function unavailable (factory: string, what: string, err: unknown): Error {
  if ((err as { code?: unknown } | null)?.code === 'FST_GLUE_MFA_REPOSITORY_UNAVAILABLE') return err as Error
  return new RepositoryUnavailableError(`${factory} ${what}: ${(err as Error).message}`, { cause: err })
}

/**
 * Claims the store for one surface, or checks the claim: a customer and a back-office user with
 * the same id must never share MFA state, so tables that hold one surface's state refuse the
 * other's plugin at boot (two repositories on one file or schema included).
 */
export async function claimSurface (factory: string, prefix: string, surface: string, read: () => unknown, claim: () => unknown): Promise<void> {
  let owner = await read()
  if (owner === undefined || owner === null) {
    await claim()
    owner = await read()
  }
  if (owner !== surface) {
    throw new RepositoryUnavailableError(`${factory} with tablePrefix "${prefix}" holds the ${String(owner)} surface's MFA state: give the ${surface} surface its own tablePrefix (for example "glue_mfa_${surface}_")`)
  }
}
