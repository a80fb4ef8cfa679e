import type { PushFormat, UpstreamConfig, UpstreamKind } from '../config/types.ts';
import type { CoverageMapData, Summary } from '../model/index.ts';
import type { Clock, Timers } from '../clock/index.ts';
import type { KeyValue } from '../store/types.ts';
import type { AxiosInstance } from 'axios';
import type { Logger } from '../log/index.ts';

export type PushState = 'pending' | 'delivered' | 'failed';

/** What a finished test session hands to the outbox. */
export interface PushJob {
  sessionId: string;
  labels: Record<string, string>;
  build?: Record<string, string>;
  /** The `service` of every target the session measured (sonarqube writes one report per service). */
  services?: string[];
  /** The last session of its build (`/test-finished` with `done: true`): close the center's parallel build after it (coveralls). */
  done?: boolean;
  summary: Summary;
  coverage: CoverageMapData;
}

/**
 * The request of one record, fixed at enqueue time so that every retry (also
 * after a restart) sends the same bytes. The upstream's configured `headers`
 * and the `Idempotency-Key` are added at send time instead: secrets in
 * `headers` are never written to disk, and a rotated token takes effect on the
 * next attempt.
 */
export interface PushRequest {
  contentType: string;
  /** Set when the body is gzipped. */
  contentEncoding?: 'gzip';
  /** The body: text as is, or gzipped bytes in base64. */
  body: string;
  bodyEncoding: 'utf8' | 'base64';
  /** Query parameters appended to the upstream's url (the `covgate` format's labels). */
  query: Array<[string, string]>;
  /** `X-Covgate-*` headers. */
  headers: Record<string, string>;
  /** What a center's protocol needs besides the body (commit, branch, flags, …), fixed at enqueue like the body. */
  meta?: Record<string, unknown>;
}

/** One push of one session to one upstream, as the outbox keeps it (key = id). */
export interface PushRecord {
  /** Derived from session id + upstream name; sent as `Idempotency-Key`. */
  id: string;
  session: string;
  upstream: string;
  /** The upstream's kind when enqueued (records before kinds existed: http). */
  kind?: UpstreamKind;
  format: PushFormat;
  /** Enqueue order; records of one upstream are delivered in this order. */
  seq: number;
  status: PushState;
  attempts: number;
  /** ms since the epoch. */
  createdAt: number;
  /** When the next attempt is due (pending records only). */
  nextAttemptAt?: number;
  lastAttemptAt?: number;
  deliveredAt?: number;
  /** Why the last attempt failed (cleared on delivery). */
  lastError?: string;
  /** HTTP status of the last answer, when there was one. */
  lastStatus?: number;
  /** What the center answered on delivery (e.g. Codecov's report url), shown by GET /api/v1/pushes. */
  answer?: Record<string, string>;
  /**
   * Steps of a multi-step protocol already done (e.g. Codecov's storage url
   * once the upload exists), written before the next step, so a retry or a
   * restart continues instead of creating a second upload.
   */
  progress?: Record<string, string>;
  /** Present while pending (and kept for failed records); dropped once delivered. */
  request?: PushRequest;
}

/** Aggregate push state of one session, for `/test-finished` and `/api/v1/sessions`. */
export interface SessionPushStatus {
  /**
   * The record id when the session was pushed to one upstream; with several,
   * their ids joined by ","; "" when there is none. Each id is findable in
   * `GET /api/v1/pushes`.
   */
  id: string;
  /** pending while any record is; failed when none is pending and one failed; delivered when all were. */
  status: PushState | 'none';
  records: Array<{ id: string; upstream: string; status: PushState }>;
}

export type PushAttemptResult = 'success' | 'retry' | 'failed';

export interface PushObserver {
  /** One attempt ended (GatewayMetrics.pushFinished has this shape). */
  pushFinished(upstream: string, result: PushAttemptResult): void;
}

/** Timer functions; injectable so tests fire wake-ups themselves (the clock's Timers). */
export type PushTimers = Timers;

/** What a center's delivery needs from the rest of the gateway besides HTTP (see ./centers/). */
export interface CenterPorts {
  /**
   * sonarqube: the merged coverage of every finished session labelled
   * `release` on the targets of `service`; undefined while the session
   * `session` is not stored as finished yet.
   */
  releaseCoverage?(service: string, release: string, session: string): CoverageMapData | undefined;
  /**
   * coveralls: the text of a covered source file (read like the HTML
   * reports do: carried in the data, or under the jobs' `sources:` roots);
   * undefined when it is not available.
   */
  sourceOf?(path: string, data: unknown): string | undefined;
}

export interface PushOutboxOptions {
  kv: KeyValue<PushRecord>;
  http: AxiosInstance;
  /** Ports the centers need (sonarqube); without them those kinds fail their pushes. */
  ports?: CenterPorts;
  clock: Clock;
  /** Defaults to real timers, unref'd. */
  timers?: PushTimers;
  /** The current upstreams (read on every attempt, so a reload applies at once). */
  upstreams: () => UpstreamConfig[];
  observer?: PushObserver;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Jitter source in [0, 1); defaults to Math.random. */
  random?: () => number;
}

export interface PushFilter {
  sessionId?: string;
  status?: string;
}

/**
 * The durable outbox of upstream pushes. Contract:
 * - `enqueue` writes one record per configured upstream in ONE kv batch and
 *   resolves only after it is on disk: an acknowledged push survives kill -9.
 *   It is idempotent per session and upstream (the id is derived from both):
 *   a second call adds nothing and returns the existing records.
 * - Delivery runs one worker per upstream, strictly in enqueue order; a slow
 *   or dead upstream never delays another one nor the event loop. Every
 *   attempt is written to disk before the next is scheduled; a record that
 *   was in flight when the process died is sent again after `start()` with the
 *   same `Idempotency-Key`.
 * - 2xx delivers; 408, 429, 5xx, network errors and timeouts retry with capped
 *   exponential backoff and full jitter (or `Retry-After`, capped at
 *   `max_backoff`); any other status fails the record for good; `max_attempts`
 *   (0 = forever) bounds the retries.
 * - Records are never deleted; those of an upstream removed from the config
 *   stay pending with lastError "upstream no longer configured".
 * - `stop()` aborts in-flight requests (not counted as attempts), waits for
 *   them to settle and resolves every `waitFor`; safe before `start()` and twice.
 */
export interface PushOutbox {
  start(): Promise<void>;
  stop(): Promise<void>;
  enqueue(job: PushJob): Promise<PushRecord[]>;
  /** Re-reads `upstreams()`: call after a config reload so new upstreams and orphans are seen at once. */
  reload(): void;
  /** Records (without request bodies), oldest first. */
  list(filter?: PushFilter): PushRecord[];
  /** Pending records per upstream (configured ones even at 0), for `covgate_push_queue_length`. */
  queueLengths(): Array<{ upstream: string; length: number }>;
  statusOf(sessionId: string): SessionPushStatus;
  /** Resolves when no record of the session is pending any more, or after `timeoutMs` with the status then. */
  waitFor(sessionId: string, timeoutMs?: number): Promise<SessionPushStatus>;
  /** Runs every due attempt now and resolves when no attempt is in flight and none is due. For tests. */
  deliverNow(): Promise<void>;
}
