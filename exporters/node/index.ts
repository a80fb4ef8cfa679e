import { randomUUID } from 'node:crypto';
import { createCoverageServer, type CoverageCollector, type CoverageServer } from '../shared/coverage-server.ts';
import { buildInfo, parseDurationMs, parseLabels, stderrLogger, type ExporterLogger } from '../shared/settings.ts';
import { parseGlobList } from '../shared/path-filter.ts';
import { createNodeCollector, type CollectorMode } from './collector.ts';
import { createRegistration, type Registration, type RegistrationOptions } from './registration.ts';

export { createRegistration } from './registration.ts';
export type { Registration, RegistrationOptions, RegistrationTimers } from './registration.ts';

export interface ExporterOptions {
  /** 0 (default) binds an ephemeral port; the bound one is logged and returned. */
  port?: number;
  host?: string;
  /** Gateway base URL; when set the exporter registers itself. */
  gateway?: string;
  job?: string;
  /** Added to `labels` as `service`. */
  service?: string;
  labels?: Record<string, string>;
  /** Lease TTL: ms as a number, or a duration string (`60s`). */
  ttl?: number | string;
  token?: string;
  build?: Record<string, string>;
  /** auto (default): `__coverage__` when present, else V8. */
  mode?: CollectorMode;
  includeNodeModules?: boolean;
  /** Globs of files to report, like c8's `--include` (COVGATE_INCLUDE, comma-separated). */
  include?: string[];
  /** Globs of files not to report, like c8's `--exclude` (COVGATE_EXCLUDE); default c8's list. */
  exclude?: string[];
  /** Whether the exporter's socket may keep the process alive (default false). */
  keepAlive?: boolean;
  /** Registration internals, for tests (timers, random, backoff). */
  registration?: Partial<RegistrationOptions>;
  logger?: ExporterLogger;
}

export interface Exporter {
  /** http://host:port of the coverage target. */
  readonly url: string;
  readonly port: number;
  readonly instance: string;
  readonly registration: Registration | undefined;
  readonly collector: CoverageCollector;
  /** Deregisters, stops serving, stops the profiler. Safe twice. */
  stop(): Promise<void>;
}

/**
 * Options from the environment (COVGATE_*), the way `register.ts` reads
 * them; explicit options passed to `startExporter` win over these.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): ExporterOptions {
  const o: ExporterOptions = {};
  if (env.COVGATE_EXPORTER_PORT) o.port = Number(env.COVGATE_EXPORTER_PORT);
  if (env.COVGATE_EXPORTER_HOST) o.host = env.COVGATE_EXPORTER_HOST;
  if (env.COVGATE_GATEWAY) o.gateway = env.COVGATE_GATEWAY;
  if (env.COVGATE_JOB) o.job = env.COVGATE_JOB;
  if (env.COVGATE_SERVICE) o.service = env.COVGATE_SERVICE;
  if (env.COVGATE_LABELS) o.labels = parseLabels(env.COVGATE_LABELS);
  if (env.COVGATE_TTL) o.ttl = env.COVGATE_TTL;
  if (env.COVGATE_TOKEN) o.token = env.COVGATE_TOKEN;
  if (env.COVGATE_MODE === 'istanbul' || env.COVGATE_MODE === 'v8' || env.COVGATE_MODE === 'auto') o.mode = env.COVGATE_MODE;
  if (env.COVGATE_INCLUDE_NODE_MODULES === '1' || env.COVGATE_INCLUDE_NODE_MODULES === 'true') o.includeNodeModules = true;
  const include = parseGlobList(env.COVGATE_INCLUDE);
  if (include) o.include = include;
  const exclude = parseGlobList(env.COVGATE_EXCLUDE);
  if (exclude) o.exclude = exclude;
  return o;
}

/**
 * Starts the coverage exporter inside this process: a covgate target on
 * `http://host:port/coverage` and, with `gateway`, self-registration.
 * Call it before the application's modules load so V8 sees every function.
 */
export async function startExporter(options: ExporterOptions = {}): Promise<Exporter> {
  const env = process.env;
  const opts = { ...optionsFromEnv(env), ...options };
  const logger = opts.logger ?? stderrLogger('covgate-exporter', env);
  const instance = randomUUID();
  const startTime = new Date().toISOString();
  const collector = await createNodeCollector({
    mode: opts.mode ?? 'auto',
    includeNodeModules: opts.includeNodeModules ?? false,
    ...(opts.include ? { include: opts.include } : {}),
    ...(opts.exclude ? { exclude: opts.exclude } : {}),
    logger,
  });
  const server: CoverageServer = createCoverageServer({
    collector,
    identity: { instance, startTime, build: opts.build ?? buildInfo(env, process.cwd()) },
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 0,
    keepAlive: opts.keepAlive ?? false,
    onError: (err) => logger.warn(`serving coverage failed: ${(err as Error).message}`),
  });
  const { port, url } = await server.start();
  logger.info(`serving coverage on ${url}/coverage (instance ${instance})`);

  let registration: Registration | undefined;
  if (opts.gateway) {
    const ttlMs = typeof opts.ttl === 'number' ? opts.ttl : (parseDurationMs(opts.ttl) ?? 60_000);
    const labels = { ...(opts.labels ?? {}) };
    if (opts.service) labels.service = opts.service;
    registration = createRegistration({
      gateway: opts.gateway,
      job: opts.job ?? opts.service ?? 'node',
      url,
      labels,
      ttlMs,
      ...(opts.token ? { token: opts.token } : {}),
      logger,
      ...opts.registration,
    });
    registration.start();
  }

  let stopped = false;
  return {
    url,
    port,
    instance,
    registration,
    collector,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Deregister first: the gateway takes a final scrape while we still serve.
      await registration?.stop();
      await server.stop();
      await collector.close?.();
    },
  };
}
