import type { AxiosInstance } from 'axios';
import type { UpstreamConfig } from '../../config/types.ts';
import type { CenterPorts, PushJob, PushRequest } from '../types.ts';

/** What one delivery attempt gets. */
export interface DeliverContext {
  http: AxiosInstance;
  upstream: UpstreamConfig;
  /** The record id (Idempotency-Key, Codecov's job name…). */
  id: string;
  request: PushRequest;
  /** Steps done by earlier attempts (see PushRecord.progress). */
  progress: Record<string, string>;
  /** Writes the steps done so far to the outbox before the next step is taken. */
  checkpoint(progress: Record<string, string>): Promise<void>;
  signal: AbortSignal;
  now: () => number;
  ports: CenterPorts;
}

export interface Delivered {
  /** HTTP status of the last exchange (0 for a center without HTTP, e.g. a file write). */
  status: number;
  /** What the center said worth showing in GET /api/v1/pushes (report url, job url…). */
  answer?: Record<string, string>;
}

/**
 * One upstream protocol. Contract:
 * - `prepare` runs at enqueue, before anything is written: it fixes the
 *   bytes and metadata of every attempt, and throws errors.badData (a 4xx at
 *   /test-finished) when the session lacks what the center requires, so such
 *   a push is never queued to fail or retry forever.
 * - `deliver` runs one attempt; it throws the classified errors of
 *   `exchange` (retryable or not). It must be safe to run again after any
 *   step (a retry, or a restart after kill -9): each step is idempotent on
 *   the center or recorded with `checkpoint` before the next one.
 */
export interface Center {
  /**
   * One request, or several delivered in order as separate records (e.g.
   * Coveralls' job, then its parallel-build webhook).
   */
  prepare(job: PushJob, upstream: UpstreamConfig, now: number, ports: CenterPorts): PushRequest | PushRequest[];
  deliver(ctx: DeliverContext): Promise<Delivered>;
}
