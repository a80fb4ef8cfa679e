/**
 * The zod schema of gateway.yaml as written: every key optional unless the
 * contract requires it, scalars parsed from the text the user wrote
 * (see yaml-source.ts), strict objects so that a typo is an error.
 * Defaults that depend on other keys, cross-key checks and file reads happen
 * afterwards in load.ts; this file only answers "is each value well-formed".
 */
import { gitRefProblem } from '../diff/git.ts';
import { z } from 'zod';
import ipaddr from 'ipaddr.js';
import { validate as validateCron } from 'node-cron';
import { DURATION_HINT, parseDuration, parseSize, SIZE_HINT } from './duration.ts';
import { LABEL_NAME_RE } from '../model/labels.ts';
import { SCRAPE_FORMATS } from './formats.ts';

/** Label names as Prometheus allows them (model/labels.ts). */
export { LABEL_NAME_RE };

/** A relabel target_label: a label name, possibly built from $1 / ${1} / ${name} groups. */
const TARGET_LABEL_RE = /^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$/;
/** An HTTP header field name (RFC 9110 token). */
const HEADER_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;
const HOST_GLOB_RE = /^[A-Za-z0-9_*?](?:[A-Za-z0-9_*?.-]*)$/;

/** What a value looked like, for "expected X, got Y" messages. */
export function describeInput(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

type Check<T> = (s: string) => T | { error: string };

/**
 * A scalar that arrives as a string and is parsed by `parse`. Lists and
 * mappings are rejected with "expected <what>, got a list". A missing value
 * is "missing required key" unless wrapped in `.optional()`.
 */
function scalar<T>(what: string, parse: Check<T>) {
  return z.unknown().transform((v, ctx): T => {
    if (v === undefined) {
      ctx.issues.push({ code: 'custom', message: 'missing required key', input: v });
      return z.NEVER;
    }
    if (typeof v !== 'string') {
      ctx.issues.push({ code: 'custom', message: `expected ${what}, got ${describeInput(v)}`, input: v });
      return z.NEVER;
    }
    const r = parse(v);
    if (r !== null && typeof r === 'object' && 'error' in r) {
      ctx.issues.push({ code: 'custom', message: r.error, input: v });
      return z.NEVER;
    }
    return r as T;
  });
}

const str = scalar('a string', (s) => s);
const nonEmpty = scalar('a string', (s) => (s === '' ? { error: 'must not be empty' } : s));

const bool = scalar('true or false', (s) => {
  if (/^(?:true|True|TRUE)$/.test(s)) return true;
  if (/^(?:false|False|FALSE)$/.test(s)) return false;
  return { error: `expected true or false, got ${JSON.stringify(s)}` };
});

const int = (min: number) =>
  scalar(`an integer >= ${min}`, (s) => {
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) return { error: `expected an integer >= ${min}, got ${JSON.stringify(s)}` };
    const n = Number(s);
    return n < min ? { error: `must be >= ${min}, got ${n}` } : n;
  });

/** A Prometheus duration, strictly positive (a 0s interval or timeout is never meaningful). */
const duration = scalar('a duration', (s) => {
  let ms: number;
  try {
    ms = parseDuration(s);
  } catch {
    return { error: `bad duration ${JSON.stringify(s)} (${DURATION_HINT})` };
  }
  return ms > 0 ? ms : { error: `duration must be greater than 0, got ${JSON.stringify(s)}` };
});

const size = scalar('a size', (s) => {
  try {
    return parseSize(s);
  } catch {
    return { error: `bad size ${JSON.stringify(s)} (${SIZE_HINT})` };
  }
});

const enumOf = <const T extends readonly string[]>(values: T) =>
  scalar(`one of ${values.join(', ')}`, (s) =>
    (values as readonly string[]).includes(s) ? (s as T[number]) : { error: `must be one of ${values.join(', ')} (got ${JSON.stringify(s)})` },
  );

