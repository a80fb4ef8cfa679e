import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { AxiosInstance } from 'axios';
import pLimit from 'p-limit';
import type { ForwardConfig } from '../config/types.ts';
import { describeError, errors } from '../errors.ts';
import type { Logger } from '../log/index.ts';
import { joinFile, type Snapshot } from '../model/index.ts';
import { backoffDelay, parseRetryAfter } from '../push/backoff.ts';
import type { CoverageStore, KeyValue, Lifetime, StoredTarget } from '../store/index.ts';
import { FORWARD_PATH, FORWARDED_TARGET_HEADER, encodeForwardedTarget } from './protocol.ts';

/** A durable "this lifetime changed and the central has not acknowledged it yet". */
export interface ForwardMark {
  seq: number;
}

export type ForwardResult = 'success' | 'retry' | 'failed';

export interface ForwarderDeps {
  /** Sublevel holding the marks (survives restarts). */
  kv: KeyValue<ForwardMark>;
  store: Pick<CoverageStore, 'targets' | 'target' | 'lifetimes' | 'lifetimeSnapshots' | 'structure'>;
  http: AxiosInstance;
  /** Read per delivery, so a reload applies. Undefined: forwarding is off. */
  config: () => ForwardConfig | undefined;
  logger: Logger;
  /** Waits before a retry; tests inject one that resolves at once or when they say. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  observer?: { forwarded(result: ForwardResult): void };
}

export interface ForwarderStats {
  pending: number;
  /** Sends (since start) that carried file structures, and counters-only ones. */
  sentFull: number;
  sentCountersOnly: number;
  attempts: number;
  lastError?: string;
}

/**
 * Forwards what a shard stores to the central covgate (`forward:` in
 * gateway.yaml), remote_write-like. Contract:
 *
 * - The unit is a target's process lifetime. `mark` records durably that a
 *   lifetime changed; the worker sends its newest *cumulative* snapshot (delta
 *   exporters are already summed by the store), so a lifetime scraped many
 *   times while the central was away costs one forward, and an identical
 *   re-send (a lost answer, a retry, a restart) replaces, never adds.
 * - Each shard lifetime is its own lifetime on the central: the instance sent
 *   is the exporter's instance for its first segment and the shard's lifetime
 *   id otherwise, so lifetimes never merge or split differently on the central.
 * - Structure once: a lifetime is sent with its file structures the first time
 *   (per target and set of structures, per process); later forwards carry
 *   counters only under the envelope's `structure` id. A central that answers
 *   409 (it lost the structure) gets the full data again at once.
 * - A mark is removed only after the central acknowledged (2xx) the snapshot
 *   that was newest when the send began; a later change keeps it. Retryable
 *   failures (network, 408/429/5xx) back off exponentially (with jitter and
 *   Retry-After) and retry forever; permanent ones (other 4xx) drop the mark
 *   with an error in the log and `covgate_forwards_total{result="failed"}`.
 * - `stop()` is safe before `start()` and twice.
 */
