/**
 * Prometheus metrics of the gateway (contract section 4): coverage per
 * service computed at collect time from the gateway's cache, scrape health
 * per target, pushes, sessions, and a few self-metrics. Everything lives in a
 * registry of its own, never in prom-client's global one, so that several
 * gateways (tests) can live in one process.
 */
import { systemClock } from '../clock/index.ts';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { COVERAGE_KINDS, isAvailable, ratio, type Summary } from '../model/index.ts';
import { PerFileCapTracker } from './per-file.ts';
import { PUSH_RESULTS, SCRAPE_RESULTS, type GatewayMetrics, type MetricsOptions, type ScrapeFinishedEvent, type ServiceCoverage } from './types.ts';

import { VERSION } from '../version.ts';

export * from './types.ts';
export { selectFiles } from './per-file.ts';


/**
 * Creates the gateway's metrics. The coverage gauges (`covgate_coverage_*`,
 * `covgate_file_coverage_ratio`) and `covgate_push_queue_length` are filled in
 * prom-client `collect()` from `opts.coverage` / `opts.pushQueue` on every
 * render: they are reset first, so a service the provider no longer returns
 * disappears from /metrics. All other series are driven by the event methods.
 *
 * An empty kind (0 of 0, e.g. a service without branches) has ratio 1, as
 * Istanbul shows 100% for it: "nothing to cover" is not a coverage drop, and
 * the value matches `pct/100` of the gateway's json-summary. A kind the
 * service's formats do not have at all (`available: false`: functions and
 * branches of gocover, coveralls, LCOV without FN/BRDA) gets no series, never
 * a made-up 0 or 1. Go services' statements are Go's statement-weighted
 * figure (`go tool cover -func`), see model/summary.ts.
 */