const httpUrl = scalar('an http(s) URL', (s) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return { error: `bad URL ${JSON.stringify(s)} (expected http:// or https://)` };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { error: `bad URL ${JSON.stringify(s)}: scheme must be http or https` };
  if (!u.hostname) return { error: `bad URL ${JSON.stringify(s)}: no host` };
  return s;
});

function validPort(p: string): boolean {
  return /^\d{1,5}$/.test(p) && Number(p) <= 65535;
}

/** Splits "host:port" / "[v6]:port"; undefined when it is not that shape. */
export function splitHostPort(s: string): { host: string; port: string } | undefined {
  const m = /^\[([^\]]*)\]:([^:]*)$/.exec(s) ?? /^([^:[\]]*):([^:]*)$/.exec(s);
  return m ? { host: m[1]!, port: m[2]! } : undefined;
}

function checkHost(host: string, bracketed: boolean): boolean {
  if (bracketed) return ipaddr.IPv6.isValid(host);
  return ipaddr.IPv4.isValidFourPartDecimal(host) || HOSTNAME_RE.test(host);
}

/** A scrape target: host:port, [v6]:port. No scheme, no path: those belong to the job. */
const targetAddress = scalar('host:port', (s) => {
  const hint = `bad target ${JSON.stringify(s)}: expected host:port (e.g. localhost:8080 or [::1]:8080)`;
  if (s.includes('://')) return { error: `${hint}; set scheme: and coverage_path: on the job instead of a URL` };
  const hp = splitHostPort(s);
  if (!hp || !checkHost(hp.host, s.startsWith('['))) return { error: hint };
  if (!validPort(hp.port) || Number(hp.port) === 0) return { error: `bad target ${JSON.stringify(s)}: port must be 1-65535` };
  return s;
});

/** server.listen: host:port, [v6]:port or :port (all interfaces). Port 0 picks a free port. */
const listenAddress = scalar('host:port', (s) => {
  const hp = splitHostPort(s);
  const bad = { error: `bad listen address ${JSON.stringify(s)}: expected host:port (e.g. 127.0.0.1:9464, :9464, [::1]:9464)` };
  if (!hp || !validPort(hp.port)) return bad;
  if (hp.host !== '' && !checkHost(hp.host, s.startsWith('['))) return bad;
  return s;
});

/** registration.allowed_targets entry: a CIDR, an IP, or a hostname glob. */
const allowedTarget = scalar('a CIDR or host glob', (s) => {
  if (s.includes('/')) {
    try {
      ipaddr.parseCIDR(s);
      return s;
    } catch {
      return { error: `bad CIDR ${JSON.stringify(s)} (expected e.g. 10.0.0.0/8 or fd00::/8)` };
    }
  }
  if (ipaddr.isValid(s) && (ipaddr.IPv6.isValid(s) || ipaddr.IPv4.isValidFourPartDecimal(s))) return s;
  if (HOST_GLOB_RE.test(s) && !s.includes('..')) return s;
  return { error: `bad allowed target ${JSON.stringify(s)}: expected a CIDR (127.0.0.0/8), an IP, or a host glob (*.svc.cluster.local), without port or scheme` };
});

const cronExpr = scalar('a cron expression', (s) => (validateCron(s) ? s : { error: `bad cron expression ${JSON.stringify(s)}` }));

const coveragePath = scalar('a path', (s) => (s.startsWith('/') ? s : { error: `must start with "/", got ${JSON.stringify(s)}` }));

const labelName = scalar('a label name', (s) => (LABEL_NAME_RE.test(s) ? s : { error: `bad label name ${JSON.stringify(s)}` }));

const targetLabel = scalar('a label name', (s) => (TARGET_LABEL_RE.test(s) ? s : { error: `bad target_label ${JSON.stringify(s)}` }));

const regex = scalar('a regular expression', (s) => {
  try {
    new RegExp(`^(?:${s})$`);
    return s;
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, '') : String(err);
    return { error: `bad regex ${JSON.stringify(s)}: ${why}` };
  }
});

