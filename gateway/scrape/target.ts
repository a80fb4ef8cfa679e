import type { AxiosInstance } from 'axios';
import { fileURLToPath } from 'node:url';
import { readConfined } from '../confined-fs.ts';
import { CovgateError, describeError, errors, isCovgateError, type ErrorCode } from '../errors.ts';
import type { Labels, ScrapeConfig } from '../config/types.ts';
import { REGISTRATION_GENERATION_LABEL } from '../discovery/types.ts';
import { decodePayload } from '../formats/index.ts';
import type { Ingester } from '../ingest/index.ts';
import type { Clock } from '../clock/index.ts';
import type { Logger } from '../log/index.ts';
import { fetchCoverage } from './fetch.ts';
import type { Health, ScrapeOutcome, ScrapeResult, TargetInfo } from './types.ts';

export interface ScrapeTargetDeps {
  http: AxiosInstance;
  /** For registered targets: connections re-checked against registration.allowed_targets. */
  registeredHttp?: AxiosInstance;
  /** Where a decoded scrape is handed over: the only writer of the store. */
  ingester: Ingester;
  clock: Clock;
  /** Bounds scrapes in flight across the gateway (p-limit). */
  limit: <T>(fn: () => Promise<T>) => Promise<T>;
  logger: Logger;
  userAgent: string;
}

/** How each failure counts in covgate_scrapes_total{result}; other codes and foreign errors count as 'error'. */
const OUTCOME_OF_CODE: Partial<Record<ErrorCode, ScrapeOutcome>> = {
  COVGATE_SCRAPE_TIMEOUT: 'timeout',
  COVGATE_BODY_TOO_LARGE: 'too_large',
  COVGATE_BAD_COVERAGE: 'bad_data',
  COVGATE_BAD_DATA: 'bad_data',
};

const ACCEPT =
  'application/vnd.covgate.v1+json, application/json;q=0.9, text/plain;q=0.8, application/xml;q=0.7, */*;q=0.1';

function outcomeOf(err: unknown): ScrapeOutcome {
  return (isCovgateError(err) && OUTCOME_OF_CODE[err.code]) || 'error';
}

/** What may be said about a body in lastError: never its bytes. */
function describeBody(res: { headers: Record<string, string | undefined>; body: Buffer }): string {
  const type = (res.headers['content-type'] ?? 'no content-type').replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
  return `${type}, ${res.body.length} bytes`;
}

/**
 * A decoder's error for lastError (shown by /api/v1/targets to anyone): its
 * structural message with every quoted excerpt that comes from the body
 * replaced (JSON.parse and the text decoders quote the offending input), so a
 * secret a target happens to answer with is never echoed. The code is kept.
 */
export function scrubbed(err: unknown, res: { headers: Record<string, string | undefined>; body: Buffer }): unknown {
  if (!(err instanceof Error)) return err;
  const text = res.body.toString('latin1');
  const utf8 = res.body.toString('utf8');
  const fromBody = (q: string): boolean => {
    let inner = q.slice(1, -1);
    if (q.startsWith('"')) {
      try {
        inner = JSON.parse(q) as string;
      } catch {
        /* keep the raw inner text */
      }
    }
    return inner.length === 0 || utf8.includes(inner) || text.includes(inner);
  };
  let msg = err.message.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, (q) => (fromBody(q) ? '<body text>' : q));
  // A final guard for unquoted echoes: no run of 8+ body characters survives.
  msg = msg.replace(/[^\s<>]{8,}/g, (w) => (utf8.includes(w) ? '<body text>' : w));
  msg = `${msg.slice(0, 500)} (${describeBody(res)})`;
  if (isCovgateError(err)) return new CovgateError(err.code, msg, { cause: err, details: err.details });
  return errors.badCoverage(msg, { cause: err });
}

/** goc agents' endpoints (qiniu/goc pkg/cover agent): the profile we scrape and the counter reset. */
const GOC_PROFILE_PATH = '/v1/cover/profile';
const GOC_CLEAR_PATH = '/v1/cover/clear';

const isLoopbackHost = (host: string) => /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)$/i.test(host);

/**
 * One scrape target: its identity, its health, and `scrape()`. A failed
 * scrape changes health and lastError only; the last good snapshot stays in
 * the store.
 *
 * `scrape('fresh')` (every explicit scrape: API, sessions, deregistration)
 * resolves with a scrape that *began after the call*: when one is in flight it
 * waits for it and then runs one more; explicit calls arriving while that
 * follow-up is queued share it. `scrape('join')` (the interval loop) may share
 * the scrape in flight.
 */
