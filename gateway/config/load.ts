/**
 * gateway.yaml → GatewayConfig.
 *
 * Pipeline: YAML (with lines) → `${VAR}` expansion inside scalars → zod shape
 * check → defaults and cross-key checks → one GatewayConfig. Every problem is
 * collected, not just the first, and each is reported as
 * `file:line: key.path: message`; they are thrown together as one
 * `COVGATE_BAD_CONFIG` error (joined by newlines; also in `details.errors`).
 *
 * parseConfig never does network I/O; it reads `server.auth.bearer_token_file`
 * synchronously because a token that cannot be read is a config error.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { errors } from '../errors.ts';
import { formatDuration } from './duration.ts';
import { defaultGzip, DEFAULTS, defaultGlobalConfig } from './defaults.ts';
import { configErrorMessage, rawConfigSchema, type RawConfig, type RawDiffConfig, type RawKubernetesSDConfig, type RawRelabelConfig, type RawScrapeConfig, type RawUpstreamConfig } from './schema.ts';
import type {
  AuthConfig,
  DiffConfig,
  ForwardConfig,
  GatewayConfig,
  GlobalConfig,
  KubernetesSDConfig,
  KubernetesSDRole,
  PeerHttpConfig,
  PushConfig,
  RegistrationConfig,
  RelabelConfig,
  ScrapeConfig,
  ServerConfig,
  ShardsConfig,
  StorageConfig,
  UpstreamConfig,
  UpstreamKind,
} from './types.ts';
import { readYaml, type ConfigIssue, type ConfigPath } from './yaml-source.ts';

export interface ParseConfigOptions {
  /** Name used in error messages (default "gateway.yaml"). */
  filename?: string;
  /** Variables for `${VAR}` (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Folder that relative paths (storage.path, file_sd files, token files) resolve against (default process.cwd()). */
  baseDir?: string;
}

/** One located config error, as also carried in the thrown error's `details.errors`. */
export interface ConfigErrorEntry {
  line: number;
  path: string;
  message: string;
}

/**
 * Parses and validates gateway.yaml text. Returns a fully defaulted config or
 * throws a CovgateError with code COVGATE_BAD_CONFIG listing every problem.
 * An empty text is valid and gives all defaults.
 */
export function parseConfig(text: string, opts: ParseConfigOptions = {}): GatewayConfig {
  const filename = opts.filename ?? 'gateway.yaml';
  const env = opts.env ?? process.env;
  const baseDir = nodePath.resolve(opts.baseDir ?? process.cwd());

  const src = readYaml(text, env);
  const issues: ConfigIssue[] = [...src.issues];
  let config: GatewayConfig | undefined;
  if (src.value !== null || src.issues.length === 0) {
    const parsed = rawConfigSchema.safeParse(src.value ?? {}, { error: (iss) => configErrorMessage(iss as never) });
    if (!parsed.success) {
      // A value whose ${VAR} failed is already reported; its emptied text would only add noise.
      const expandFailed = new Set(src.issues.map((i) => JSON.stringify(i.path)));
      for (const iss of parsed.error.issues) {
        const path = iss.path.filter((p): p is string | number => typeof p !== 'symbol');
        if (expandFailed.has(JSON.stringify(path))) continue;
        if (iss.code === 'unrecognized_keys') {
          for (const key of iss.keys) issues.push({ path: [...path, key], message: 'unknown key' });
        } else {
          issues.push({ path, message: iss.message });
        }
      }
    } else if (issues.length === 0) {
      config = finalize(parsed.data, { baseDir, issues, lineOf: src.lineOf });
    }
  }

  if (issues.length > 0 || !config) {
    throw configError(filename, issues, src.lineOf);
  }
  return config;
}

/**
 * Reads and parses a config file. Relative paths inside resolve against the
 * file's folder; `sourceFile` is set to the file's absolute path.
 */
export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<GatewayConfig> {
  const abs = nodePath.resolve(path);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    throw errors.badConfig(`${path}: cannot read config file: ${(err as Error).message}`, { cause: err });
  }
  const config = parseConfig(text, { filename: path, env, baseDir: nodePath.dirname(abs) });
  config.sourceFile = abs;
  return config;
}

/** Renders a key path as it would be written in gateway.yaml's docs: a.b[1].c */
export function formatConfigPath(path: ConfigPath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(p)) out += out === '' ? p : `.${p}`;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