const headerValue = scalar('a string', (s) => (/[\r\n\0]/.test(s) ? { error: 'header value must not contain CR, LF or NUL' } : s));

const filePattern = scalar('a file glob', (s) =>
  /\.(?:json|ya?ml)$/.test(s) ? s : { error: `bad file_sd file ${JSON.stringify(s)}: must end in .json, .yml or .yaml` },
);

/** A mapping whose keys must match `keyRe`; values parsed by `value`. */
function keyedRecord<V extends z.ZodType>(value: V, keyRe: RegExp, keyWhat: string) {
  return z.record(z.string(), value).superRefine((r, ctx) => {
    for (const k of Object.keys(r)) {
      if (!keyRe.test(k)) ctx.addIssue({ code: 'custom', message: `bad ${keyWhat} ${JSON.stringify(k)}`, path: [k] });
    }
  });
}

const labels = keyedRecord(str, LABEL_NAME_RE, 'label name');

const relabelConfig = z.strictObject({
  source_labels: z.array(labelName).optional(),
  separator: str.optional(),
  target_label: targetLabel.optional(),
  regex: regex.optional(),
  modulus: int(1).optional(),
  replacement: str.optional(),
  // Prometheus accepts actions in any case ("Replace", "labelmap").
  action: scalar('a relabel action', (s) => {
    const a = s.toLowerCase();
    const actions = ['replace', 'keep', 'drop', 'hashmod', 'labelmap', 'labeldrop', 'labelkeep'] as const;
    return (actions as readonly string[]).includes(a)
      ? (a as (typeof actions)[number])
      : { error: `must be one of ${actions.join(', ')} (got ${JSON.stringify(s)})` };
  }).optional(),
});

const staticConfig = z.strictObject({
  targets: z.array(targetAddress).optional(),
  labels: labels.optional(),
});

const fileSdConfig = z.strictObject({
  files: z.array(filePattern),
  refresh_interval: duration.optional(),
});

const gocSdConfig = z.strictObject({
  server: httpUrl,
  refresh_interval: duration.optional(),
});

export const KUBERNETES_SD_ROLES = ['pod', 'service', 'endpoints'] as const;

/**
 * One requirement list of a Kubernetes label selector (`app=web,tier!=db`,
 * `env in (a,b)`, `!canary`) or field selector (`status.phase=Running`), as
 * the API server's parsers accept them; checked here so a typo is a config
 * error rather than a 400 from the API server at run time.
 */
function selectorProblem(s: string, kind: 'label' | 'field'): string | undefined {
  const terms: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(cur);
      cur = '';
    } else cur += ch;
  }
  terms.push(cur);
  const key = kind === 'label' ? String.raw`(?:[a-z0-9.-]{1,253}/)?[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?` : String.raw`[A-Za-z0-9_.-]+`;
  const value = String.raw`(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?`;
  const forms =
    kind === 'label'
      ? [`!?${key}`, `${key}\\s*(?:=|==|!=)\\s*${value}`, `${key}\\s+(?:in|notin)\\s*\\(\\s*${value}(?:\\s*,\\s*${value})*\\s*\\)`]
      : [`${key}\\s*(?:=|==|!=)\\s*[^,=!]*`];
  const re = new RegExp(`^\\s*(?:${forms.join('|')})\\s*$`);
  for (const t of terms) if (!re.test(t)) return `bad ${kind} selector ${JSON.stringify(s)}: cannot parse ${JSON.stringify(t.trim())}`;
  return undefined;
}

const selector = (kind: 'label' | 'field') =>
  scalar(`a ${kind} selector`, (s) => {
    const problem = s === '' ? undefined : selectorProblem(s, kind);
    return problem ? { error: problem } : s;
  });
const labelSelector = selector('label');
const fieldSelector = selector('field');

