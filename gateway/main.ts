/**
 * The composition root: the only module that creates concrete parts (LevelDB,
 * axios, koa's server, timers) and wires the stages together. Everything else
 * receives its dependencies.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { Level } from 'level';
import pLimit from 'p-limit';
import { createApiApp } from './api/app.ts';
import { coverageRoutes } from './api/routes/coverage.ts';
import { diffCoverageRoutes } from './api/routes/diff-coverage.ts';
import { createBuildDiffs, createDiffCoverage, createGitRunner, type UploadedDiff } from './diff/index.ts';
import { statusRoutes } from './api/routes/status.ts';
import { targetRoutes } from './api/routes/targets.ts';
import { metricsRoutes } from './api/routes/metrics.ts';
import { createSystemScheduler, repeat, systemClock, systemTimers, type Cancel, type Clock, type Scheduler, type Timers } from './clock/index.ts';
import { loadConfigFile, scrapeConfigDefaults, type GatewayConfig } from './config/index.ts';
import { createDiscoveryManager } from './discovery/index.ts';
import { hashLabels } from './discovery/target.ts';
import { describeError } from './errors.ts';
import { createLogger, type Logger } from './log/index.ts';
import { createCoverageQuery, serviceKey } from './merge/index.ts';
import { createMetrics } from './metrics/index.ts';
import { createScrapeManager } from './scrape/index.ts';
import { createCoverageStore } from './store/index.ts';
import { createSessions, sessionRoutes, type SessionRecord } from './sessions/index.ts';
import { pushIngestRoutes } from './ingest/routes.ts';
import { createIngester, isPushTarget } from './ingest/index.ts';
import { matchesSelector, parseSelector, summarizeFiles, type PathMap, type Selector } from './model/index.ts';
import type { ServiceCoverage } from './metrics/types.ts';
import { createReports } from './report/index.ts';
import { createHistory, statusPageRoutes, type HistoryPoint } from './status/index.ts';
import { findSource } from './report/index.ts';
import { createPushOutbox, pushRoutes, sonarqubeRoutes, type PushRecord } from './push/index.ts';
import { createForwarder, createShardFanOut, forwardRoutes, withShardFanOut, type ForwardMark } from './forward/index.ts';
import { createAllowlist, createGuardedHttp, createRegistry, registryRoutes, REGISTRATION_ID_LABEL, type Allowlist, type Lease } from './registry/index.ts';

import { VERSION } from './version.ts';

export { VERSION };

export interface GatewayOptions {
  /** Path of gateway.yaml (re-read on reload). */
  configPath: string;
  /** Overrides `server.listen` (tests use 127.0.0.1:0). */
  listen?: string;
  /** Overrides `storage.path`. */
  storagePath?: string;
  logger?: Logger;
  clock?: Clock;
  /** Scheduler for scrape loops and retention; tests inject a manual one and trigger scrapes explicitly. */
  scheduler?: Scheduler;
  /**
   * Real-time timers that run even when `scheduler` is manual: the unwritable
   * store's probe, discovery's refreshes and debounces, the allowlist's DNS
   * timeout. The system's unless injected.
   */
  timers?: Timers;
  env?: NodeJS.ProcessEnv;
}

export interface Gateway {
  /** Base URL once listening, e.g. http://127.0.0.1:9464. */
  readonly url: string;
  start(): Promise<void>;
  /** Re-reads the config file; rejects (and keeps the running config) when it is invalid. */
  reload(): Promise<void>;
  /** Stops loops, closes the server and the store. Safe before start and twice. */
  stop(): Promise<void>;
}

/** How often an unwritable store tries a probe write (and reopens LevelDB if needed). */
const STORE_PROBE_MS = 1000;

