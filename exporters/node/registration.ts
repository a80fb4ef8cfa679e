import { EventEmitter } from 'node:events';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { formatDuration } from '../shared/settings.ts';
import type { ExporterLogger } from '../shared/settings.ts';
import { systemTimers, type Timers } from '../shared/clock.ts';

/** Timer functions, injectable so tests fire renewals and retries themselves (the exporters' shared clock). */
export type RegistrationTimers = Timers;

export interface RegistrationOptions {
  /** Gateway base URL, e.g. http://127.0.0.1:9464 */
  gateway: string;
  job: string;
  /** The target's base URL the gateway scrapes (http://host:port). */
  url: string;
  labels?: Record<string, string>;
  /** Lease length; renewed at a third of it. Default 60 s. */
  ttlMs?: number;
  /** Sent as `Authorization: Bearer <token>` (COVGATE_TOKEN). */
  token?: string;
  /** First retry delay while the gateway is unreachable; doubles up to `maxBackoffMs`. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Per-request timeout for register/renew. */
  requestTimeoutMs?: number;
  /** How long shutdown waits for the DELETE (the gateway scrapes one last time first). */
  deregisterTimeoutMs?: number;
  /** Deregister on SIGTERM/SIGINT, then let the signal do what it would have. Default true. */
  handleSignals?: boolean;
  timers?: RegistrationTimers;
  /** Jitter source in [0, 1). */
  random?: () => number;
  logger?: ExporterLogger;
}

export type RegistrationState = 'idle' | 'registering' | 'registered' | 'backoff' | 'stopped';

export interface RegisteredEvent {
  id: string;
  expiresAt: string;
  renewal: boolean;
}
export interface FailedEvent {
  error: string;
  attempt: number;
  retryInMs: number;
}

/**
 * A target's lease at the gateway (docs/contract.md section 2,
 * `POST /api/v1/targets`). Events: `registered`, `failed`, `deregistered`,
 * `scheduled` ({ms, reason}).
 */
export interface Registration extends EventEmitter {
  readonly state: RegistrationState;
  readonly id: string | undefined;
  /** Starts registering in the background. Never throws, never blocks. */
  start(): void;
  /**
   * Cancels pending renewals and, when registered, sends
   * `DELETE /api/v1/targets/<id>`. Resolves (never rejects) when done or timed
   * out. Safe before start and twice.
   */
  stop(): Promise<void>;
}

/**
 * Self-registration with renewals at ttl/3 and capped exponential backoff
 * with jitter while the gateway is down or refuses. Everything runs in the
 * background on unref'd timers and unref'd sockets; failures are events and
 * log lines, never exceptions.
 */