export function createForwarder(deps: ForwarderDeps) {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()));
  const random = deps.random ?? Math.random;
  /** key (target \0 lifetime) → newest seq; mirrors the kv. */
  const marks = new Map<string, number>();
  /** target \0 envelope id the central acknowledged with structures, in this process. */
  const structureSent = new Set<string>();
  let seq = 0;
  let attempts = 0;
  let sentFull = 0;
  let sentCountersOnly = 0;
  let lastError: string | undefined;
  let running = false;
  let stopped = false;
  let wake: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  const inFlight = new Map<string, Promise<void>>();

  const keyOf = (tid: string, lid: string) => `${tid}\0${lid}`;

  function instanceOf(lt: Lifetime): string {
    return lt.instance !== undefined && lt.id === `i:${lt.instance}` ? lt.instance : lt.id;
  }

  function envelopeId(snapshot: Snapshot): string {
    const h = createHash('sha256');
    for (const path of Object.keys(snapshot).sort()) h.update(`${path}\0${snapshot[path]!.structure}\0`);
    return `fwd-${h.digest('base64url').slice(0, 32)}`;
  }

  function body(lt: Lifetime, snapshot: Snapshot, id: string, full: boolean): Buffer {
    const env: Record<string, unknown> = {
      format: 'istanbul',
      instance: instanceOf(lt),
      ...(lt.startTime !== undefined ? { startTime: lt.startTime } : {}),
      ...(lt.build !== undefined ? { build: lt.build } : {}),
      counters: 'cumulative',
      structure: id,
    };
    if (full) {
      const data: Record<string, unknown> = {};
      for (const [path, f] of Object.entries(snapshot)) {
        const structure = deps.store.structure(f.structure);
        if (!structure) throw new Error(`structure ${f.structure} of ${path} is not in the store`);
        data[path] = joinFile(structure, f.counters);
      }
      env.data = data;
    } else {
      env.hits = Object.fromEntries(Object.entries(snapshot).map(([p, f]) => [p, f.counters]));
    }
    return Buffer.from(JSON.stringify(env));
  }

  /** One POST; resolves with the status, throws (classified) on a network error or timeout. */
  async function post(cfg: ForwardConfig, target: StoredTarget, payload: Buffer): Promise<{ status: number; retryAfter?: string; text: string }> {
    const gz = payload.length > 1024;
    const res = await deps.http.post(`${cfg.url}${FORWARD_PATH}`, gz ? gzipSync(payload) : payload, {
      headers: {
        ...cfg.headers,
        'Content-Type': 'application/vnd.covgate.v1+json',
        ...(gz ? { 'Content-Encoding': 'gzip' } : {}),
        [FORWARDED_TARGET_HEADER]: encodeForwardedTarget({ id: target.id, job: target.job, labels: target.labels, ...(target.url !== undefined ? { url: target.url } : {}) }),
      },
      timeout: cfg.timeout,
      maxRedirects: 0,
      validateStatus: () => true,
      responseType: 'text',
      transformResponse: (x: unknown) => x,
      proxy: false,
    });
    return { status: res.status, retryAfter: res.headers['retry-after'] as string | undefined, text: String(res.data ?? '').slice(0, 300) };
  }

  class ForwardError extends Error {
    constructor(message: string, readonly retryable: boolean, readonly retryAfterMs?: number) {
      super(message);
    }
  }

  async function deliver(key: string): Promise<void> {
    const cfg = deps.config();
    if (!cfg) return;
    const startSeq = marks.get(key);
    if (startSeq === undefined) return;
    const [tid, lid] = key.split('\0') as [string, string];
    const target = deps.store.target(tid);
    const lt = deps.store.lifetimes(tid).find((l) => l.id === lid);
    const snapshot = deps.store.lifetimeSnapshots([tid]).get(tid)?.get(lid);
    if (target && lt && snapshot && Object.keys(snapshot).length > 0) {
      const id = envelopeId(snapshot);
      const sentKey = `${tid}\0${id}`;
      let full = !structureSent.has(sentKey);
      let r: Awaited<ReturnType<typeof post>>;
      try {
        r = await post(cfg, target, body(lt, snapshot, id, full));
        if (r.status === 409 && !full) {
          // The central lost the structure (a new store, a wiped disk): send it again.
          full = true;
          r = await post(cfg, target, body(lt, snapshot, id, true));
        }
      } catch (err) {
        throw new ForwardError(`forward to ${cfg.url}: ${describeError(err)}`, true);
      }
      if (r.status < 200 || r.status >= 300) {
        const retryable = r.status === 408 || r.status === 429 || r.status >= 500 || r.status === 409;
        throw new ForwardError(`forward to ${cfg.url}: HTTP ${r.status} ${r.text.replace(/\s+/g, ' ')}`, retryable, parseRetryAfter(r.retryAfter, Date.now()));
      }
      if (full) {
        structureSent.add(sentKey);
        sentFull++;
      } else sentCountersOnly++;
    }
    // else: the lifetime is gone (retention folded it): nothing left to send.
    if (marks.get(key) === startSeq) {
      marks.delete(key);
      await deps.kv.del(key);
    }
  }

  /** Delivers `key` unless a delivery of it is already running (then waits for that one). */
  function deliverOnce(key: string): Promise<void> {
    const cur = inFlight.get(key);
    if (cur) return cur;
    const p = deliver(key).finally(() => inFlight.delete(key));
    inFlight.set(key, p);
    return p;
  }

  /** One pass over the marks present now; resolves with the failures. */
  async function pass(): Promise<ForwardError[]> {
    const cfg = deps.config();
    if (!cfg) return [];
    const limit = pLimit(cfg.concurrency);
    const failures: ForwardError[] = [];
    await Promise.all(
      [...marks.keys()].map((key) =>
        limit(async () => {
          try {
            await deliverOnce(key);
            deps.observer?.forwarded('success');
          } catch (err) {
            const e = err instanceof ForwardError ? err : new ForwardError(describeError(err), true);
            if (!e.retryable) {
              deps.logger.error({ err: e.message, target: key.split('\0')[0] }, 'forward refused by the central covgate; dropped');
              deps.observer?.forwarded('failed');
              if (marks.has(key)) {
                marks.delete(key);
                await deps.kv.del(key).catch(() => undefined);
              }
            } else {
              deps.observer?.forwarded('retry');
              failures.push(e);
            }
          }
        }),
      ),
    );
    return failures;
  }

  async function run(): Promise<void> {
    while (!stopped) {
      if (marks.size === 0 || !deps.config()) {
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
        continue;
      }
      const failures = await pass();
      if (failures.length === 0) {
        attempts = 0;
        lastError = undefined;
        continue;
      }
      attempts++;
      lastError = failures[0]!.message;
      const cfg = deps.config();
      const delay = Math.max(failures[0]!.retryAfterMs ?? 0, backoffDelay(attempts, cfg?.min_backoff ?? 1000, cfg?.max_backoff ?? 30_000, random));
      deps.logger.warn({ err: lastError, attempts, retryInMs: delay, pending: marks.size }, 'forwarding to the central covgate failed; retrying');
      await sleep(delay);
    }
  }

  return {
    /** Loads the marks and marks every target's newest lifetime (a crash may have come between a store append and its mark). */
    async open(): Promise<void> {
      for await (const [key, v] of deps.kv.entries()) {
        marks.set(key, v.seq);
        seq = Math.max(seq, v.seq);
      }
      if (!deps.config()) return;
      for (const t of deps.store.targets()) {
        const newest = deps.store.lifetimes(t.id).sort((a, b) => b.lastSeen - a.lastSeen)[0];
        if (newest && !marks.has(keyOf(t.id, newest.id))) await this.mark(t.id, newest.id);
      }
    },

    /** Records durably that a lifetime changed; resolves once the mark is on disk. */
    async mark(targetId: string, lifetimeId: string): Promise<void> {
      if (!deps.config()) return;
      const key = keyOf(targetId, lifetimeId);
      const s = ++seq;
      marks.set(key, s);
      await deps.kv.put(key, { seq: s });
      wake?.();
    },

    start(): void {
      if (running || stopped) return;
      running = true;
      loop = run().catch((err) => deps.logger.error({ err: describeError(err) }, 'forwarder stopped'));
    },

    /**
     * Delivers every pending mark now, ignoring the back-off; rejects with a
     * 503 naming the first failure when something could not be delivered.
     * Marks added while it runs are delivered too.
     */
    async flush(): Promise<void> {
      if (!deps.config()) throw errors.badData('forward is not configured on this gateway (forward: {url} in gateway.yaml)');
      for (let i = 0; i < 100 && marks.size > 0; i++) {
        const failures = await pass();
        if (failures.length > 0) throw errors.unavailable(`${failures.length} forward(s) failed: ${failures[0]!.message}`);
      }
    },

    stats(): ForwarderStats {
      return { pending: marks.size, sentFull, sentCountersOnly, attempts, ...(lastError !== undefined ? { lastError } : {}) };
    },

    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      wake?.();
      // A loop sleeping in its back-off is left to its (unref'd) timer; in-flight sends finish.
      await Promise.allSettled([...inFlight.values()]);
      void loop;
    },
  };
}

export type Forwarder = ReturnType<typeof createForwarder>;