function parseListen(listen: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(listen);
  if (!m) throw new Error(`server.listen must be host:port, got ${JSON.stringify(listen)}`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

export function createGateway(opts: GatewayOptions): Gateway {
  const logger = opts.logger ?? createLogger();
  const clock = opts.clock ?? systemClock;
  const scheduler = opts.scheduler ?? createSystemScheduler();
  const timers = opts.timers ?? systemTimers;
  let config: GatewayConfig | undefined;
  let ready = false;
  let server: Server | undefined;
  let url = '';
  let retentionCancel: Cancel | undefined;
  let stopped = false;
  let started = false;
  let db: Level<string, unknown> | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];

  const applyOverrides = (c: GatewayConfig): GatewayConfig => {
    if (opts.listen) c.server.listen = opts.listen;
    if (opts.storagePath) c.storage.path = opts.storagePath;
    return c;
  };

  async function start(): Promise<void> {
    if (started) return;
    started = true;
    config = applyOverrides(await loadConfigFile(opts.configPath, opts.env ?? process.env));
    const cfg = () => config!;

    db = new Level<string, unknown>(config.storage.path, { valueEncoding: 'json' });
    const store = createCoverageStore(db, {
      clock,
      onFailure: (cause) => logger.error({ cause }, 'store write failed: writes are refused and /-/ready answers 503 until a probe write succeeds'),
      onRecovered: (cause) => logger.warn({ cause }, 'store is writable again'),
    });
    await store.open();
    cleanups.push(() => store.close());
    // Real-time timers even with --test.manual-scrapes: recovering the disk is not a scrape.
    const stopProbe = repeat(timers, STORE_PROBE_MS, () => {
      if (!store.health().writable) void store.recover();
    });
    cleanups.push(stopProbe);

    const query = createCoverageQuery(store);
    // Diffs a new build brings along (envelope or registration `build.diff`), for carrying coverage without a repository.
    const buildDiffs = createBuildDiffs(store.sublevel<UploadedDiff>('build-diffs'));
    await buildDiffs.open();
    let metricsForForward: { forwarded(result: 'success' | 'retry' | 'failed'): void } | undefined;
    // A shard (`forward:`) sends every changed lifetime on to the central covgate; marks survive restarts.
    const forwarder = createForwarder({
      kv: store.sublevel<ForwardMark>('forward'),
      store,
      http: axios.create({ headers: { 'User-Agent': `covgate/${VERSION}` } }),
      config: () => cfg().forward,
      logger: logger.child({ stage: 'forward' }),
      observer: { forwarded: (r) => metricsForForward?.forwarded(r) },
    });
    await forwarder.open();
    cleanups.push(() => forwarder.stop());
    /**
     * The only writer of coverage (scrapes, push ingest and forwards hand over to it): a `build.diff` is checked and
     * kept apart before the snapshot is stored; on a shard, a changed lifetime is marked for forwarding before the
     * write is acknowledged.
     */
    const ingester = createIngester({
      store: {
        envelopeFiles: (targetId, id) => store.envelopeFiles(targetId, id),
        structure: (hash) => store.structure(hash),
        knownStructureId: (targetId) => store.knownStructureId(targetId),
        currentSnapshot: (targetId) => store.currentSnapshot(targetId),
        async append(input, now) {
          const build = await buildDiffs.fromBuild(input.target.job, input.build, now);
          const r = await store.append({ ...input, ...(build !== undefined ? { build } : {}) }, now);
          if (r.changed || r.newLifetime) await forwarder.mark(input.target.id, r.lifetimeId);
          return r;
        },
      },
      clock,
    });
    // Services with a current target, or fed by push ingest; computed when /metrics renders.
    const liveServices = () => {
      const live = new Set<string>();
      for (const t of scrape.targets()) live.add(serviceKey(t));
      for (const t of store.targets()) if (isPushTarget(t)) live.add(serviceKey(t));
      return live;
    };
    const diffCoverage = createDiffCoverage({
      config: cfg,
      coverage: (selector) => query.coverage(selector),
      byBuild: (selector) => query.byBuild(selector),
      uploaded: buildDiffs,
      services: () => [...liveServices()].map((k) => {
        const [job, service] = k.split('\0') as [string, string];
        return { job, service };
      }),
      git: createGitRunner(),
    });
    // /metrics shows what /api/v1/coverage answers by default: a service spanning builds carried onto its newest build.
    const carriedCache = new Map<string, { version: string; value: ServiceCoverage }>();
    const carriedServices = async (services: ServiceCoverage[]): Promise<ServiceCoverage[]> => {
      const v = query.version();
      const perFile = cfg().metrics.per_file;
      return Promise.all(
        services.map(async (s) => {
          const key = `${s.job}\0${s.service}\0${perFile}`;
          const hit = carriedCache.get(key);
          if (hit && hit.version === v) return hit.value;
          let value = s;
          try {
            const c = await diffCoverage.carry({ job: [s.job], service: [s.service] });
            if (c && c.mode === 'lines') {
              value = { ...s, summary: c.combined, carriedLines: c.combined.lines.covered - c.observed.lines.covered };
              if (perFile) value.files = summarizeFiles(c.map);
            }
          } catch (err) {
            logger.warn({ err: describeError(err), job: s.job, service: s.service }, 'carrying across builds failed; /metrics shows the location merge');
          }
          if (carriedCache.size > 1024) carriedCache.clear();
          carriedCache.set(key, { version: v, value });
          return value;
        }),
      );
    };
    const http = axios.create({ headers: { 'User-Agent': `covgate/${VERSION}` } });
    let metricsRef: ReturnType<typeof createMetrics> | undefined;
    // Bound once the session stage exists (it is created after the outbox, which it pushes to).
    let sessionsRef: ReturnType<typeof createSessions> | undefined;
    /** Merged coverage of a release on a service, once `session` is stored as finished (kind sonarqube). */
    const releaseCoverage = (service: string, release: string, session?: string) => {
      if (!sessionsRef) return undefined;
      if (session !== undefined && !sessionsRef.list({ session: [session], state: ['finished'] }).length) return undefined;
      const merged = query.coverage({ release: [release], service: [service] });
      return Object.keys(merged.map).length > 0 ? merged.map : undefined;
    };
    const outbox = createPushOutbox({
      kv: store.sublevel<PushRecord>('outbox'),
      http,
      ports: {
        releaseCoverage,
        // Coveralls needs each file's MD5: read like the HTML reports do, only under the jobs' sources: roots.
        sourceOf: (path, data) => findSource(path, data, cfg().scrape_configs.flatMap((c) => c.sources)),
      },
      clock,
      upstreams: () => cfg().push.upstreams,
      observer: { pushFinished: (upstream, result) => metricsRef?.pushFinished(upstream, result) },
      logger: logger.child({ stage: 'push' }),
    });
    const metrics = createMetrics({
      now: () => clock.now(),
      perFile: config.metrics.per_file,
      perFileLimit: config.metrics.per_file_limit,
      logger,
      coverage: {
        services: () => {
          // Once per render: the set is built from every target (once per target was O(targets²)).
          const live = liveServices();
          return carriedServices(query.services(cfg().metrics.per_file, (job, service) => live.has(`${job}\0${service}`)));
        },
      },
      pushQueue: () => outbox.queueLengths(),
      forwardPending: () => (cfg().forward ? forwarder.stats().pending : undefined),
      diffCoverage: () => diffCoverage.series(),
    });
    metricsRef = metrics;
    metricsForForward = metrics;

    let guardAllowlist: { key: string; allowlist: Allowlist } | undefined;
    const currentAllowlist = (): Allowlist => {
      const entries = cfg().registration.allowed_targets;
      const key = JSON.stringify(entries);
      if (guardAllowlist?.key !== key) guardAllowlist = { key, allowlist: createAllowlist(entries, { timers }) };
      return guardAllowlist.allowlist;
    };
    const scrape = createScrapeManager({
      http,
      registeredHttp: createGuardedHttp(currentAllowlist, { 'User-Agent': `covgate/${VERSION}` }),
      ingester,
      clock,
      scheduler,
      logger,
      limit: pLimit(config.global.scrape_concurrency),
      userAgent: `covgate/${VERSION}`,
      seed: hashLabels(config.global.external_labels),
      defaultsFor: (job) => scrapeConfigDefaults(cfg().global, job),
      observer: {
        scrapeFinished: (r) => {
          metrics.scrapeFinished({
            job: r.job,
            instance: r.instance,
            up: r.health === 'up',
            durationSeconds: r.durationSeconds,
            bodyBytes: r.bodyBytes,
            result: r.result,
          });
          if (r.stored) metrics.snapshotStored(1);
        },
        targetRestarted: (job, instance) => metrics.targetRestarted(job, instance),
        targetRemoved: (job, instance) => metrics.targetRemoved(job, instance),
      },
    });
    cleanups.push(() => scrape.stop());

    const discovery = createDiscoveryManager({ logger, timers });
    discovery.subscribe((sets) => {
      scrape.sync(sets);
      query.bump(); // the set of live services (for /metrics) may have changed
    });
    cleanups.push(() => discovery.stop());

    const applyConfig = async (c: GatewayConfig) => {
      scrape.applyConfig(c.scrape_configs);
      await discovery.applyConfig(c.scrape_configs);
      outbox.reload();
      discovery.flush();
      retentionCancel?.();
      retentionCancel = scheduler.cron(c.storage.retention_schedule, () => {
        store
          .retention(clock.now(), cfg().storage.retention)
          .then((r) => {
            if (r.deletedSnapshots > 0 || r.foldedLifetimes > 0) logger.info(r, 'retention ran');
          })
          .catch((err) => logger.error({ err: describeError(err) }, 'retention failed'));
      });
    };
    await applyConfig(config);
    cleanups.push(() => retentionCancel?.());

    async function reload(): Promise<void> {
      let next: GatewayConfig;
      try {
        next = applyOverrides(await loadConfigFile(opts.configPath, opts.env ?? process.env));
      } catch (err) {
        metrics.configReloaded(false);
        logger.error({ err: describeError(err) }, 'reload rejected; keeping the running config');
        throw err;
      }
      // Listen address and storage path are fixed for the process lifetime.
      next.server.listen = config!.server.listen;
      next.storage.path = config!.storage.path;
      config = next;
      await applyConfig(next);
      metrics.configReloaded(true);
      logger.info({ jobs: next.scrape_configs.map((c) => c.job_name) }, 'config reloaded');
    }
    gateway.reload = reload;

    const registry = createRegistry({
      kv: store.sublevel<Lease>('registry'),
      clock,
      scheduler,
      logger,
      discovery,
      config: () => cfg().registration,
      // Deregistration and expiry scrape the target once more, so nothing it covered since the last scrape is lost.
      finalScrape: async (lease) => {
        const results = await scrape.scrape((t) => t.discoveredLabels[REGISTRATION_ID_LABEL] === lease.id);
        const failed = results.find((r) => r.result !== 'success' && r.result !== 'not_modified');
        if (failed) throw new Error(`final scrape of ${failed.scrapeUrl}: ${failed.error ?? failed.result}`);
      },
    });
    await registry.open();

    // Line coverage over time per service (status page plots): a point a minute when it changed, and at each finished session.
    const history = createHistory({ kv: store.sublevel<HistoryPoint>('history'), clock, query });
    await history.open();
    const historyCancel = scheduler.every(60_000, 60_000, () => {
      history.record().catch((err) => logger.warn({ err: describeError(err) }, 'could not record coverage history'));
    });
    cleanups.push(() => historyCancel());

    const sessions = createSessions({
      kv: store.sublevel<SessionRecord>('sessions'),
      store,
      carry: async (selector, builds) => (await diffCoverage.carryBuilds(selector, builds))?.map,
      clock,
      logger,
      scrape: (selector) => scrape.scrape((t) => matchesSelector({ ...t.labels, job: t.job }, selector)),
      push: outbox,
      pushOnFinish: () => cfg().push.on_test_finished && cfg().push.upstreams.length > 0,
      observer: {
        sessionFinished: (service, summary) => {
          query.bump();
          metrics.sessionFinished(service, summary);
          history.record().catch((err) => logger.warn({ err: describeError(err) }, 'could not record coverage history'));
        },
      },
    });
    await sessions.open();
    // covgate_last_session_coverage_ratio survives a restart: replay the finished sessions, oldest first.
    for (const s of sessions.lastFinished()) for (const [service, summary] of Object.entries(s.services ?? {})) metrics.sessionFinished(service, summary);
    sessionsRef = sessions;
    query.setResolver(
      (selector) => sessions.resolve(selector),
      (selector) => sessions.resolveByBuild(selector),
    );

    // The `path_map`s of the jobs the selector names (all jobs when none), merged.
    const pathMapOf = (selector: Selector): PathMap => {
      const jobs = selector.job;
      return Object.assign({}, ...cfg().scrape_configs.filter((c) => !jobs || jobs.includes(c.job_name)).map((c) => c.path_map ?? {}));
    };
    const reports = createReports({
      query,
      carry: (selector) => diffCoverage.carry(selector),
      pathMap: pathMapOf,
      // the jobs the selector names (all jobs when none): only their `sources:` roots are read
      sourceRoots: (selector) => {
        const jobs = selector.job;
        return cfg()
          .scrape_configs.filter((c) => !jobs || jobs.includes(c.job_name))
          .flatMap((c) => c.sources);
      },
    });
    cleanups.push(() => reports.stop());

    const notReadyReason = () => {
      const h = store.health();
      return h.writable ? undefined : `the store is not writable since ${new Date(h.since).toISOString()}: ${h.cause}`;
    };
    const apiCtx = { logger, version: VERSION, config: cfg, isReady: () => ready, notReadyReason };
    const app = createApiApp(apiCtx, [
      statusRoutes({ ...apiCtx, reload }),
      targetRoutes({ scrape, query, clearWindow: (ids, now) => store.clearWindow(ids, now), now: () => clock.now() }),
      coverageRoutes({ query, carry: (selector) => diffCoverage.carry(selector), pathMap: pathMapOf }),
      diffCoverageRoutes({
        diff: diffCoverage,
        query,
        carry: (selector) => diffCoverage.carry(selector),
        bodyLimit: 64 * 1024 * 1024,
        openReport: (selector, highlight, caption, carry) => reports.openHighlighted(selector, highlight, caption, carry),
      }),
      pushIngestRoutes({ ingester, bodyLimit: () => cfg().server.body_size_limit, onIngested: (stored) => {
          query.bump();
          if (stored) metrics.snapshotStored(1);
        },
      }),
      // On a central covgate (`shards:`), sessions reach every shard first.
      sessionRoutes({ sessions: withShardFanOut(sessions, createShardFanOut({ http, config: () => cfg().shards })) }),
      forwardRoutes({
        ingester,
        bodyLimit: () => cfg().server.body_size_limit,
        onIngested: (stored) => {
          query.bump();
          if (stored) metrics.snapshotStored(1);
        },
        forwarder: () => (cfg().forward ? forwarder : undefined),
        scrape: async (selector) => {
          const sel = parseSelector(selector);
          await scrape.scrape((t) => matchesSelector({ ...t.labels, job: t.job }, sel));
        },
      }),
      registryRoutes({
        registry,
        config: () => cfg().registration,
        onBuild: async (job, build) => {
          await buildDiffs.fromBuild(job, build, clock.now());
        },
      }),
      pushRoutes({ outbox }),
      sonarqubeRoutes({ releaseCoverage: (service, release) => releaseCoverage(service, release), upstreams: () => cfg().push.upstreams }),
      reports.routes(),
      statusPageRoutes({
        version: VERSION,
        query,
        history,
        sessions,
        targets: () => scrape.targets().map((t) => t.info()),
        storedTargets: () => store.targets(),
      }),
      metricsRoutes({ metrics }),
    ]);

    await outbox.start();
    forwarder.start();
    cleanups.push(() => outbox.stop());
    await discovery.start();
    registry.start();
    cleanups.push(() => registry.stop());
    scrape.start();

    const { host, port } = parseListen(config.server.listen);
    // koa's callback catches every request's rejection itself (app.onerror, behind our error middleware).
    // eslint-disable-next-line @typescript-eslint/no-misused-promises
    server = createServer(app.callback());
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(port, host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    metrics.configReloaded(true);
    ready = true;
    logger.info({ url, config: opts.configPath, storage: config.storage.path, version: VERSION }, 'covgate listening');
  }

  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    ready = false;
    if (server) {
      const s = server;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    }
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        logger.warn({ err: describeError(err) }, 'error while stopping');
      }
    }
  }

  const gateway: Gateway = {
    get url() {
      return url;
    },
    start,
    reload: async () => {
      throw new Error('gateway not started');
    },
    stop,
  };
  return gateway;
}
