import type { FileCounters, Snapshot } from './types.ts';

/** Element-wise a + b; arrays of different length (never for a shared hash, but be safe) take the longer. */
export function addCounters(a: FileCounters, b: FileCounters): FileCounters {
  return { s: addArr(a.s, b.s), f: addArr(a.f, b.f), b: addNested(a.b, b.b) };
}

/** In-place a += b; returns a. Used on hot paths where `a` is owned by the caller. */
export function addCountersInto(a: FileCounters, b: FileCounters): FileCounters {
  addArrInto(a.s, b.s);
  addArrInto(a.f, b.f);
  for (let i = 0; i < b.b.length; i++) {
    if (a.b[i] === undefined) a.b[i] = b.b[i]!.slice();
    else addArrInto(a.b[i]!, b.b[i]!);
  }
  return a;
}

/** Element-wise max(0, a - b): what ran since `b` was taken. */
export function subtractCounters(a: FileCounters, b: FileCounters): FileCounters {
  return {
    s: a.s.map((v, i) => Math.max(0, v - (b.s[i] ?? 0))),
    f: a.f.map((v, i) => Math.max(0, v - (b.f[i] ?? 0))),
    b: a.b.map((arms, i) => arms.map((v, k) => Math.max(0, v - (b.b[i]?.[k] ?? 0)))),
  };
}

/** True when some counter of `next` is lower than in `prev`: the process restarted. */
export function countersDecreased(prev: FileCounters, next: FileCounters): boolean {
  // The same array is the same counters (a repeat scrape's unchanged ones come back as the stored arrays).
  if (prev === next) return false;
  if (prev.s !== next.s) for (let i = 0; i < prev.s.length; i++) if ((next.s[i] ?? 0) < prev.s[i]!) return true;
  if (prev.f !== next.f) for (let i = 0; i < prev.f.length; i++) if ((next.f[i] ?? 0) < prev.f[i]!) return true;
  if (prev.b === next.b) return false;
  for (let i = 0; i < prev.b.length; i++) {
    const p = prev.b[i]!;
    const n = next.b[i] ?? [];
    if (p !== n) for (let k = 0; k < p.length; k++) if ((n[k] ?? 0) < p[k]!) return true;
  }
  return false;
}

export function cloneCounters(c: FileCounters): FileCounters {
  return { s: c.s.slice(), f: c.f.slice(), b: c.b.map((x) => x.slice()) };
}

export function isZero(c: FileCounters): boolean {
  return c.s.every((v) => v === 0) && c.f.every((v) => v === 0) && c.b.every((arms) => arms.every((v) => v === 0));
}

/**
 * Whether a cumulative snapshot `next` can follow `prev` in the same process
 * lifetime: no counter of a file with an unchanged structure went down, and,
 * unless both come from the same `instance`, no file changed structure.
 * Within one instance a new structure is the same process reporting a file
 * differently (a converter that learnt more of it, a file rewritten on disk
 * and reloaded): the newest replaces it, it is never a restart.
 */
export function continuesLifetime(prev: Snapshot, next: Snapshot, opts: { sameInstance?: boolean } = {}): boolean {
  // Object.keys + index rather than Object.entries: no pair array per file (runs on every scrape).
  const paths = Object.keys(prev);
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i]!;
    const p = prev[path]!;
    const n = next[path];
    if (!n || n === p) continue; // a file not (yet) loaded in this read: not a restart by itself
    if (n.structure !== p.structure) {
      if (opts.sameInstance) continue;
      return false;
    }
    if (countersDecreased(p.counters, n.counters)) return false;
  }
  return true;
}

/** prev + delta for delta exporters: files only in one side are kept as they are. */
export function addSnapshots(prev: Snapshot, delta: Snapshot): Snapshot {
  const out: Snapshot = { ...prev };
  for (const [path, d] of Object.entries(delta)) {
    const p = out[path];
    out[path] = p && p.structure === d.structure ? { structure: d.structure, counters: addCounters(p.counters, d.counters) } : d;
  }
  return out;
}

function addArr(a: number[], b: number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((a[i] ?? 0) + (b[i] ?? 0));
  return out.slice(); // packed, exact size (see model/split.ts)
}

function addArrInto(a: number[], b: number[]): void {
  for (let i = 0; i < b.length; i++) a[i] = (a[i] ?? 0) + b[i]!;
}

function addNested(a: number[][], b: number[][]): number[][] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number[]>(n);
  for (let i = 0; i < n; i++) out[i] = addArr(a[i] ?? [], b[i] ?? []);
  return out;
}