export function createMetrics(opts: MetricsOptions): GatewayMetrics {
  const registry = new Registry();
  const now = opts.now ?? systemClock.now;
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const capTracker = new PerFileCapTracker(opts.logger);

  // --- coverage, computed at collect time -------------------------------
  // The four coverage gauges share one read of the provider per render:
  // the first collect() of a render reads it, the others reuse that read.
  const refreshCoverage = oncePerRender(async () => {
    let services: ServiceCoverage[];
    try {
      services = await opts.coverage.services();
    } catch (err) {
      // Stale beats partial: keep the last values rather than emptying /metrics.
      opts.logger?.warn({ err }, 'coverage provider failed; /metrics keeps the previous coverage values');
      return;
    }
    setCoverage(services);
  });

  const coverageRatio = new Gauge({
    name: 'covgate_coverage_ratio',
    help: 'Merged coverage of a service as a ratio 0-1 (covered/total; 1 when the total is 0, as Istanbul shows 100%), by kind: lines, statements, functions, branches.',
    labelNames: ['job', 'service', 'kind'] as const,
    registers: [registry],
    collect: refreshCoverage.run,
  });
  const coverageCovered = new Gauge({
    name: 'covgate_coverage_covered',
    help: 'Number of covered items (lines, statements, functions or branches) in the merged coverage of a service.',
    labelNames: ['job', 'service', 'kind'] as const,
    registers: [registry],
    collect: refreshCoverage.run,
  });
  const coverageTotal = new Gauge({
    name: 'covgate_coverage_coverable',
    help: 'Number of coverable items (lines, statements, functions or branches) in the merged coverage of a service.',
    labelNames: ['job', 'service', 'kind'] as const,
    registers: [registry],
    collect: refreshCoverage.run,
  });
  const carriedLines = new Gauge({
    name: 'covgate_coverage_carried_lines',
    help: 'Lines of a service covered only through counts carried from older builds onto its newest build (carry=lines); the rest of covgate_coverage_covered{kind="lines"} was observed on the newest build. Absent when the service has one build.',
    labelNames: ['job', 'service'] as const,
    registers: [registry],
    collect: refreshCoverage.run,
  });
  const fileRatio = opts.perFile
    ? new Gauge({
        name: 'covgate_file_coverage_ratio',
        help: `Coverage ratio 0-1 of one file of a service by kind (metrics.per_file; at most ${opts.perFileLimit} files per service, first by path).`,
        labelNames: ['service', 'file', 'kind'] as const,
        registers: [registry],
        collect: refreshCoverage.run,
      })
    : undefined;

  function setCoverage(services: ServiceCoverage[]): void {
    coverageRatio.reset();
    coverageCovered.reset();
    coverageTotal.reset();
    carriedLines.reset();
    fileRatio?.reset();
    const sorted = [...services].sort((a, b) => cmp(a.job, b.job) || cmp(a.service, b.service));
    const perFileDone = new Set<string>();
    for (const s of sorted) {
      for (const kind of COVERAGE_KINDS) {
        const t = s.summary[kind];
        if (!isAvailable(t)) continue;
        const labels = { job: s.job, service: s.service, kind };
        coverageRatio.set(labels, ratio(t));
        coverageCovered.set(labels, t.covered);
        coverageTotal.set(labels, t.total);
      }
      if (s.carriedLines !== undefined) carriedLines.set({ job: s.job, service: s.service }, s.carriedLines);
      // Per-file series have no job label: a service reported by two jobs keeps
      // the files of the first job (in name order) rather than flapping.
      if (fileRatio && s.files && !perFileDone.has(s.service)) {
        perFileDone.add(s.service);
        for (const file of capTracker.select(s.service, s.files, opts.perFileLimit)) {
          const fs = s.files.get(file)!;
          for (const kind of COVERAGE_KINDS) if (isAvailable(fs[kind])) fileRatio.set({ service: s.service, file, kind }, ratio(fs[kind]));
        }
      }
    }
    if (fileRatio) capTracker.retain(perFileDone);
  }

  // --- targets and scrapes ---------------------------------------------
  const targetUp = new Gauge({
    name: 'covgate_target_up',
    help: 'Whether the last scrape of the target succeeded (1) or failed (0), like Prometheus\' up.',
    labelNames: ['job', 'instance'] as const,
    registers: [registry],
  });
  const scrapeDuration = new Gauge({
    name: 'covgate_scrape_duration_seconds',
    help: 'Duration of the last scrape of the target in seconds, like Prometheus\' scrape_duration_seconds.',
    labelNames: ['job', 'instance'] as const,
    registers: [registry],
  });
  const scrapeBodyBytes = new Gauge({
    name: 'covgate_scrape_body_bytes',
    help: 'Size in bytes of the body of the last scrape of the target, after decompression.',
    labelNames: ['job', 'instance'] as const,
    registers: [registry],
  });
  const scrapesTotal = new Counter({
    name: 'covgate_scrapes_total',
    help: `Scrapes by job and result (${SCRAPE_RESULTS.join(', ')}).`,
    labelNames: ['job', 'result'] as const,
    registers: [registry],
  });
  const restartsTotal = new Counter({
    name: 'covgate_target_restarts_total',
    help: 'Restarts of the target\'s process seen by the gateway (a new instance id, or counters that went down).',
    labelNames: ['job', 'instance'] as const,
    registers: [registry],
  });
  const lastScrapeTimestamp = new Gauge({
    name: 'covgate_target_last_scrape_timestamp_seconds',
    help: 'Unix time in seconds when the last scrape of the target ended.',
    labelNames: ['job', 'instance'] as const,
    registers: [registry],
  });

  // Counters are created at 0 for every known result as soon as their job or
  // upstream is seen: a series that first appears at 1 shows no increase(),
  // so the first failure would not fire an alert.
  const knownJobs = new Set<string>();
  const knownTargets = new Set<string>();
  const initTarget = (job: string, instance: string): void => {
    if (!knownJobs.has(job)) {
      knownJobs.add(job);
      for (const result of SCRAPE_RESULTS) scrapesTotal.inc({ job, result }, 0);
    }
    const key = targetKey(job, instance);
    if (!knownTargets.has(key)) {
      knownTargets.add(key);
      restartsTotal.inc({ job, instance }, 0);
    }
  };

  // --- forwarding to a central covgate (shards) ------------------------------
  let forwardsInit = false;
  const forwardsTotal = new Counter({
    name: 'covgate_forwards_total',
    help: 'Lifetime snapshots a shard sent to the central covgate, by result (success, retry, failed).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'covgate_forward_pending',
    help: 'Changed lifetimes a shard has not yet forwarded to the central covgate (only on shards).',
    registers: [registry],
    collect() {
      const n = opts.forwardPending?.();
      if (n === undefined) return;
      if (!forwardsInit) for (const r of ['success', 'retry', 'failed']) forwardsTotal.inc({ result: r }, 0);
      forwardsInit = true;
      this.set(n);
    },
  });

  // --- pushes --------------------------------------------------------------
  const pushesTotal = new Counter({
    name: 'covgate_pushes_total',
    help: `Push attempts to an upstream coverage center by result (${PUSH_RESULTS.join(', ')}).`,
    labelNames: ['upstream', 'result'] as const,
    registers: [registry],
    collect: () => refreshQueue.run(),
  });
  const knownUpstreams = new Set<string>();
  const initUpstream = (upstream: string): void => {
    if (knownUpstreams.has(upstream)) return;
    knownUpstreams.add(upstream);
    for (const result of PUSH_RESULTS) pushesTotal.inc({ upstream, result }, 0);
  };
  const pushLastSuccess = new Gauge({
    name: 'covgate_push_last_success_timestamp_seconds',
    help: 'Unix time in seconds of the last successful push to the upstream.',
    labelNames: ['upstream'] as const,
    registers: [registry],
  });
  const pushQueueLength = new Gauge({
    name: 'covgate_push_queue_length',
    help: 'Pushes waiting in the outbox for the upstream (pending or retrying).',
    labelNames: ['upstream'] as const,
    registers: [registry],
    collect: () => refreshQueue.run(),
  });
  // Read by the collect() of both push metrics, so that an upstream known only
  // from the outbox already has its zero counters in the same render.
  const refreshQueue = oncePerRender(() => {
    if (!opts.pushQueue) return;
    let queues: Array<{ upstream: string; length: number }>;
    try {
      queues = opts.pushQueue();
    } catch (err) {
      opts.logger?.warn({ err }, 'push queue provider failed; /metrics keeps the previous queue lengths');
      return;
    }
    pushQueueLength.reset();
    for (const q of queues) {
      initUpstream(q.upstream);
      pushQueueLength.set({ upstream: q.upstream }, q.length);
    }
  });

  // --- diff coverage (named diffs in config) ----------------------------
  // Async collect: a named diff may need `git diff` (cached by commit) and a merge.
  const diffRatio = new Gauge({
    name: 'covgate_diff_coverage_ratio',
    help: 'Coverage ratio 0-1 of the coverable lines a named diff (config diffs:) adds or changes, per service (1 when none is coverable).',
    labelNames: ['job', 'service', 'diff'] as const,
    registers: [registry],
    async collect() {
      if (!opts.diffCoverage) return;
      let series: Array<{ job: string; service: string; diff: string; ratio: number }>;
      try {
        series = await opts.diffCoverage();
      } catch (err) {
        opts.logger?.warn({ err }, 'diff coverage provider failed; /metrics keeps the previous diff coverage values');
        return;
      }
      diffRatio.reset();
      for (const x of series) diffRatio.set({ job: x.job, service: x.service, diff: x.diff }, x.ratio);
    },
  });

  // --- sessions ---------------------------------------------------------
  const lastSessionRatio = new Gauge({
    name: 'covgate_last_session_coverage_ratio',
    help: 'Coverage ratio 0-1 of the service in the last finished test session, by kind (1 when the total is 0).',
    labelNames: ['service', 'kind'] as const,
    registers: [registry],
  });
  const lastSessionTimestamp = new Gauge({
    name: 'covgate_last_session_timestamp_seconds',
    help: 'Unix time in seconds when the last test session covering the service finished.',
    labelNames: ['service'] as const,
    registers: [registry],
  });
  const sessionsTotal = new Counter({
    name: 'covgate_sessions_finished_total',
    help: 'Test sessions finished (POST /test-finished) per service they covered.',
    labelNames: ['service'] as const,
    registers: [registry],
  });

  // --- self -------------------------------------------------------------
  const buildInfo = new Gauge({
    name: 'covgate_build_info',
    help: 'A metric with a constant 1 labelled by the covgate version and the Node.js version running it.',
    labelNames: ['version', 'node_version'] as const,
    registers: [registry],
  });
  buildInfo.set({ version: opts.version ?? VERSION, node_version: process.version }, 1);
  const reloadSuccessful = new Gauge({
    name: 'covgate_config_last_reload_successful',
    help: 'Whether the last load or reload of gateway.yaml succeeded (1) or was rejected (0).',
    registers: [registry],
  });
  const reloadSuccessTimestamp = new Gauge({
    name: 'covgate_config_last_reload_success_timestamp_seconds',
    help: 'Unix time in seconds of the last successful load or reload of gateway.yaml.',
    registers: [registry],
  });
  const snapshotsWritten = new Counter({
    name: 'covgate_store_snapshots_written_total',
    help: 'Coverage snapshots written to the store by scrapes and pushes (an unchanged snapshot writes nothing and is not counted).',
    registers: [registry],
  });

  return {
    registry,

    scrapeFinished(e: ScrapeFinishedEvent): void {
      initTarget(e.job, e.instance);
      const labels = { job: e.job, instance: e.instance };
      targetUp.set(labels, e.up ? 1 : 0);
      scrapeDuration.set(labels, e.durationSeconds);
      scrapeBodyBytes.set(labels, e.bodyBytes);
      lastScrapeTimestamp.set(labels, now() / 1000);
      scrapesTotal.inc({ job: e.job, result: e.result });
    },

    targetRestarted(job: string, instance: string): void {
      initTarget(job, instance);
      restartsTotal.inc({ job, instance });
    },

    targetRemoved(job: string, instance: string): void {
      const labels = { job, instance };
      targetUp.remove(labels);
      scrapeDuration.remove(labels);
      scrapeBodyBytes.remove(labels);
      lastScrapeTimestamp.remove(labels);
      restartsTotal.remove(labels);
      knownTargets.delete(targetKey(job, instance));
    },

    forwarded(result: 'success' | 'retry' | 'failed'): void {
      forwardsTotal.inc({ result });
    },

    pushFinished(upstream: string, result: string): void {
      initUpstream(upstream);
      pushesTotal.inc({ upstream, result });
      if (result === 'success') pushLastSuccess.set({ upstream }, now() / 1000);
    },

    sessionFinished(service: string, summary: Summary): void {
      for (const kind of COVERAGE_KINDS) {
        if (isAvailable(summary[kind])) lastSessionRatio.set({ service, kind }, ratio(summary[kind]));
        else lastSessionRatio.remove({ service, kind });
      }
      lastSessionTimestamp.set({ service }, now() / 1000);
      sessionsTotal.inc({ service });
    },

    configReloaded(ok: boolean): void {
      reloadSuccessful.set(ok ? 1 : 0);
      if (ok) reloadSuccessTimestamp.set(now() / 1000);
    },

    snapshotStored(count = 1): void {
      snapshotsWritten.inc(count);
    },

    async render(): Promise<{ contentType: string; body: string }> {
      // Each render reads the providers anew, even twice within one tick.
      refreshCoverage.invalidate();
      refreshQueue.invalidate();
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/**
 * Wraps a collect-time refresh so that it runs once per registry render
 * although several metrics' collect() call it: prom-client calls every
 * collect() synchronously at the start of `registry.metrics()`, so a flag
 * cleared on the next turn of the event loop (or by `invalidate()`) spans
 * exactly one render.
 */
function oncePerRender(fn: () => void | Promise<void>): { run(): Promise<void>; invalidate(): void } {
  let current: Promise<void> | undefined;
  return {
    run(): Promise<void> {
      if (current) return current;
      // Every collect() of this render awaits the same read (prom-client awaits async collects).
      const p = (async () => fn())();
      current = p;
      setImmediate(() => {
        if (current === p) current = undefined;
      });
      return p;
    },
    invalidate(): void {
      current = undefined;
    },
  };
}

function targetKey(job: string, instance: string): string {
  return `${job}\u0000${instance}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
