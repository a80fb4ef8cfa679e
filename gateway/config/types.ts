/**
 * The validated, defaulted form of gateway.yaml (contract section 3).
 * Durations are milliseconds, sizes are bytes, every optional list is present.
 * Scrape configs have `global` defaults applied already.
 */
export type Labels = Record<string, string>;

import type { PayloadFormat, ScrapeFormat } from './formats.ts';

export type { PayloadFormat, ScrapeFormat };
export type PushFormat = 'istanbul' | 'lcov' | 'cobertura' | 'covgate';
/** The protocol of an upstream coverage center (gateway/push/centers/). */
export type UpstreamKind = 'http' | 'codecov' | 'coveralls' | 'sonarqube' | 'canyon';
export type RelabelAction = 'replace' | 'keep' | 'drop' | 'hashmod' | 'labelmap' | 'labeldrop' | 'labelkeep';

export interface GlobalConfig {
  scrape_interval: number;
  scrape_timeout: number;
  external_labels: Labels;
  /** Upper bound of scrapes in flight across all jobs (p-limit). Extension; default 16. */
  scrape_concurrency: number;
  /** Default `body_size_limit` of every job and of registered targets (bytes after decompression; 0 = none). Extension; default 64MiB. */
  body_size_limit: number;
}

export interface AuthConfig {
  /** Resolved token: from `bearer_token`, or read from `bearer_token_file` at load. */
  bearer_token?: string;
  bearer_token_file?: string;
  protect_reads: boolean;
}

export interface ServerConfig {
  listen: string;
  /** Largest push-ingest body (POST /api/v1/coverage), bytes after decompression. Extension; default 64MiB. */
  body_size_limit: number;
  auth?: AuthConfig;
}

export interface StorageConfig {
  /** LevelDB directory, resolved against the config file's folder. */
  path: string;
  retention: number;
  /** node-cron expression for the retention job. Extension; default every 10 minutes. */
  retention_schedule: string;
}

export interface RegistrationConfig {
  enabled: boolean;
  default_ttl: number;
  /** Upper bound on a requested ttl. Extension; default 24h. */
  max_ttl: number;
  /** CIDRs (127.0.0.0/8, ::1/128) and host globs (*.svc.cluster.local). Empty = loopback only. */
  allowed_targets: string[];
}

export interface StaticConfig {
  targets: string[];
  labels: Labels;
}

export interface FileSDConfig {
  /** Globs, resolved against the config file's folder. */
  files: string[];
  refresh_interval: number;
}

export interface GocSDConfig {
  server: string;
  refresh_interval: number;
}

export type KubernetesSDRole = 'pod' | 'service' | 'endpoints';

/** Prometheus `kubernetes_sd_configs` entry; relative file paths are resolved. */
export interface KubernetesSDConfig {
  role: KubernetesSDRole;
  /** API server URL; unset = in-cluster service account (or `kubeconfig_file`). */
  api_server?: string;
  kubeconfig_file?: string;
  /** With `api_server`: a bearer token read from this file at start. */
  bearer_token_file?: string;
  /** With `api_server`: the CA to trust, or no verification. */
  tls_config: { ca_file?: string; insecure_skip_verify: boolean };
  /** Empty names and no own_namespace = every namespace. */
  namespaces: { names: string[]; own_namespace: boolean };
  /** At most one per role; the roles a discovery role watches (pod: pod; service: service; endpoints: endpoints, service, pod). */
  selectors: Array<{ role: KubernetesSDRole; label?: string; field?: string }>;
}

export interface RelabelConfig {
  source_labels: string[];
  separator: string;
  target_label?: string;
  /** Anchored like Prometheus: ^(?:regex)$. Default "(.*)". */
  regex: string;
  modulus?: number;
  replacement: string;
  action: RelabelAction;
}

export interface ScrapeConfig {
  job_name: string;
  scrape_interval: number;
  scrape_timeout: number;
  coverage_path: string;
  scheme: 'http' | 'https';
  format: ScrapeFormat;
  /** Bytes; 0 = no limit. Applies to the body after gunzip too. */
  body_size_limit: number;
  /** Counter semantics for plain (non-envelope) payloads. Extension; default cumulative. */
  counters: 'cumulative' | 'delta';
  /** Call the target's reset endpoint after every scrape. Extension; default false. */
  reset_after_scrape: boolean;
  /**
   * Source roots (absolute) the reports may read this job's source files
   * from; empty = none (reports then show only sources carried in the data).
   */
  sources: string[];
  /**
   * Coverage path prefix → repository path prefix (`example.com/shop/` → `` or
   * `./`; longest prefix wins): reports, LCOV and Cobertura show repository
   * paths (found under `sources`), and diffs are matched with coverage. Empty = none.
   */
  path_map: Record<string, string>;
  /** Absolute path of a git checkout of the job's code, for `git diff base...head`; undefined = none. */
  repository?: string;
  static_configs: StaticConfig[];
  file_sd_configs: FileSDConfig[];
  goc_sd_configs: GocSDConfig[];
  kubernetes_sd_configs: KubernetesSDConfig[];
  relabel_configs: RelabelConfig[];
}