/** Prometheus `kubernetes_sd_configs` (roles pod, service, endpoints). Cross-key rules are in load.ts. */
const kubernetesSdConfig = z.strictObject({
  role: enumOf(KUBERNETES_SD_ROLES),
  api_server: httpUrl.optional(),
  kubeconfig_file: nonEmpty.optional(),
  bearer_token_file: nonEmpty.optional(),
  tls_config: z
    .strictObject({
      ca_file: nonEmpty.optional(),
      insecure_skip_verify: bool.optional(),
    })
    .optional(),
  namespaces: z
    .strictObject({
      names: z.array(nonEmpty).optional(),
      own_namespace: bool.optional(),
    })
    .optional(),
  selectors: z
    .array(
      z.strictObject({
        role: enumOf(KUBERNETES_SD_ROLES),
        label: labelSelector.optional(),
        field: fieldSelector.optional(),
      }),
    )
    .optional(),
});

/** A git revision for `diffs:` (checked like the API's base/head: no option injection, no ranges). */
const gitRef = scalar('a git revision', (s) => {
  const problem = gitRefProblem(s);
  return problem ? { error: `git revision ${JSON.stringify(s)} ${problem}` } : s;
});

/** A named diff (`diffs:`): coverage of the changes base...head in the job's repository, served as metrics and by name. */
const diffConfig = z.strictObject({
  name: scalar('a diff name', (s) => (/^[A-Za-z0-9_.-]+$/.test(s) ? s : { error: `diff name ${JSON.stringify(s)} may contain only letters, digits, _ . -` })),
  job: nonEmpty,
  base: gitRef,
  head: gitRef,
});

export { SCRAPE_FORMATS };
export const PUSH_FORMATS = ['istanbul', 'lcov', 'cobertura', 'covgate'] as const;
export const UPSTREAM_KINDS = ['http', 'codecov', 'coveralls', 'sonarqube', 'canyon'] as const;
/** codecov-cli's GitService values (codecov_cli/helpers/git.py) plus github-actions (helpers/upload_url_validation.py). */
export const CODECOV_GIT_SERVICES = ['github', 'gitlab', 'bitbucket', 'github_enterprise', 'gitlab_enterprise', 'bitbucket_server', 'github-actions'] as const;
/** codecov-cli's slug_with_subgroups_regex (codecov_cli/helpers/encoder.py): owner[/subgroup…]/repo. */
export const CODECOV_SLUG_RE = /^[^/\s]+(?:\/[^/\s]+)+$/;
const codecovSlug = scalar('owner/repo', (s) => (CODECOV_SLUG_RE.test(s) ? s : { error: `bad slug ${JSON.stringify(s)}: expected owner/repo or owner/subgroup/repo` }));

const scrapeConfig = z.strictObject({
  job_name: nonEmpty,
  scrape_interval: duration.optional(),
  scrape_timeout: duration.optional(),
  coverage_path: coveragePath.optional(),
  scheme: enumOf(['http', 'https'] as const).optional(),
  format: enumOf(SCRAPE_FORMATS).optional(),
  body_size_limit: size.optional(),
  counters: enumOf(['cumulative', 'delta'] as const).optional(),
  reset_after_scrape: bool.optional(),
  sources: z.array(nonEmpty).optional(),
  path_map: z.record(nonEmpty, str).optional(),
  repository: nonEmpty.optional(),
  static_configs: z.array(staticConfig).optional(),
  file_sd_configs: z.array(fileSdConfig).optional(),
  goc_sd_configs: z.array(gocSdConfig).optional(),
  kubernetes_sd_configs: z.array(kubernetesSdConfig).optional(),
  relabel_configs: z.array(relabelConfig).optional(),
});

