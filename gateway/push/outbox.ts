import type { UpstreamConfig } from '../config/types.ts';
import { describeError, errors, isCovgateError } from '../errors.ts';
import { backoffDelay } from './backoff.ts';
import { systemTimers } from '../clock/index.ts';
import { pushRecordId } from './record-id.ts';
import { centerOf } from './centers/index.ts';
import type { PushAttemptResult, PushFilter, PushOutbox, PushOutboxOptions, PushRecord, PushRequest, SessionPushStatus } from './types.ts';

/** lastError of the records of an upstream that left the config. */
export const UPSTREAM_GONE = 'upstream no longer configured';

/** setTimeout's limit (~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Shortest wait before a retry, whatever Retry-After or min_backoff say. */
export const RETRY_FLOOR_MS = 1_000;
/** An unchanged failing record is rewritten at most this often. */
export const PERSIST_INTERVAL_MS = 30_000;
const retryFloorMs = (_up: { min_backoff: number }): number => RETRY_FLOOR_MS;

/** One upstream's delivery lane: its pending record ids in order, at most one attempt in flight, at most one wake-up timer. */
interface Worker {
  name: string;
  queue: string[];
  inFlight?: Promise<void>;
  abort?: AbortController;
  timer?: unknown;
  timerAt?: number;
}

interface Waiter {
  sessionId: string;
  resolve: (s: SessionPushStatus) => void;
  timer?: unknown;
}

function withoutRequest(r: PushRecord): PushRecord {
  const { request: _r, ...rest } = r;
  return rest;
}