function configError(filename: string, issues: ConfigIssue[], lineOf: (p: ConfigPath) => number) {
  const seen = new Set<string>();
  const entries: ConfigErrorEntry[] = [];
  for (const iss of issues) {
    const entry = { line: iss.line ?? lineOf(iss.path), path: formatConfigPath(iss.path), message: iss.message };
    const key = `${entry.line}\0${entry.path}\0${entry.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    entries.push(entry);
  }
  // Stable sort: file order, and the order found within a line.
  entries.sort((a, b) => a.line - b.line);
  const lines = entries.map((e) => `${filename}:${e.line}: ${e.path ? `${e.path}: ` : ''}${e.message}`);
  return errors.badConfig(lines.join('\n'), { details: { file: filename, errors: entries } });
}

interface Ctx {
  baseDir: string;
  issues: ConfigIssue[];
  lineOf: (p: ConfigPath) => number;
}

/** Applies defaults and the checks that span keys. Pushes problems to ctx.issues. */
function finalize(raw: RawConfig, ctx: Ctx): GatewayConfig {
  const global = finalizeGlobal(raw.global, ctx);
  const scrape_configs = (raw.scrape_configs ?? []).map((sc, i) => finalizeScrapeConfig(sc, global, ['scrape_configs', i], ctx));
  checkUnique(
    scrape_configs.map((s) => s.job_name),
    (i) => ['scrape_configs', i, 'job_name'],
    'job_name',
    ctx,
  );
  return {
    global,
    server: finalizeServer(raw.server, ctx),
    storage: finalizeStorage(raw.storage, ctx),
    registration: finalizeRegistration(raw.registration, ctx),
    scrape_configs,
    diffs: finalizeDiffs(raw.diffs, scrape_configs, ctx),
    push: finalizePush(raw.push, ctx),
    ...(raw.forward !== undefined ? { forward: finalizeForward(raw.forward, ctx) } : {}),
    ...(raw.shards !== undefined ? { shards: finalizeShards(raw.shards, ctx) } : {}),
    metrics: {
      per_file: raw.metrics?.per_file ?? DEFAULTS.perFile,
      per_file_limit: raw.metrics?.per_file_limit ?? DEFAULTS.perFileLimit,
    },
  };
}

function finalizeGlobal(raw: RawConfig['global'], ctx: Ctx): GlobalConfig {
  const g = defaultGlobalConfig();
  g.scrape_interval = raw?.scrape_interval ?? g.scrape_interval;
  if (raw?.scrape_timeout !== undefined) {
    g.scrape_timeout = raw.scrape_timeout;
    checkTimeout(g.scrape_timeout, g.scrape_interval, ['global', 'scrape_timeout'], ctx);
  } else {
    // Prometheus: with only a short interval set, the timeout follows it down.
    g.scrape_timeout = Math.min(DEFAULTS.scrapeTimeout, g.scrape_interval);
  }
  g.external_labels = { ...(raw?.external_labels ?? {}) };
  g.scrape_concurrency = raw?.scrape_concurrency ?? g.scrape_concurrency;
  g.body_size_limit = raw?.body_size_limit ?? g.body_size_limit;
  return g;
}

function checkTimeout(timeout: number, interval: number, path: ConfigPath, ctx: Ctx): void {
  if (timeout > interval) {
    ctx.issues.push({ path, message: `${formatDuration(timeout)} must not exceed scrape_interval ${formatDuration(interval)}` });
  }
}

function finalizeScrapeConfig(raw: RawScrapeConfig, global: GlobalConfig, path: ConfigPath, ctx: Ctx): ScrapeConfig {
  const interval = raw.scrape_interval ?? global.scrape_interval;
  let timeout: number;
  if (raw.scrape_timeout !== undefined) {
    timeout = raw.scrape_timeout;
    checkTimeout(timeout, interval, [...path, 'scrape_timeout'], ctx);
  } else {
    timeout = Math.min(global.scrape_timeout, interval);
  }
  return {
    job_name: raw.job_name,
    scrape_interval: interval,
    scrape_timeout: timeout,
    coverage_path: raw.coverage_path ?? DEFAULTS.coveragePath,
    scheme: raw.scheme ?? DEFAULTS.scheme,
    format: raw.format ?? DEFAULTS.format,
    body_size_limit: raw.body_size_limit ?? global.body_size_limit,
    counters: raw.counters ?? DEFAULTS.counters,
    reset_after_scrape: raw.reset_after_scrape ?? DEFAULTS.resetAfterScrape,
    sources: (raw.sources ?? []).map((p) => nodePath.resolve(ctx.baseDir, p)),
    path_map: { ...(raw.path_map ?? {}) },
    ...(raw.repository !== undefined ? { repository: nodePath.resolve(ctx.baseDir, raw.repository) } : {}),
    static_configs: (raw.static_configs ?? []).map((s) => ({ targets: [...(s.targets ?? [])], labels: { ...(s.labels ?? {}) } })),
    file_sd_configs: (raw.file_sd_configs ?? []).map((f) => ({
      files: f.files.map((p) => nodePath.resolve(ctx.baseDir, p)),
      refresh_interval: f.refresh_interval ?? DEFAULTS.fileSdRefreshInterval,
    })),
    goc_sd_configs: (raw.goc_sd_configs ?? []).map((g) => ({
      server: g.server,
      refresh_interval: g.refresh_interval ?? DEFAULTS.gocSdRefreshInterval,
    })),
    kubernetes_sd_configs: (raw.kubernetes_sd_configs ?? []).map((k, i) => finalizeKubernetesSD(k, [...path, 'kubernetes_sd_configs', i], ctx)),
    relabel_configs: (raw.relabel_configs ?? []).map((r, i) => finalizeRelabel(r, [...path, 'relabel_configs', i], ctx)),
  };
}

/** Which selector roles each discovery role reads (Prometheus `allowedSelectors`, without the node role). */
const KUBERNETES_SELECTOR_ROLES: Record<KubernetesSDRole, KubernetesSDRole[]> = {
  pod: ['pod'],
  service: ['service'],
  endpoints: ['pod', 'service', 'endpoints'],
};

/** Prometheus' SDConfig.UnmarshalYAML checks, with its wording, located at the key. */
function finalizeKubernetesSD(raw: RawKubernetesSDConfig, path: ConfigPath, ctx: Ctx): KubernetesSDConfig {
  const resolve = (p: string | undefined) => (p === undefined ? undefined : nodePath.resolve(ctx.baseDir, p));
  const out: KubernetesSDConfig = {
    role: raw.role,
    tls_config: { insecure_skip_verify: raw.tls_config?.insecure_skip_verify ?? false },
    namespaces: { names: [...(raw.namespaces?.names ?? [])], own_namespace: raw.namespaces?.own_namespace ?? false },
    selectors: (raw.selectors ?? []).map((s) => ({ role: s.role, ...(s.label ? { label: s.label } : {}), ...(s.field ? { field: s.field } : {}) })),
  };
  if (raw.api_server !== undefined) out.api_server = raw.api_server;
  if (raw.kubeconfig_file !== undefined) out.kubeconfig_file = resolve(raw.kubeconfig_file)!;
  if (raw.bearer_token_file !== undefined) out.bearer_token_file = resolve(raw.bearer_token_file)!;
  if (raw.tls_config?.ca_file !== undefined) out.tls_config.ca_file = resolve(raw.tls_config.ca_file)!;

  if (raw.api_server !== undefined && raw.kubeconfig_file !== undefined) {
    ctx.issues.push({ path: [...path, 'kubeconfig_file'], message: "cannot use 'kubeconfig_file' and 'api_server' simultaneously" });
  }
  for (const key of ['bearer_token_file', 'tls_config'] as const) {
    if (raw[key] === undefined) continue;
    if (raw.kubeconfig_file !== undefined) {
      ctx.issues.push({ path: [...path, key], message: "cannot use a custom HTTP client configuration together with 'kubeconfig_file'" });
    } else if (raw.api_server === undefined) {
      ctx.issues.push({ path: [...path, key], message: "to use custom HTTP client configuration please provide the 'api_server' URL explicitly" });
    }
  }
  if (out.namespaces.own_namespace && raw.api_server !== undefined) {
    ctx.issues.push({ path: [...path, 'namespaces', 'own_namespace'], message: "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously" });
  }
  if (out.namespaces.own_namespace && raw.kubeconfig_file !== undefined) {
    ctx.issues.push({ path: [...path, 'namespaces', 'own_namespace'], message: "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously" });
  }
  const seen = new Set<string>();
  out.selectors.forEach((s, i) => {
    const at = [...path, 'selectors', i, 'role'];
    if (seen.has(s.role)) ctx.issues.push({ path: at, message: `duplicated selector role: ${s.role}` });
    seen.add(s.role);
    const allowed = KUBERNETES_SELECTOR_ROLES[out.role];
    if (!allowed.includes(s.role)) ctx.issues.push({ path: at, message: `${out.role} role supports only ${allowed.join(', ')} selectors` });
  });
  return out;
}

function finalizeDiffs(raw: RawDiffConfig[] | undefined, jobs: ScrapeConfig[], ctx: Ctx): DiffConfig[] {
  const diffs = (raw ?? []).map((d) => ({ name: d.name, job: d.job, base: d.base, head: d.head }));
  checkUnique(
    diffs.map((d) => d.name),
    (i) => ['diffs', i, 'name'],
    'diff name',
    ctx,
  );
  diffs.forEach((d, i) => {
    const job = jobs.find((j) => j.job_name === d.job);
    if (!job) ctx.issues.push({ path: ['diffs', i, 'job'], message: `no scrape_configs job named ${JSON.stringify(d.job)}` });
    else if (job.repository === undefined) ctx.issues.push({ path: ['diffs', i, 'job'], message: `job ${JSON.stringify(d.job)} has no repository: to diff base...head` });
  });
  return diffs;
}

function finalizeRelabel(raw: RawRelabelConfig, path: ConfigPath, ctx: Ctx): RelabelConfig {
  const action = raw.action ?? DEFAULTS.relabelAction;
  const out: RelabelConfig = {
    source_labels: [...(raw.source_labels ?? [])],
    separator: raw.separator ?? DEFAULTS.relabelSeparator,
    regex: raw.regex ?? DEFAULTS.relabelRegex,
    replacement: raw.replacement ?? DEFAULTS.relabelReplacement,
    action,
  };
  if (raw.target_label !== undefined) out.target_label = raw.target_label;
  if (raw.modulus !== undefined) out.modulus = raw.modulus;

  if ((action === 'replace' || action === 'hashmod') && raw.target_label === undefined) {
    ctx.issues.push({ path: [...path, 'target_label'], message: `required for action ${action}` });
  }
  if (action === 'hashmod' && raw.modulus === undefined) {
    ctx.issues.push({ path: [...path, 'modulus'], message: 'required for action hashmod (a positive integer)' });
  }
  if (action === 'labeldrop' || action === 'labelkeep') {
    const extra = (['source_labels', 'target_label', 'modulus', 'separator', 'replacement'] as const).filter((k) => raw[k] !== undefined);
    if (extra.length > 0) {
      ctx.issues.push({ path: [...path, 'action'], message: `${action} takes only regex, not ${extra.join(', ')}` });
    }
  }
  return out;
}

function finalizeServer(raw: RawConfig['server'], ctx: Ctx): ServerConfig {
  const server: ServerConfig = { listen: raw?.listen ?? DEFAULTS.listen, body_size_limit: raw?.body_size_limit ?? DEFAULTS.bodySizeLimit };
  const a = raw?.auth;
  if (a === undefined) return server;
  const path: ConfigPath = ['server', 'auth'];
  const auth: AuthConfig = { protect_reads: a.protect_reads ?? DEFAULTS.protectReads };
  if (a.bearer_token !== undefined && a.bearer_token_file !== undefined) {
    ctx.issues.push({ path, message: 'set bearer_token or bearer_token_file, not both' });
  } else if (a.bearer_token !== undefined) {
    auth.bearer_token = a.bearer_token;
  } else if (a.bearer_token_file !== undefined) {
    const file = nodePath.resolve(ctx.baseDir, a.bearer_token_file);
    auth.bearer_token_file = file;
    try {
      const token = readFileSync(file, 'utf8').trim();
      if (token === '') ctx.issues.push({ path: [...path, 'bearer_token_file'], message: `token file ${file} is empty` });
      else auth.bearer_token = token;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : (err as Error).message;
      ctx.issues.push({ path: [...path, 'bearer_token_file'], message: `cannot read token file ${file}: ${why}` });
    }
  } else {
    ctx.issues.push({ path, message: 'auth needs bearer_token or bearer_token_file' });
  }
  server.auth = auth;
  return server;
}

function finalizeStorage(raw: RawConfig['storage'], ctx: Ctx): StorageConfig {
  return {
    path: nodePath.resolve(ctx.baseDir, raw?.path ?? DEFAULTS.storagePath),
    retention: raw?.retention ?? DEFAULTS.retention,
    retention_schedule: raw?.retention_schedule ?? DEFAULTS.retentionSchedule,
  };
}

function finalizeRegistration(raw: RawConfig['registration'], ctx: Ctx): RegistrationConfig {
  const reg: RegistrationConfig = {
    enabled: raw?.enabled ?? DEFAULTS.registrationEnabled,
    default_ttl: raw?.default_ttl ?? DEFAULTS.defaultTtl,
    max_ttl: raw?.max_ttl ?? DEFAULTS.maxTtl,
    allowed_targets: [...(raw?.allowed_targets ?? [])],
  };
  if (reg.default_ttl > reg.max_ttl) {
    const path: ConfigPath = ['registration', raw?.default_ttl !== undefined ? 'default_ttl' : 'max_ttl'];
    ctx.issues.push({ path, message: `default_ttl ${formatDuration(reg.default_ttl)} must not exceed max_ttl ${formatDuration(reg.max_ttl)}` });
  }
  return reg;
}

type RawPeer = { headers?: Record<string, string>; bearer_token?: string; bearer_token_file?: string; timeout?: number };

/** Headers and timeout of a peer covgate; bearer_token(_file) becomes `Authorization` unless headers set one. */
function finalizePeer(raw: RawPeer, path: ConfigPath, ctx: Ctx): PeerHttpConfig {
  const headers = { ...(raw.headers ?? {}) };
  let token: string | undefined;
  if (raw.bearer_token !== undefined && raw.bearer_token_file !== undefined) {
    ctx.issues.push({ path, message: 'set bearer_token or bearer_token_file, not both' });
  } else if (raw.bearer_token !== undefined) {
    token = raw.bearer_token;
  } else if (raw.bearer_token_file !== undefined) {
    const file = nodePath.resolve(ctx.baseDir, raw.bearer_token_file);
    try {
      token = readFileSync(file, 'utf8').trim();
      if (token === '') ctx.issues.push({ path: [...path, 'bearer_token_file'], message: `token file ${file} is empty` });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      ctx.issues.push({ path: [...path, 'bearer_token_file'], message: `cannot read token file ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}` });
    }
  }
  if (token && !Object.keys(headers).some((k) => k.toLowerCase() === 'authorization')) headers.Authorization = `Bearer ${token}`;
  return { headers, timeout: raw.timeout ?? DEFAULTS.upstreamTimeout };
}

function finalizeForward(raw: NonNullable<RawConfig['forward']>, ctx: Ctx): ForwardConfig {
  const path: ConfigPath = ['forward'];
  const min = raw.min_backoff ?? DEFAULTS.upstreamMinBackoff;
  const max = raw.max_backoff ?? 30_000;
  if (min > max) ctx.issues.push({ path: [...path, 'min_backoff'], message: 'must not exceed max_backoff' });
  return { ...finalizePeer(raw, path, ctx), url: raw.url.replace(/\/+$/, ''), concurrency: raw.concurrency ?? 8, min_backoff: min, max_backoff: max };
}

function finalizeShards(raw: NonNullable<RawConfig['shards']>, ctx: Ctx): ShardsConfig {
  const urls = raw.urls.map((u) => u.replace(/\/+$/, ''));
  checkUnique(urls, (i) => ['shards', 'urls', i], 'shard url', ctx);
  return { ...finalizePeer(raw, ['shards'], ctx), urls };
}

function finalizePush(raw: RawConfig['push'], ctx: Ctx): PushConfig {
  const upstreams = (raw?.upstreams ?? []).map((u, i) => finalizeUpstream(u, ['push', 'upstreams', i], ctx));
  checkUnique(
    upstreams.map((u) => u.name),
    (i) => ['push', 'upstreams', i, 'name'],
    'upstream name',
    ctx,
  );
  return { on_test_finished: raw?.on_test_finished ?? DEFAULTS.onTestFinished, upstreams };
}

/** Which optional upstream keys each kind reads; any other is an error (a key that silently does nothing is a typo). */
const KIND_KEYS: Record<UpstreamKind, ReadonlyArray<keyof RawUpstreamConfig>> = {
  http: ['url', 'format', 'secret', 'gzip'],
  codecov: ['url', 'token', 'slug', 'git_service', 'report_code', 'flag_labels', 'strip_prefix'],
  coveralls: ['url', 'token', 'flag_labels', 'parallel', 'service_name', 'strip_prefix'],
  sonarqube: ['path', 'strip_prefix'],
  canyon: ['url', 'token', 'slug', 'git_service', 'flag_labels', 'strip_prefix'],
};
const KIND_SPECIFIC: ReadonlyArray<keyof RawUpstreamConfig> = [
  'url', 'format', 'secret', 'gzip', 'token', 'slug', 'git_service', 'report_code', 'flag_labels', 'parallel', 'service_name', 'path', 'strip_prefix',
];
/** Public endpoints of the hosted centers (codecov-cli CODECOV_INGEST_URL; Coveralls API reference). */
const DEFAULT_URL: Partial<Record<UpstreamKind, string>> = { codecov: 'https://ingest.codecov.io', coveralls: 'https://coveralls.io' };

function finalizeUpstream(raw: RawUpstreamConfig, path: ConfigPath, ctx: Ctx): UpstreamConfig {
  const kind = raw.kind ?? 'http';
  const format = raw.format ?? DEFAULTS.upstreamFormat;
  for (const key of KIND_SPECIFIC) {
    if (raw[key] !== undefined && !KIND_KEYS[kind].includes(key)) {
      const users = (Object.keys(KIND_KEYS) as UpstreamKind[]).filter((k) => KIND_KEYS[k].includes(key));
      ctx.issues.push({ path: [...path, key], message: `not used by kind ${kind} (only by ${users.join(', ')})` });
    }
  }
  const url = raw.url ?? DEFAULT_URL[kind] ?? '';
  if (url === '' && kind !== 'sonarqube') ctx.issues.push({ path: [...path, 'url'], message: `required for kind ${kind}` });
  if (kind === 'coveralls' && raw.token === undefined) ctx.issues.push({ path: [...path, 'token'], message: 'required for kind coveralls (the repo_token)' });
  const up: UpstreamConfig = {
    name: raw.name,
    kind,
    url,
    format,
    headers: { ...(raw.headers ?? {}) },
    timeout: raw.timeout ?? DEFAULTS.upstreamTimeout,
    max_attempts: raw.max_attempts ?? DEFAULTS.upstreamMaxAttempts,
    min_backoff: raw.min_backoff ?? DEFAULTS.upstreamMinBackoff,
    max_backoff: raw.max_backoff ?? DEFAULTS.upstreamMaxBackoff,
    gzip: kind === 'http' ? (raw.gzip ?? defaultGzip(format)) : false,
    git_service: raw.git_service ?? 'github',
    report_code: raw.report_code ?? 'default',
    flag_labels: raw.flag_labels ?? ['test_type'],
    parallel: raw.parallel ?? false,
    service_name: raw.service_name ?? 'covgate',
    ...(raw.secret !== undefined ? { secret: raw.secret } : {}),
    ...(raw.token !== undefined ? { token: raw.token } : {}),
    ...(raw.slug !== undefined ? { slug: raw.slug } : {}),
    ...(raw.path !== undefined ? { path: raw.path } : {}),
    ...(raw.strip_prefix !== undefined ? { strip_prefix: raw.strip_prefix } : {}),
  };
  if (up.path !== undefined && !up.path.includes('{service}')) {
    ctx.issues.push({ path: [...path, 'path'], message: 'must contain {service} (one report per service and release)' });
  } else if (up.path !== undefined && !up.path.includes('{release}')) {
    ctx.issues.push({ path: [...path, 'path'], message: 'must contain {release} (one report per service and release)' });
  }
  if (up.min_backoff > up.max_backoff) {
    const key = raw.min_backoff !== undefined ? 'min_backoff' : 'max_backoff';
    ctx.issues.push({
      path: [...path, key],
      message: `min_backoff ${formatDuration(up.min_backoff)} must not exceed max_backoff ${formatDuration(up.max_backoff)}`,
    });
  }
  return up;
}

function checkUnique(values: string[], pathOf: (i: number) => ConfigPath, what: string, ctx: Ctx): void {
  const first = new Map<string, number>();
  values.forEach((v, i) => {
    const prev = first.get(v);
    if (prev === undefined) {
      first.set(v, i);
      return;
    }
    ctx.issues.push({ path: pathOf(i), message: `duplicate ${what} ${JSON.stringify(v)} (first defined at line ${ctx.lineOf(pathOf(prev))})` });
  });
}
