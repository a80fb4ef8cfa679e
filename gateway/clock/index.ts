import cron from 'node-cron';

/**
 * Time and scheduling, injected everywhere so tests fire ticks instead of
 * sleeping. Only the composition root picks the real implementations.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export type Cancel = () => void;

export interface Scheduler {
  /** Runs `fn` every `intervalMs`, the first time after `offsetMs`. Returns a cancel function. */
  every(intervalMs: number, offsetMs: number, fn: () => void): Cancel;
  /** Runs `fn` on a cron schedule (node-cron syntax). */
  cron(expression: string, fn: () => void): Cancel;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * One-shot timers (wake-ups, retries, debounces, request timeouts): the
 * injectable form of setTimeout/clearTimeout, so tests see what is armed and
 * fire it themselves (test/fakes/clock.ts).
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real timers, unref'd: a pending wake-up never keeps the process alive by itself. */
export const systemTimers: Timers = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Runs `fn` every `intervalMs` on `timers` (re-armed after each run) until the returned Cancel is called. */
export function repeat(timers: Timers, intervalMs: number, fn: () => void): Cancel {
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

/** Real timers; every timer is unref'd so a scheduler never keeps the process alive by itself. */
export function createSystemScheduler(): Scheduler {
  return {
    every(intervalMs, offsetMs, fn) {
      let interval: NodeJS.Timeout | undefined;
      const first = setTimeout(() => {
        fn();
        interval = setInterval(fn, intervalMs);
        interval.unref();
      }, offsetMs);
      first.unref();
      return () => {
        clearTimeout(first);
        if (interval) clearInterval(interval);
      };
    },
    cron(expression, fn) {
      const task = cron.schedule(expression, fn);
      return () => {
        Promise.resolve(task.stop()).catch(() => undefined); // stopping a cron task has nothing to report
      };
    },
  };
}

/**
 * A scheduler that never fires by itself: `fireAll()` runs every registered
 * job once. For tests (the name says so) and for `--scrape-manual` runs.
 */
export interface ManualScheduler extends Scheduler {
  fireAll(): void;
  readonly jobs: number;
}

export function createManualScheduler(): ManualScheduler {
  const jobs = new Set<() => void>();
  return {
    every(_i, _o, fn) {
      jobs.add(fn);
      return () => jobs.delete(fn);
    },
    cron(_e, fn) {
      jobs.add(fn);
      return () => jobs.delete(fn);
    },
    fireAll() {
      for (const fn of [...jobs]) fn();
    },
    get jobs() {
      return jobs.size;
    },
  };
}
