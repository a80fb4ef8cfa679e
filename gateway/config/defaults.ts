/**
 * Every default of gateway.yaml in one place (durations in ms, sizes in bytes).
 * load.ts applies them; scrapeConfigDefaults gives the job config used for
 * self-registered targets whose job is not in scrape_configs.
 */
import type { GlobalConfig, PushFormat, ScrapeConfig } from './types.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

export const DEFAULTS = {
  scrapeInterval: 15 * S,
  scrapeTimeout: 10 * S,
  scrapeConcurrency: 16,
  listen: '127.0.0.1:9464',
  storagePath: './data',
  retention: 21 * D,
  retentionSchedule: '*/10 * * * *',
  registrationEnabled: true,
  defaultTtl: 60 * S,
  maxTtl: 24 * H,
  coveragePath: '/coverage',
  scheme: 'http',
  format: 'auto',
  /** Scrapes and push ingest: bytes after decompression. Finite by default so one target or pusher cannot exhaust memory. */
  bodySizeLimit: 64 * 1024 * 1024,
  counters: 'cumulative',
  resetAfterScrape: false,
  fileSdRefreshInterval: 5 * M,
  gocSdRefreshInterval: 30 * S,
  relabelAction: 'replace',
  relabelSeparator: ';',
  relabelRegex: '(.*)',
  relabelReplacement: '$1',
  onTestFinished: true,
  upstreamFormat: 'istanbul',
  upstreamTimeout: 30 * S,
  upstreamMaxAttempts: 0,
  upstreamMinBackoff: 1 * S,
  upstreamMaxBackoff: 5 * M,
  perFile: false,
  perFileLimit: 500,
  protectReads: false,
} as const;

/** gzip is on by default for the JSON formats, which compress well and are large. */
export function defaultGzip(format: PushFormat): boolean {
  return format === 'istanbul' || format === 'covgate';
}

/** The global section when gateway.yaml says nothing. */
export function defaultGlobalConfig(): GlobalConfig {
  return {
    scrape_interval: DEFAULTS.scrapeInterval,
    scrape_timeout: DEFAULTS.scrapeTimeout,
    external_labels: {},
    scrape_concurrency: DEFAULTS.scrapeConcurrency,
    body_size_limit: DEFAULTS.bodySizeLimit,
  };
}

/**
 * A fully defaulted ScrapeConfig for `jobName`: interval and timeout from
 * `global` (timeout capped at the interval, as Prometheus does), no static or
 * discovered targets, no relabelling. Returns a fresh object each call.
 */
export function scrapeConfigDefaults(global: GlobalConfig = defaultGlobalConfig(), jobName = ''): ScrapeConfig {
  return {
    job_name: jobName,
    scrape_interval: global.scrape_interval,
    scrape_timeout: Math.min(global.scrape_timeout, global.scrape_interval),
    coverage_path: DEFAULTS.coveragePath,
    scheme: DEFAULTS.scheme,
    format: DEFAULTS.format,
    body_size_limit: global.body_size_limit,
    counters: DEFAULTS.counters,
    reset_after_scrape: DEFAULTS.resetAfterScrape,
    sources: [],
    path_map: {},
    static_configs: [],
    file_sd_configs: [],
    goc_sd_configs: [],
    kubernetes_sd_configs: [],
    relabel_configs: [],
  };
}
