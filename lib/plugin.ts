import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import createError from '@fastify/error'
import { createAdmin, type GlueMfaAdmin } from './admin.js'
import { InvalidOptionError } from './errors.js'
import { createGuard, kGuard } from './guard.js'
import { resolveOptions, type GlueMfaOptions, type Surface } from './options.js'
import { createAuthenticator, type Principal } from './principal.js'
import { mfaRoutes } from './routes/index.js'
import { MfaService, type StepUpResult } from './service.js'

// What the plugin adds to Fastify's types: the request decorator and the instance decorator it
// makes below, in one place.
declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated principal; null until fastify-glue-mfa has authenticated the request. */
    principal: Principal | null
    /**
     * How the request passed step-up (`requireMfa`, `protectedResources`): the type whose code
     * passed and when (epoch ms); null when no code was checked (no type enabled, or no step-up).
     */
    mfa: StepUpResult | null
  }

  interface FastifyInstance {
    /**
     * Route hook applying the step-up check (a valid token, then X-MFA-Code) to one route, on
     * every method. It exists once the plugin is registered (`await app.register(glueMfa, …)`);
     * the package's `requireMfa` export can be used before that.
     */
    requireMfa: preHandlerAsyncHookHandler
    /**
     * The admin API of this registration (each surface has its own): `status`, `reset`,
     * `unlock` and `revokeCodes` of one principal, for a back office behind its own step-up.
     */
    glueMfa: GlueMfaAdmin
  }
}

/** The surface each repository object serves (a store holding two surfaces' state is refused). */
const surfaceOf = new WeakMap<object, Surface>()

const AlreadyRegisteredError = createError(
  'FST_GLUE_MFA_ALREADY_REGISTERED',
  'fastify-glue-mfa is already registered in this context; register a second surface inside its own encapsulated plugin'
)

async function glueMfaPlugin (fastify: FastifyInstance, opts: GlueMfaOptions): Promise<void> {
  const options = resolveOptions(opts)
  if (fastify.hasDecorator('requireMfa')) throw new AlreadyRegisteredError()

  // Tokens are found and verified by the host's @fastify/jwt (`request.jwtVerify()`). With a
  // namespace, `fastify.jwt` holds the namespaces and no options: no extractToken is assumed.
  const jwt = fastify.jwt as { options?: { verify: { extractToken?: unknown } } }
  const auth = createAuthenticator({
    backend: options.surface === 'backend',
    principal: options.principal,
    findPrincipal: options.findPrincipal,
    extractsToken: typeof jwt.options?.verify.extractToken === 'function'
  })
  const service = new MfaService(options)
  const guard = createGuard(auth, service, { protectedResources: options.protectedResources, requireEnrollment: options.requireEnrollment })

  if (!fastify.hasRequestDecorator('principal')) fastify.decorateRequest('principal', null)
  if (!fastify.hasRequestDecorator('mfa')) fastify.decorateRequest('mfa', null)
  fastify.decorate('requireMfa', guard.requireMfa)
  fastify.decorate(kGuard, guard)
  fastify.decorate('glueMfa', createAdmin(options, service, fastify.log))
  // A scope-level hook (this plugin is not encapsulated: the registering scope's), not onRoute:
  // it reaches routes declared before the plugin too, in this scope and in its children.
  if (options.protectedResources.size > 0) fastify.addHook('preHandler', guard.protectedResources)
  const { repository } = options
  if (typeof repository.close === 'function') {
    fastify.addHook('onClose', async () => { await repository.close?.() })
  }
  // One store never holds two surfaces' state: a customer and a back-office user may share an id.
  const claimed = surfaceOf.get(repository)
  if (claimed !== undefined && claimed !== options.surface) {
    throw new InvalidOptionError('repository', `already holds the ${claimed} surface's state: give the ${options.surface} surface a repository of its own`)
  }
  surfaceOf.set(repository, options.surface)
  // A store that cannot work (or that holds the other surface's state) fails ready() now,
  // naming the cause, not the first request.
  await repository.ready?.({ surface: options.surface })

  await fastify.register(async (scope) => { await mfaRoutes(scope, { options, auth, service }) }, { prefix: options.prefix })
}

/** The Glue MFA API and step-up guard as a Fastify plugin. */
export const glueMfa = fp(glueMfaPlugin, {
  name: 'fastify-glue-mfa',
  fastify: '5.x',
  dependencies: ['@fastify/jwt']
})