/** The durable push outbox; the contract is on PushOutbox (./types.ts). */
export function createPushOutbox(opts: PushOutboxOptions): PushOutbox {
  const { kv, http, clock, logger } = opts;
  const timers = opts.timers ?? systemTimers;
  const random = opts.random ?? Math.random;

  /** Records as metadata only: request bodies stay on disk until an attempt reads them. */
  const records = new Map<string, PushRecord>();
  /** When each pending record was last written (clock ms), to rate-limit rewrites. */
  const savedAt = new Map<string, number>();
  const bySession = new Map<string, string[]>();
  const workers = new Map<string, Worker>();
  const waiters = new Set<Waiter>();
  let seq = 0;
  let loaded: Promise<void> | undefined;
  let started = false;
  let stopped = false;
  /** Serialises enqueues, so two calls for one session cannot both add a record. */
  let enqueueChain: Promise<unknown> = Promise.resolve();

  const upstream = (name: string): UpstreamConfig | undefined => opts.upstreams().find((u) => u.name === name);

  function worker(name: string): Worker {
    let w = workers.get(name);
    if (!w) {
      w = { name, queue: [] };
      workers.set(name, w);
    }
    return w;
  }

  function remember(r: PushRecord): void {
    const meta = withoutRequest(r);
    const isNew = !records.has(meta.id);
    records.set(meta.id, meta);
    if (isNew) {
      const ids = bySession.get(meta.session) ?? [];
      ids.push(meta.id);
      bySession.set(meta.session, ids);
      if (meta.status === 'pending') worker(meta.upstream).queue.push(meta.id);
    }
  }

  function ensureLoaded(): Promise<void> {
    loaded ??= (async () => {
      const all: PushRecord[] = [];
      for await (const [, r] of kv.entries()) all.push(r);
      all.sort((a, b) => a.seq - b.seq);
      for (const r of all) {
        remember(r);
        seq = Math.max(seq, r.seq);
      }
    })();
    return loaded;
  }

  /** Writes a record's new metadata, keeping the request unless it is no longer needed. */
  async function save(meta: PushRecord, request: PushRequest | undefined): Promise<void> {
    await kv.put(meta.id, request ? { ...meta, request } : meta);
  }

  function clearTimer(w: Worker): void {
    if (w.timer !== undefined) timers.clearTimeout(w.timer);
    w.timer = undefined;
    w.timerAt = undefined;
  }

  /** Marks the pending records of an upstream that left the config, durably; the write counts as the worker's work in flight. */
  function markOrphans(w: Worker): void {
    const marked: PushRecord[] = [];
    for (const id of w.queue) {
      const r = records.get(id)!;
      if (r.lastError === UPSTREAM_GONE) continue;
      const next = { ...r, lastError: UPSTREAM_GONE };
      records.set(id, next);
      marked.push(next);
    }
    if (marked.length === 0) return;
    logger.warn({ upstream: w.name, pending: w.queue.length }, 'push outbox: upstream no longer configured; its pushes stay pending');
    const p = (async () => {
      for (const next of marked) {
        try {
          await save(next, (await kv.get(next.id))?.request);
        } catch (err) {
          logger.error({ err: describeError(err), id: next.id }, 'push outbox: could not record an orphaned push');
        }
      }
    })();
    w.inFlight = p;
    const done = () => {
      w.inFlight = undefined;
      kick(w);
    };
    p.then(done, done); // not p.finally(): that forks an unobserved rejection
  }

  /** Starts the head record's attempt when it is due, else arms one wake-up for when it will be. */
  function kick(w: Worker): void {
    if (!started || stopped || w.inFlight) return;
    const id = w.queue[0];
    if (id === undefined) return clearTimer(w);
    const up = upstream(w.name);
    if (!up) {
      clearTimer(w);
      return markOrphans(w);
    }
    const head = records.get(id)!;
    const due = head.nextAttemptAt ?? head.createdAt;
    const now = clock.now();
    if (due > now) {
      if (w.timerAt === due) return;
      clearTimer(w);
      w.timerAt = due;
      w.timer = timers.setTimeout(() => {
        w.timer = undefined;
        w.timerAt = undefined;
        kick(w);
      }, Math.min(due - now, MAX_TIMER_MS)); // longer delays would fire at once; waking early just re-arms
      return;
    }
    clearTimer(w);
    const abort = new AbortController();
    const p = attempt(head, up, abort.signal).catch((err) => logger.error({ err: describeError(err), id: head.id }, 'push outbox: attempt crashed'));
    w.inFlight = p;
    w.abort = abort;
    const done = () => {
      w.inFlight = undefined;
      w.abort = undefined;
      kick(w);
    };
    p.then(done, done);
  }

  async function attempt(rec: PushRecord, up: UpstreamConfig, signal: AbortSignal): Promise<void> {
    let request: PushRequest | undefined;
    let error: unknown;
    let status: number | undefined;
    let answer: Record<string, string> | undefined;
    try {
      request = (await kv.get(rec.id).catch((err) => {
        throw errors.unavailable(`could not read the push from the outbox: ${describeError(err)}`, { cause: err });
      }))?.request;
      if (!request) throw errors.internal('the request of this push is missing from the outbox');
      const center = centerOf(rec.kind);
      if (!center) throw errors.internal(`no center for kind ${rec.kind}`);
      if ((rec.kind ?? 'http') !== up.kind) throw errors.badData(`the upstream's kind changed from ${rec.kind ?? 'http'} to ${up.kind} since this push was queued`);
      const req = request;
      const delivered = await center.deliver({
        http,
        upstream: up,
        id: rec.id,
        request: req,
        progress: { ...(records.get(rec.id)?.progress ?? {}) },
        checkpoint: async (progress) => {
          const cur = { ...records.get(rec.id)!, progress };
          records.set(rec.id, cur);
          await save(cur, req);
        },
        signal,
        now: () => clock.now(),
        ports: opts.ports ?? {},
      });
      status = delivered.status;
      answer = delivered.answer;
    } catch (err) {
      if (signal.aborted && stopped) return; // shutdown: not an attempt; the record is sent again after restart
      error = err;
    }
    const now = clock.now();
    const attempts = rec.attempts + 1;
    // From the newest record: a checkpoint during the attempt may have added progress.
    const next: PushRecord = { ...(records.get(rec.id) ?? rec), attempts, lastAttemptAt: now };
    delete next.nextAttemptAt;
    let result: PushAttemptResult;
    if (error === undefined) {
      result = 'success';
      Object.assign(next, { status: 'delivered', deliveredAt: now });
      if (status) next.lastStatus = status;
      else delete next.lastStatus;
      if (answer) next.answer = answer;
      delete next.lastError;
      delete next.progress;
    } else {
      const e = isCovgateError(error) ? error : undefined;
      next.lastError = describeError(error);
      const httpStatus = e?.details?.status;
      if (typeof httpStatus === 'number') next.lastStatus = httpStatus;
      else delete next.lastStatus;
      const exhausted = up.max_attempts > 0 && attempts >= up.max_attempts;
      if (!e?.retryable || exhausted) {
        result = 'failed';
        next.status = 'failed';
        if (exhausted && e?.retryable) next.lastError = `${next.lastError} (gave up after ${attempts} attempts, max_attempts)`;
      } else {
        result = 'retry';
        const retryAfter = e.details?.retryAfterMs;
        // A floor whatever Retry-After says: `Retry-After: 0` must not turn into a busy loop.
        const delay =
          typeof retryAfter === 'number'
            ? Math.max(retryFloorMs(up), Math.min(retryAfter, up.max_backoff))
            : Math.max(retryFloorMs(up), backoffDelay(attempts, up.min_backoff, up.max_backoff, random));
        next.nextAttemptAt = now + delay;
      }
    }
    // Another identical failure is not worth a disk write each time: the record is
    // rewritten when its status, error or HTTP status change, or at most every
    // PERSIST_INTERVAL_MS. Skipping only loses attempt counts and the due time on
    // a crash (the push is then simply retried at start-up); the request body and
    // the pending status are always on disk, so nothing acknowledged is lost.
    const lastSaved = savedAt.get(rec.id);
    const unchanged =
      next.status === 'pending' &&
      rec.status === 'pending' &&
      next.lastError === rec.lastError &&
      next.lastStatus === rec.lastStatus &&
      JSON.stringify(next.progress) === JSON.stringify(rec.progress);
    if (!(unchanged && lastSaved !== undefined && now - lastSaved < PERSIST_INTERVAL_MS)) {
      try {
        await save(next, next.status === 'delivered' ? undefined : request);
        if (next.status === 'pending') savedAt.set(rec.id, now);
        else savedAt.delete(rec.id);
      } catch (err) {
        // Memory still moves on: re-sending a delivered push after a restart is safe (Idempotency-Key).
        logger.error({ err: describeError(err), id: rec.id }, 'push outbox: could not record a push attempt');
      }
    }
    records.set(rec.id, next);
    if (next.status !== 'pending') {
      const w = worker(rec.upstream);
      w.queue = w.queue.filter((id) => id !== rec.id);
    }
    if (result === 'failed') logger.error({ id: rec.id, session: rec.session, upstream: rec.upstream, attempts, err: next.lastError }, 'push failed');
    else if (result === 'retry') logger.warn({ id: rec.id, upstream: rec.upstream, attempts, err: next.lastError, nextAttemptAt: new Date(next.nextAttemptAt!).toISOString() }, 'push will be retried');
    else logger.info({ id: rec.id, session: rec.session, upstream: rec.upstream, attempts }, 'push delivered');
    try {
      opts.observer?.pushFinished(rec.upstream, result);
    } catch (err) {
      logger.warn({ err: describeError(err) }, 'push observer threw');
    }
    notify(rec.session);
  }

  function statusOf(sessionId: string): SessionPushStatus {
    const recs = (bySession.get(sessionId) ?? []).map((id) => records.get(id)!);
    if (recs.length === 0) return { id: '', status: 'none', records: [] };
    const status = recs.some((r) => r.status === 'pending') ? 'pending' : recs.some((r) => r.status === 'failed') ? 'failed' : 'delivered';
    return { id: recs.map((r) => r.id).join(','), status, records: recs.map((r) => ({ id: r.id, upstream: r.upstream, status: r.status })) };
  }

  function notify(sessionId: string): void {
    for (const w of waiters) {
      if (w.sessionId !== sessionId) continue;
      const s = statusOf(sessionId);
      if (s.status === 'pending') continue;
      settleWaiter(w, s);
    }
  }

  function settleWaiter(w: Waiter, s: SessionPushStatus): void {
    waiters.delete(w);
    if (w.timer !== undefined) timers.clearTimeout(w.timer);
    w.resolve(s);
  }

  function sessionRecords(sessionId: string): PushRecord[] {
    return (bySession.get(sessionId) ?? []).map((id) => records.get(id)!);
  }

  return {
    async start() {
      if (started || stopped) return;
      await ensureLoaded();
      if (stopped) return;
      started = true;
      for (const u of opts.upstreams()) worker(u.name);
      for (const w of workers.values()) kick(w);
      const pending = [...records.values()].filter((r) => r.status === 'pending').length;
      if (pending > 0) logger.info({ pending }, 'push outbox: resuming pending pushes');
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      const busy: Array<Promise<void>> = [];
      for (const w of workers.values()) {
        clearTimer(w);
        w.abort?.abort();
        if (w.inFlight) busy.push(w.inFlight);
      }
      await Promise.allSettled(busy);
      for (const w of [...waiters]) settleWaiter(w, statusOf(w.sessionId));
    },

    async enqueue(job) {
      await ensureLoaded();
      if (stopped) throw errors.unavailable('the push outbox is stopped');
      const run = enqueueChain.then(async () => {
        const now = clock.now();
        const created: PushRecord[] = [];
        for (const up of opts.upstreams()) {
          const id = pushRecordId(job.sessionId, up.name);
          if (records.has(id) || created.some((r) => r.id === id)) continue;
          const center = centerOf(up.kind);
          if (!center) throw errors.badData(`upstream ${JSON.stringify(up.name)}: kind ${up.kind} is not supported by this build`);
          // Throws errors.badData when the session lacks what the center requires: nothing is written then.
          const prepared = center.prepare(job, up, now, opts.ports ?? {});
          const requests = Array.isArray(prepared) ? prepared : [prepared];
          requests.forEach((request, i) => {
            created.push({
              // The first record keeps the id it always had; a center's further steps get their own.
              id: i === 0 ? id : pushRecordId(job.sessionId, `${up.name}\u0001${i}`),
              session: job.sessionId,
              upstream: up.name,
              kind: up.kind,
              format: up.format,
              seq: seq + created.length + 1,
              status: 'pending',
              attempts: 0,
              createdAt: now,
              nextAttemptAt: now,
              request,
            });
          });
        }
        if (created.length > 0) {
          await kv.batch(created.map((r) => ({ type: 'put' as const, key: r.id, value: r })));
          seq += created.length;
          for (const r of created) remember(r);
          for (const r of created) kick(worker(r.upstream));
        }
        return sessionRecords(job.sessionId).map((r) => ({ ...r }));
      });
      enqueueChain = run.catch(() => undefined);
      return run;
    },

    reload() {
      for (const u of opts.upstreams()) worker(u.name);
      for (const w of workers.values()) kick(w);
    },

    list(filter: PushFilter = {}) {
      const source = filter.sessionId !== undefined ? sessionRecords(filter.sessionId) : [...records.values()];
      return source
        .filter((r) => filter.status === undefined || r.status === filter.status)
        .sort((a, b) => a.seq - b.seq)
        .map((r) => ({ ...r }));
    },

    queueLengths() {
      const lengths = new Map<string, number>();
      for (const u of opts.upstreams()) lengths.set(u.name, 0);
      for (const w of workers.values()) if (w.queue.length > 0 || lengths.has(w.name)) lengths.set(w.name, w.queue.length);
      return [...lengths].map(([upstream, length]) => ({ upstream, length }));
    },

    statusOf,

    waitFor(sessionId, timeoutMs) {
      const s = statusOf(sessionId);
      if (s.status !== 'pending' || stopped) return Promise.resolve(s);
      return new Promise((resolve) => {
        const w: Waiter = { sessionId, resolve };
        if (timeoutMs !== undefined) w.timer = timers.setTimeout(() => settleWaiter(w, statusOf(sessionId)), timeoutMs);
        waiters.add(w);
      });
    },

    async deliverNow() {
      for (;;) {
        for (const w of workers.values()) kick(w);
        const busy = [...workers.values()].flatMap((w) => (w.inFlight ? [w.inFlight] : []));
        if (busy.length === 0) return;
        await Promise.allSettled(busy);
      }
    },
  };
}
