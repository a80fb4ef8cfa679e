/**
 * Target discovery and relabeling (Prometheus `discovery/` + the label half
 * of `scrape/target.go`). Providers send full target sets; the manager merges
 * them per job; `populateLabels` turns a discovered target into scrape labels.
 */
export type { Discoverer, DiscoveryError, DiscoveryLogger, HttpGet, SendGroups, TargetGroup } from './types.ts';
export { cloneGroups, LABEL_NAME_RE, silentLogger } from './types.ts';
export { createStaticDiscoverer, staticGroups } from './static.ts';
export { createFileSDDiscoverer, FILEPATH_LABEL, parseTargetGroups, type FileSDDiscoverer, type FileSDOptions } from './file-sd.ts';
export { createGocSDDiscoverer, GOC_SERVER_LABEL, GOC_SERVICE_LABEL, parseAddress, type GocSDDiscoverer, type GocSDOptions } from './goc-sd.ts';
export { fetchHttpGet } from './http-get.ts';
export { createKubernetesSDDiscoverer, SERVICE_ACCOUNT_DIR, type KubernetesSDDiscoverer, type KubernetesSDOptions } from './kubernetes-sd.ts';
export { endpointsGroup, podGroup, serviceGroup, KUBERNETES_ROLES, type KubernetesRole } from './kubernetes-targets.ts';
export { compileRelabelRegex, expandTemplate, hashmod, relabel } from './relabel.ts';
export {
  ADDRESS_LABEL,
  COVERAGE_PATH_LABEL,
  hashLabels,
  PARAM_LABEL_PREFIX,
  populateLabels,
  SCHEME_LABEL,
  SCRAPE_INTERVAL_LABEL,
  SCRAPE_TIMEOUT_LABEL,
  scrapeOffset,
  targetId,
  targetsFromGroup,
  type ActiveTarget,
  type DroppedTarget,
  type PopulateResult,
} from './target.ts';
export { formatDuration, tryParseDuration as parseDuration } from '../config/duration.ts';
export {
  createDiscoveryManager,
  type DiscoveryManager,
  type DiscoveryManagerOptions,
  type ProviderSpec,
  type ProviderStatus,
  type TargetSets,
} from './manager.ts';