export function createRegistration(opts: RegistrationOptions): Registration {
  const ttlMs = opts.ttlMs ?? 60_000;
  const timers = opts.timers ?? systemTimers;
  const random = opts.random ?? Math.random;
  const initialBackoff = opts.initialBackoffMs ?? 500;
  const maxBackoff = Math.max(initialBackoff, opts.maxBackoffMs ?? Math.min(30_000, Math.max(1000, ttlMs / 3)));
  const requestTimeout = opts.requestTimeoutMs ?? 10_000;
  const base = opts.gateway.replace(/\/+$/, '');
  const body = JSON.stringify({
    job: opts.job,
    url: opts.url,
    labels: opts.labels ?? {},
    ttl: formatDuration(ttlMs),
  });
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;

  const emitter = new EventEmitter() as Registration;
  let state: RegistrationState = 'idle';
  let id: string | undefined;
  let timer: unknown;
  let failures = 0;
  let signalHandler: ((sig: NodeJS.Signals) => void) | undefined;
  // A function, so TypeScript does not narrow `state` across awaits.
  const stopped = (): boolean => state === 'stopped';

  const schedule = (ms: number, reason: string): void => {
    if (state === 'stopped') return;
    timer = timers.setTimeout(() => {
      timer = undefined;
      void attempt();
    }, ms);
    emitter.emit('scheduled', { ms, reason });
  };

  async function attempt(): Promise<void> {
    if (state === 'stopped') return;
    const renewal = id !== undefined;
    if (!renewal) state = 'registering';
    try {
      const res = await send('POST', `${base}/api/v1/targets`, body, requestTimeout, false);
      if (stopped()) return;
      if (res.status !== 200 && res.status !== 201) {
        throw new Error(`gateway answered ${res.status}: ${res.body.slice(0, 200)}`);
      }
      const parsed = JSON.parse(res.body) as { id?: unknown; expiresAt?: unknown };
      if (typeof parsed.id !== 'string') throw new Error(`gateway answered without an id: ${res.body.slice(0, 200)}`);
      id = parsed.id;
      state = 'registered';
      failures = 0;
      if (!renewal) opts.logger?.info(`registered at ${base} as ${id} (ttl ${formatDuration(ttlMs)})`);
      emitter.emit('registered', { id, expiresAt: String(parsed.expiresAt ?? ''), renewal } satisfies RegisteredEvent);
      schedule(Math.max(1, Math.floor(ttlMs / 3)), 'renew');
    } catch (err) {
      if (stopped()) return;
      failures++;
      if (state !== 'registered') state = 'backoff';
      const exp = Math.min(maxBackoff, initialBackoff * 2 ** (failures - 1));
      // "Equal jitter": at least half the delay, so retries never bunch at zero.
      const delay = Math.max(1, Math.round(exp / 2 + random() * (exp / 2)));
      const error = (err as Error).message;
      if (failures === 1 || failures % 10 === 0) {
        opts.logger?.warn(`registration at ${base} failed (${error}); retrying with backoff`);
      }
      emitter.emit('failed', { error, attempt: failures, retryInMs: delay } satisfies FailedEvent);
      schedule(delay, 'retry');
    }
  }

  async function stop(): Promise<void> {
    if (state === 'stopped') return;
    state = 'stopped';
    if (timer !== undefined) timers.clearTimeout(timer);
    timer = undefined;
    if (signalHandler) {
      process.off('SIGTERM', signalHandler);
      process.off('SIGINT', signalHandler);
    }
    const leased = id;
    if (leased === undefined) return;
    try {
      // A ref'd socket: the gateway scrapes us one last time before answering,
      // so the process must live until then.
      const res = await send('DELETE', `${base}/api/v1/targets/${encodeURIComponent(leased)}`, undefined,
        opts.deregisterTimeoutMs ?? 5000, true);
      opts.logger?.info(`deregistered ${leased} (${res.status})`);
      emitter.emit('deregistered', { id: leased, status: res.status });
    } catch (err) {
      opts.logger?.warn(`deregistration of ${leased} failed: ${(err as Error).message}; the lease will expire`);
      emitter.emit('deregistered', { id: leased, error: (err as Error).message });
    }
  }

  function send(
    method: string,
    url: string,
    payload: string | undefined,
    timeoutMs: number,
    keepAlive: boolean,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
        method,
        headers: payload === undefined ? headers : { ...headers, 'Content-Length': Buffer.byteLength(payload) },
        timeout: timeoutMs,
      });
      req.on('socket', (socket) => {
        if (!keepAlive) socket.unref();
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.end(payload);
    });
  }

  Object.defineProperties(emitter, {
    state: { get: () => state },
    id: { get: () => id },
  });
  emitter.start = () => {
    if (state !== 'idle') return;
    if (opts.handleSignals !== false) {
      signalHandler = (sig) => {
        // Decide now: if the app listens for this signal too, it owns the exit.
        const appHandles = process.listenerCount(sig) > 1;
        void stop().finally(() => {
          if (!appHandles && process.listenerCount(sig) === 0) process.kill(process.pid, sig);
        });
      };
      process.on('SIGTERM', signalHandler);
      process.on('SIGINT', signalHandler);
    }
    void attempt();
  };
  emitter.stop = stop;
  return emitter;
}
