/**
 * How far the gateway's heap may grow past its live data before V8 collects
 * it: `--runtime.heap-growth <percent>`, Go's GOGC for the Node heap.
 *
 * Why the gateway sets it: V8 sizes the old generation from the heap limit, not
 * from what the process keeps. With Node's limit on a large machine (4 GB here,
 * a quarter of RAM up to that) it lets old space grow to up to 4× the live data
 * between full collections; below a 2 GB limit (a 1–2 GB container) to 1.3–2×.
 * A gateway keeps ~130 MB live at 1,000 targets × 4k statements, but every
 * scrape round replaces the changed counter vectors (snapshots are immutable),
 * so it promotes tens of MB a round and V8 let RSS reach 530–560 MB for that
 * live set (scripts/bench/fleet.ts). With 100% (GOGC's default, what
 * Prometheus runs with) the heap stays within 2× live: 420–430 MB in the same
 * run, for a few points of CPU (BENCHMARKS.md, scale rows).
 *
 * `0` leaves V8's own policy. A `--heap-growing-percent` given to node itself
 * (`node --heap-growing-percent=N bin/covgate.js`; Node refuses it in
 * NODE_OPTIONS) wins over the flag.
 */
import { setFlagsFromString } from 'node:v8';

export const DEFAULT_HEAP_GROWTH = 100;
const MAX_HEAP_GROWTH = 1000;

/** The flag's value as a percent, or an error message naming what was wrong. */
export function parseHeapGrowth(raw: string | undefined): number | { error: string } {
  if (raw === undefined) return DEFAULT_HEAP_GROWTH;
  const text = raw.trim().replace(/%$/, '');
  if (!/^\d+$/.test(text) || Number(text) > MAX_HEAP_GROWTH || (Number(text) > 0 && Number(text) < 10)) {
    return { error: `--runtime.heap-growth: ${JSON.stringify(raw)} is not a percent from 10 to ${MAX_HEAP_GROWTH} (0 leaves V8's own policy)` };
  }
  return Number(text);
}

export type HeapGrowth = { applied: number } | { left: 'v8-default' | 'node-flag' };

/** Node's own command line already sets V8's growing percent. */
export function nodeSetsHeapGrowth(execArgv: readonly string[]): boolean {
  return execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg));
}

/** Sets V8's heap growing percent for this process (see the file comment). */
export function applyHeapGrowth(
  percent: number,
  env: { execArgv: readonly string[]; setFlags: (flags: string) => void } = { execArgv: process.execArgv, setFlags: setFlagsFromString },
): HeapGrowth {
  if (nodeSetsHeapGrowth(env.execArgv)) return { left: 'node-flag' };
  if (percent === 0) return { left: 'v8-default' };
  // Read by V8 each time it sizes the heap after a full collection, so setting it
  // once the process runs takes effect from the next collection on.
  env.setFlags(`--heap-growing-percent=${percent}`);
  return { applied: percent };
}
