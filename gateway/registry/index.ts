/**
 * Self-registration (contract section 2): leases of targets that register
 * themselves, kept in LevelDB, checked against `registration.allowed_targets`,
 * expired with one final scrape, and served to discovery as `registry/<job>`
 * groups.
 */
export { createAllowlist, type Allowlist, type AllowlistOptions, type LookupAll } from './allowlist.ts';
export { parseTargetUrl, type TargetUrl } from './target-url.ts';
export { createGuardedHttp, guardedLookup } from './guarded-http.ts';
export {
  createRegistry,
  leaseId,
  leaseTarget,
  REGISTRATION_ID_LABEL,
  REGISTRY_PROVIDER,
  type Lease,
  type ProviderHost,
  type RegisterRequest,
  type RegisterResult,
  type Registry,
  type RegistryDeps,
} from './registry.ts';
export { GOC_COVERAGE_PATH, registryRoutes, type RegistryRoutesDeps } from './routes.ts';