const upstreamConfig = z.strictObject({
  name: nonEmpty,
  kind: enumOf(UPSTREAM_KINDS).optional(),
  url: httpUrl.optional(),
  format: enumOf(PUSH_FORMATS).optional(),
  secret: nonEmpty.optional(),
  token: nonEmpty.optional(),
  slug: codecovSlug.optional(),
  git_service: enumOf(CODECOV_GIT_SERVICES).optional(),
  report_code: nonEmpty.optional(),
  flag_labels: z.array(labelName).optional(),
  parallel: bool.optional(),
  service_name: nonEmpty.optional(),
  path: nonEmpty.optional(),
  strip_prefix: nonEmpty.optional(),
  headers: keyedRecord(headerValue, HEADER_NAME_RE, 'header name').optional(),
  timeout: duration.optional(),
  max_attempts: int(0).optional(),
  min_backoff: duration.optional(),
  max_backoff: duration.optional(),
  gzip: bool.optional(),
});

/** A peer covgate (the central one a shard forwards to, or a shard the central fans sessions out to). */
const peerHttp = {
  headers: keyedRecord(headerValue, HEADER_NAME_RE, 'header name').optional(),
  bearer_token: nonEmpty.optional(),
  bearer_token_file: nonEmpty.optional(),
  timeout: duration.optional(),
};

const forwardConfig = z.strictObject({
  url: httpUrl,
  ...peerHttp,
  concurrency: int(1).optional(),
  min_backoff: duration.optional(),
  max_backoff: duration.optional(),
});

const shardsConfig = z.strictObject({
  urls: z.array(httpUrl),
  ...peerHttp,
});

export const rawConfigSchema = z.strictObject({
  global: z
    .strictObject({
      scrape_interval: duration.optional(),
      scrape_timeout: duration.optional(),
      external_labels: labels.optional(),
      scrape_concurrency: int(1).optional(),
      body_size_limit: size.optional(),
    })
    .optional(),
  server: z
    .strictObject({
      listen: listenAddress.optional(),
      body_size_limit: size.optional(),
      auth: z
        .strictObject({
          bearer_token: nonEmpty.optional(),
          bearer_token_file: nonEmpty.optional(),
          protect_reads: bool.optional(),
        })
        .optional(),
    })
    .optional(),
  storage: z
    .strictObject({
      path: nonEmpty.optional(),
      retention: duration.optional(),
      retention_schedule: cronExpr.optional(),
    })
    .optional(),
  registration: z
    .strictObject({
      enabled: bool.optional(),
      default_ttl: duration.optional(),
      max_ttl: duration.optional(),
      allowed_targets: z.array(allowedTarget).optional(),
    })
    .optional(),
  scrape_configs: z.array(scrapeConfig).optional(),
  diffs: z.array(diffConfig).optional(),
  push: z
    .strictObject({
      on_test_finished: bool.optional(),
      upstreams: z.array(upstreamConfig).optional(),
    })
    .optional(),
  forward: forwardConfig.optional(),
  shards: shardsConfig.optional(),
  metrics: z
    .strictObject({
      per_file: bool.optional(),
      per_file_limit: int(1).optional(),
    })
    .optional(),
});

export type RawConfig = z.output<typeof rawConfigSchema>;
export type RawScrapeConfig = NonNullable<RawConfig['scrape_configs']>[number];
export type RawKubernetesSDConfig = NonNullable<RawScrapeConfig['kubernetes_sd_configs']>[number];
export type RawRelabelConfig = NonNullable<RawScrapeConfig['relabel_configs']>[number];
export type RawDiffConfig = NonNullable<RawConfig['diffs']>[number];
export type RawUpstreamConfig = NonNullable<NonNullable<RawConfig['push']>['upstreams']>[number];

/** zod's per-parse error map: messages in the words of a config file. */
export function configErrorMessage(iss: { code?: string; expected?: unknown; input?: unknown; values?: unknown }): string | undefined {
  switch (iss.code) {
    case 'invalid_type': {
      if (iss.input === undefined) return 'missing required key';
      const expected = iss.expected === 'object' || iss.expected === 'record' ? 'a mapping' : iss.expected === 'array' ? 'a list' : `a ${String(iss.expected)}`;
      return `expected ${expected}, got ${describeInput(iss.input)}`;
    }
    case 'unrecognized_keys':
      return 'unknown key';
    default:
      return undefined;
  }
}
