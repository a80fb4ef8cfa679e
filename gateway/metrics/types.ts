import type { Registry } from 'prom-client';
import type { Summary } from '../model/index.ts';

/** One service's merged coverage as the gateway currently holds it. */
export interface ServiceCoverage {
  job: string;
  service: string;
  summary: Summary;
  /** Per-file summaries keyed by path; only read when per-file metrics are on. */
  files?: Map<string, Summary>;
  /** Lines covered only through counts carried from older builds (the service spans builds and carry applied). */
  carriedLines?: number;
}

/**
 * Where the coverage gauges come from. Called at collect time (every
 * /metrics render), so it must be cheap: the gateway answers from its cache,
 * it never merges or reads the store here. Returns the *full* current set: a
 * service it no longer returns disappears from /metrics.
 */
export interface CoverageProvider {
  /** May be async: services spanning builds are carried onto their newest build (a `git diff`, cached by commit). */
  services(): ServiceCoverage[] | Promise<ServiceCoverage[]>;
}

/** The one method of a logger the metrics need (pino's shape). */
export interface MetricsLogger {
  warn(obj: object, msg: string): void;
}

/** Known results of a scrape, for `covgate_scrapes_total{result}`; pre-initialised to 0 per job. */
export const SCRAPE_RESULTS = ['success', 'error', 'timeout', 'too_large', 'bad_data', 'not_modified'] as const;
export type ScrapeResult = (typeof SCRAPE_RESULTS)[number];

/** Known results of a push attempt, for `covgate_pushes_total{result}`; pre-initialised to 0 per upstream. */
export const PUSH_RESULTS = ['success', 'retry', 'failed'] as const;
export type PushResult = (typeof PUSH_RESULTS)[number];

export interface ScrapeFinishedEvent {
  job: string;
  instance: string;
  up: boolean;
  durationSeconds: number;
  bodyBytes: number;
  /** success | error | timeout | too_large | bad_data | not_modified */
  result: ScrapeResult | (string & {});
}

export interface MetricsOptions {
  /** Emit `covgate_file_coverage_ratio` (config `metrics.per_file`). */
  perFile: boolean;
  /** At most this many files per service get per-file series; 0 emits none. */
  perFileLimit: number;
  logger?: MetricsLogger;
  coverage: CoverageProvider;
  /** `covgate_diff_coverage_ratio` series of the named diffs, read at collect time. */
  diffCoverage?: () => Promise<Array<{ job: string; service: string; diff: string; ratio: number }>>;
  /** Current outbox length per upstream, read at collect time. */
  pushQueue?: () => Array<{ upstream: string; length: number }>;
  /** Lifetimes a shard has not yet forwarded to the central covgate (`forward:`), read at collect time; undefined = not a shard. */
  forwardPending?: () => number | undefined;
  /** Value of `covgate_build_info{version}`; defaults to package.json's version. */
  version?: string;
  /** Process metrics (`process_*`, `nodejs_*`) via prom-client's collectDefaultMetrics; default true. */
  defaultMetrics?: boolean;
  /** Wall clock in ms for the `*_timestamp_seconds` gauges; injected by tests. */
  now?: () => number;
}

export interface GatewayMetrics {
  /** This gateway's own registry (never prom-client's global one). */
  registry: Registry;
  /** Records the outcome of one scrape of a target. */
  scrapeFinished(e: ScrapeFinishedEvent): void;
  /** A target's process restarted (new `instance` id or counters went down). */
  targetRestarted(job: string, instance: string): void;
  /** The target left the target set: its per-target series are dropped. */
  targetRemoved(job: string, instance: string): void;
  /** A shard forwarded (or failed to forward) one lifetime snapshot to the central covgate. */
  forwarded(result: 'success' | 'retry' | 'failed'): void;
  /** One push attempt to an upstream ended: success | retry | failed. */
  pushFinished(upstream: string, result: PushResult | (string & {})): void;
  /** A test session finished; `summary` is that service's coverage in the session. */
  sessionFinished(service: string, summary: Summary): void;
  /** A (re)load of gateway.yaml ended; `ok` false when it was rejected. */
  configReloaded(ok: boolean): void;
  /** Snapshots were written to the store (default 1). */
  snapshotStored(count?: number): void;
  /** The exposition text of every metric, with its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}
