import { randomUUID } from 'node:crypto';
import { createCoverageServer } from '../shared/coverage-server.ts';
import { parseDurationMs, stderrLogger, type ExporterLogger } from '../shared/settings.ts';
import { createRegistration, type Registration } from '../node/registration.ts';
import { createBrowserCollector, type BrowserCollector } from './collector.ts';

export interface BrowserExporterOptions {
  /** DevTools endpoints (http://127.0.0.1:9222 or ws://…/devtools/browser/…). */
  cdp: string[];
  port?: number;
  host?: string;
  gateway?: string;
  job?: string;
  service?: string;
  labels?: Record<string, string>;
  /** Lease TTL: ms, or a duration string. */
  ttl?: number | string;
  token?: string;
  intervalMs?: number;
  sourceRoot?: string;
  includeNodeModules?: boolean;
  build?: Record<string, string>;
  logger?: ExporterLogger;
}

export interface BrowserExporter {
  readonly url: string;
  readonly port: number;
  readonly instance: string;
  readonly collector: BrowserCollector;
  readonly registration: Registration | undefined;
  /** Deregisters (final scrape included), stops serving, closes CDP. Safe twice. */
  stop(): Promise<void>;
}

/**
 * The browser sidecar: covers Chromium instances over CDP and serves the
 * covgate exporter protocol for them, registering with the gateway when
 * one is given. The sidecar is one target whatever the number of browsers.
 */
export async function startBrowserExporter(opts: BrowserExporterOptions): Promise<BrowserExporter> {
  const logger = opts.logger ?? stderrLogger('covgate-browser-exporter');
  const instance = randomUUID();
  const collector = await createBrowserCollector({
    endpoints: opts.cdp,
    ...(opts.intervalMs ? { intervalMs: opts.intervalMs } : {}),
    ...(opts.sourceRoot ? { sourceRoot: opts.sourceRoot } : {}),
    includeNodeModules: opts.includeNodeModules ?? false,
    logger,
  });
  const server = createCoverageServer({
    collector,
    identity: { instance, startTime: new Date().toISOString(), build: opts.build ?? {} },
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 0,
    keepAlive: true,
    onError: (err) => logger.warn(`serving coverage failed: ${(err as Error).message}`),
  });
  const { port, url } = await server.start();
  logger.info(`serving coverage on ${url}/coverage (instance ${instance})`);

  let registration: Registration | undefined;
  if (opts.gateway) {
    const labels = { ...(opts.labels ?? {}) };
    if (opts.service) labels.service = opts.service;
    registration = createRegistration({
      gateway: opts.gateway,
      job: opts.job ?? opts.service ?? 'browser',
      url,
      labels,
      ttlMs: typeof opts.ttl === 'number' ? opts.ttl : (parseDurationMs(opts.ttl) ?? 60_000),
      ...(opts.token ? { token: opts.token } : {}),
      handleSignals: false, // the CLI owns shutdown
      logger,
    });
    registration.start();
  }

  let stopped = false;
  return {
    url,
    port,
    instance,
    collector,
    registration,
    async stop() {
      if (stopped) return;
      stopped = true;
      await registration?.stop();
      await server.stop();
      await collector.close?.();
    },
  };
}