export class ScrapeTarget {
  health: Health = 'unknown';
  lastError = '';
  lastScrape = 0;
  lastScrapeDuration = 0;
  lastBodyBytes = 0;
  processInstance: string | undefined;
  private etag: string | undefined;
  private structureId: string | undefined;
  private inflight: Promise<ScrapeResult> | undefined;
  /** The follow-up scrape queued behind `inflight` for explicit callers (not begun yet). */
  private queued: Promise<ScrapeResult> | undefined;

  constructor(
    readonly id: string,
    readonly labels: Labels,
    /** Updated by the pool when discovery sends new meta labels for the same target (e.g. a goc re-registration). */
    public discoveredLabels: Labels,
    readonly url: string,
    public config: ScrapeConfig,
    readonly source: 'discovered' | 'registered',
    private readonly deps: ScrapeTargetDeps,
    readonly intervalMs: number = config.scrape_interval,
    readonly timeoutMs: number = config.scrape_timeout,
  ) {}

  get job(): string {
    return this.config.job_name;
  }

  /** Registered targets connect only to allowed addresses (checked at each connection, DNS rebinding included). */
  private get http(): AxiosInstance {
    return this.source === 'registered' && this.deps.registeredHttp ? this.deps.registeredHttp : this.deps.http;
  }

  get instance(): string {
    return this.labels.instance ?? '';
  }

  info(): TargetInfo {
    return {
      id: this.id,
      job: this.job,
      labels: this.labels,
      discoveredLabels: this.discoveredLabels,
      scrapePool: this.job,
      scrapeUrl: this.url,
      health: this.health,
      lastError: this.lastError,
      lastScrape: this.lastScrape ? new Date(this.lastScrape).toISOString() : '0001-01-01T00:00:00Z',
      lastScrapeDuration: this.lastScrapeDuration,
      processInstance: this.processInstance,
      scrapeIntervalMs: this.intervalMs,
      scrapeTimeoutMs: this.timeoutMs,
      source: this.source,
    };
  }

  /**
   * Scrapes (bounded by the gateway-wide limit). Never rejects. 'fresh' waits
   * for a scrape that begins after this call; 'join' may share the one in flight.
   */
  scrape(mode: 'fresh' | 'join' = 'fresh'): Promise<ScrapeResult> {
    if (!this.inflight) return this.begin();
    if (mode === 'join') return this.inflight;
    if (!this.queued) {
      const queued = this.inflight.then(() => {
        this.queued = undefined;
        // A scrape the interval loop began meanwhile also began after every queued call.
        return this.inflight ?? this.begin();
      });
      this.queued = queued;
    }
    return this.queued;
  }

  private begin(): Promise<ScrapeResult> {
    const p: Promise<ScrapeResult> = this.deps.limit(() => this.run()).finally(() => {
      if (this.inflight === p) this.inflight = undefined;
    });
    this.inflight = p;
    return p;
  }

  private async loadSource(url: string): Promise<string | undefined> {
    try {
      const target = new URL(this.url);
      const u = new URL(url, this.url);
      if (u.protocol === 'file:') {
        // Only a process on this machine can name files here that are its own sources,
        // and only under the job's `sources:` roots: never the gateway's own files.
        if (!isLoopbackHost(target.hostname)) return undefined;
        return await readConfined(fileURLToPath(u), this.config.sources);
      }
      if (u.origin !== target.origin) return undefined; // never fetch another host on a target's say-so
      const res = await this.http.get<string>(u.toString(), {
        responseType: 'text',
        timeout: this.timeoutMs,
        maxContentLength: this.config.body_size_limit > 0 ? this.config.body_size_limit : -1,
        validateStatus: (s) => s === 200,
        maxRedirects: 0, // same origin only, also after a redirect
        proxy: false,
      });
      return res.data;
    } catch {
      return undefined;
    }
  }

