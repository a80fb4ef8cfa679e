import type { RegistrationTimers } from '../../exporters/node/registration.ts';

interface Pending {
  id: number;
  fn: () => void;
  ms: number;
}

/** Timers that never fire by themselves: tests look at what is scheduled and fire it. */
export class FakeTimers implements RegistrationTimers {
  private pending: Pending[] = [];
  private nextId = 1;

  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = this.nextId++;
    this.pending.push({ id, fn, ms });
    return id;
  };

  clearTimeout = (handle: unknown): void => {
    this.pending = this.pending.filter((p) => p.id !== handle);
  };

  /** Delays of the timers scheduled and not fired, oldest first. */
  get scheduled(): number[] {
    return this.pending.map((p) => p.ms);
  }

  /** Fires the oldest pending timer; returns its delay. */
  fireNext(): number {
    const p = this.pending.shift();
    if (!p) throw new Error('no timer pending');
    p.fn();
    return p.ms;
  }
}
