/**
 * The exporters' clock: the same shape as the gateway's Timers
 * (gateway/clock), kept here because the exporters are packages of their own
 * and import nothing of the gateway. Injected so tests fire renewals, retries
 * and periodic takes themselves (test/fakes/clock.ts).
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real timers, unref'd: a pending renewal or take never keeps the service alive. */
export const systemTimers: Timers = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Runs `fn` every `intervalMs` on `timers` (re-armed before each run) until the returned function is called. */
export function repeat(timers: Timers, intervalMs: number, fn: () => void): () => void {
  let handle: unknown;
  let stopped = false;
  const arm = () => {
    handle = timers.setTimeout(() => {
      if (stopped) return;
      arm();
      fn();
    }, intervalMs);
  };
  arm();
  return () => {
    stopped = true;
    timers.clearTimeout(handle);
  };
}
