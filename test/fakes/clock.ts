import type { Cancel, Clock, Scheduler, Timers } from '../../gateway/clock/index.ts';
import type { Timers as ExporterTimers } from '../../exporters/shared/clock.ts';

/**
 * The one fake clock of the tests: a Clock, one-shot Timers (the gateway's
 * and the exporters', same shape) and a Scheduler, none of which moves or
 * fires by itself. `advance()` only moves `now()`; tests fire what they mean
 * to (`fireNext`, `fireAll`) and read what is armed (`armed`).
 */
export class FakeClock implements Clock, Timers, ExporterTimers, Scheduler {
  private pending = new Map<number, { fn: () => void; ms: number }>();
  private nextId = 1;
  private readonly jobSet = new Set<() => void>();

  constructor(public ms = Date.UTC(2026, 0, 15, 12, 0, 0)) {}

  now = (): number => this.ms;

  /** Moves the clock; fires nothing. */
  advance(ms: number): void {
    this.ms += ms;
  }

  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = this.nextId++;
    this.pending.set(id, { fn, ms });
    return id;
  };

  clearTimeout = (handle: unknown): void => {
    this.pending.delete(handle as number);
  };

  /** Delays of the timers armed and not fired, in the order they were armed. */
  get armed(): number[] {
    return [...this.pending.values()].map((p) => p.ms);
  }

  /** Fires the oldest armed timer; returns its delay. */
  fireNext(): number {
    const first = this.pending.entries().next();
    if (first.done) throw new Error('no timer armed');
    const [id, p] = first.value;
    this.pending.delete(id);
    p.fn();
    return p.ms;
  }

  /** Fires every armed timer once, then every scheduled job once. */
  fireAll(): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.fn();
    for (const fn of [...this.jobSet]) fn();
  }

  every = (_intervalMs: number, _offsetMs: number, fn: () => void): Cancel => {
    this.jobSet.add(fn);
    return () => this.jobSet.delete(fn);
  };

  cron = (_expression: string, fn: () => void): Cancel => {
    this.jobSet.add(fn);
    return () => this.jobSet.delete(fn);
  };

  /** Scheduled jobs (every/cron) not cancelled. */
  get jobs(): number {
    return this.jobSet.size;
  }
}