  private async fetchAndStore(useKnownStructure: boolean): Promise<{ outcome: ScrapeOutcome; bytes: number; restarted?: boolean; newLifetime?: boolean; stored?: boolean }> {
    const { config, deps } = this;
    const headers: Record<string, string> = {
      Accept: ACCEPT,
      'Accept-Encoding': 'gzip',
      'User-Agent': deps.userAgent,
      'X-Covgate-Scrape-Timeout-Seconds': String(this.timeoutMs / 1000),
    };
    if (this.etag) headers['If-None-Match'] = this.etag;
    // After a gateway restart this process has seen no reply yet: the store remembers the target's id.
    const known = useKnownStructure ? deps.ingester.knownStructure(this.id, this.structureId) : undefined;
    if (known) headers['X-Covgate-Known-Structure'] = known;

    const res = await fetchCoverage(this.http, this.url, { timeoutMs: this.timeoutMs, bodySizeLimit: config.body_size_limit, headers });
    if (res.status === 304) return { outcome: 'not_modified', bytes: 0 };
    if (res.status >= 300 && res.status < 400) {
      throw errors.scrapeFailed(`redirect not followed (HTTP ${res.status}): configure the final url`);
    }
    if (res.status !== 200) {
      throw errors.scrapeFailed(`server returned HTTP status ${res.status} (${describeBody(res)})`);
    }
    let decoded;
    try {
      decoded = await decodePayload(res.body, {
        declaredFormat: config.format,
        contentType: res.headers['content-type'],
        instanceHeader: res.headers['x-coverage-instance'],
        counters: config.counters,
        loadSource: (u) => this.loadSource(u),
        previousCounters: deps.ingester.previousCounters(this.id),
      });
    } catch (err) {
      throw scrubbed(err, res);
    }
    // A goc agent sends no instance; its registration generation tells its process runs apart.
    const generation = this.discoveredLabels[REGISTRATION_GENERATION_LABEL];
    if (!decoded.instance && generation) decoded.instance = `registration-generation-${generation}`;
    let appended;
    try {
      appended = await deps.ingester.ingest({
        decoded,
        source: this.source === 'registered' ? 'registration' : 'scrape',
        target: { id: this.id, job: this.job, labels: this.labels, url: this.url },
      });
    } catch (err) {
      // The gateway lost (or never had) the structure: ask again for the full data.
      if (isCovgateError(err) && err.code === 'COVGATE_STRUCTURE_UNKNOWN' && useKnownStructure) {
        this.structureId = undefined;
        this.etag = undefined;
        return this.fetchAndStore(false);
      }
      // What the payload said is scrubbed; a store that refuses the write is reported as it is.
      throw isCovgateError(err) && err.errorType === 'bad_data' ? scrubbed(err, res) : err;
    }
    this.etag = res.headers.etag;
    if (decoded.structureId) this.structureId = decoded.structureId;
    if (decoded.instance) this.processInstance = decoded.instance;
    if (config.reset_after_scrape) await this.reset().catch(() => undefined);
    return { outcome: 'success', bytes: res.body.length, restarted: appended.restarted, newLifetime: appended.newLifetime, stored: appended.changed };
  }

  /** Whether the target is a goc agent (gocover at goc's /v1/cover/profile). */
  get isGoc(): boolean {
    return new URL(this.url).pathname.replace(/\/$/, '') === GOC_PROFILE_PATH && (this.config.format === 'gocover' || this.config.format === 'auto');
  }

  /**
   * Resets the target's counters: POST <coverage_path>/reset (optional endpoint
   * of the exporter protocol), or goc's POST /v1/cover/clear for goc agents.
   */
  async reset(): Promise<void> {
    const u = new URL(this.url);
    u.search = '';
    u.pathname = this.isGoc ? GOC_CLEAR_PATH : `${u.pathname.replace(/\/$/, '')}/reset`;
    await this.http.post(u.toString(), undefined, {
      timeout: this.timeoutMs,
      validateStatus: (s) => s >= 200 && s < 300,
      proxy: false,
    });
    this.etag = undefined;
  }

  private async run(): Promise<ScrapeResult> {
    const start = this.deps.clock.now();
    const t0 = performance.now();
    let outcome: ScrapeOutcome;
    let bytes = 0;
    let error: string | undefined;
    let restarted: boolean | undefined;
    let newLifetime: boolean | undefined;
    let stored: boolean | undefined;
    try {
      const r = await this.fetchAndStore(true);
      outcome = r.outcome;
      bytes = r.bytes;
      restarted = r.restarted;
      newLifetime = r.newLifetime;
      stored = r.stored;
      this.health = 'up';
      this.lastError = '';
    } catch (err) {
      outcome = outcomeOf(err);
      error = describeError(err);
      this.health = 'down';
      this.lastError = error;
      this.deps.logger.warn({ job: this.job, instance: this.instance, url: this.url, err: error }, 'scrape failed');
    }
    const durationSeconds = (performance.now() - t0) / 1000;
    this.lastScrape = start;
    this.lastScrapeDuration = durationSeconds;
    this.lastBodyBytes = bytes;
    return {
      targetId: this.id,
      job: this.job,
      instance: this.instance,
      scrapeUrl: this.url,
      result: outcome,
      health: this.health,
      error,
      durationSeconds,
      bodyBytes: bytes,
      restarted,
      newLifetime,
      stored,
    };
  }
}