/** A named diff: coverage of base...head of the job's repository (`/api/v1/diff-coverage?diff=<name>`, `covgate_diff_coverage_ratio`). */
export interface DiffConfig {
  name: string;
  job: string;
  base: string;
  head: string;
}

export interface UpstreamConfig {
  name: string;
  /** Protocol; default http (today's POST of one body). */
  kind: UpstreamKind;
  /**
   * http: where to POST. codecov: the ingest base (default https://ingest.codecov.io,
   * or a self-hosted Codecov). coveralls: the base (default https://coveralls.io, or
   * Coveralls Enterprise). canyon: the Canyon server. sonarqube: unused ("").
   */
  url: string;
  /** Body format of kind http (the other kinds have their own). */
  format: PushFormat;
  /** kind http: HMAC-SHA256 key; the body's signature goes in `X-Covgate-Signature: sha256=<hex>`. */
  secret?: string;
  /** codecov: upload token; coveralls: repo_token; canyon: bearer token. Read at send time, never stored in the outbox. */
  token?: string;
  /** codecov: `owner/repo` (subgroups allowed); canyon: the repoID; else the session label `slug`. */
  slug?: string;
  /** codecov: git service of the upload url (github, gitlab, bitbucket, github_enterprise, gitlab_enterprise, bitbucket_server); canyon: the provider. */
  git_service: string;
  /** codecov: report code (codecov-cli's --report-code). */
  report_code: string;
  /** codecov, coveralls, canyon: session labels whose values become the flags (codecov), flag_name (coveralls), reportID (canyon). */
  flag_labels: string[];
  /** coveralls: parallel build (closed by the webhook after a /test-finished with `done: true`). */
  parallel: boolean;
  /** coveralls: service_name. */
  service_name: string;
  /** sonarqube: file to write, `{service}` and `{release}` replaced; optional (the report is also served at /api/v1/sonarqube/<service>/<release>.xml). */
  path?: string;
  /** sonarqube, coveralls, codecov, canyon: prefix removed from coverage paths, so they become repository-relative. */
  strip_prefix?: string;
  headers: Record<string, string>;
  timeout: number;
  /** 0 = retry forever with capped exponential backoff. */
  max_attempts: number;
  /** Backoff bounds. Extensions; defaults 1s and 5m. */
  min_backoff: number;
  max_backoff: number;
  /** gzip the body (Content-Encoding: gzip). Extension; default true for istanbul/covgate. */
  gzip: boolean;
}

export interface PushConfig {
  on_test_finished: boolean;
  upstreams: UpstreamConfig[];
}

export interface MetricsConfig {
  per_file: boolean;
  /** Most files exported per service when per_file is on. Extension; default 500. */
  per_file_limit: number;
}

/** How a covgate reaches a peer covgate (extension: `forward:` and `shards:`). */
export interface PeerHttpConfig {
  /** Sent with every request; `Authorization: Bearer` from bearer_token(_file) is added unless set here. */
  headers: Record<string, string>;
  timeout: number;
}

/** `forward:` (extension): this gateway is a shard and forwards what it stores to a central covgate. */
export interface ForwardConfig extends PeerHttpConfig {
  /** Base URL of the central covgate. */
  url: string;
  /** Forwards in flight at once. Default 8. */
  concurrency: number;
  min_backoff: number;
  max_backoff: number;
}

/** `shards:` (extension): this gateway is the central one; sessions fan out to these shards. */
export interface ShardsConfig extends PeerHttpConfig {
  urls: string[];
}

export interface GatewayConfig {
  global: GlobalConfig;
  server: ServerConfig;
  storage: StorageConfig;
  registration: RegistrationConfig;
  scrape_configs: ScrapeConfig[];
  diffs: DiffConfig[];
  push: PushConfig;
  forward?: ForwardConfig;
  shards?: ShardsConfig;
  metrics: MetricsConfig;
  /** Absolute path of the file this was loaded from, when loaded from a file. */
  sourceFile?: string;
}
