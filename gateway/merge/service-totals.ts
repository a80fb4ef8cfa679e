/**
 * Per-service coverage totals kept up to date incrementally. A service's sum
 * is the sum of its targets' window sums (the store's `targetTotal`); when a
 * target's version changes, only the difference between the total this
 * keeps for it and its new total is applied, and only the files whose
 * counters changed are summarised again (from their counters, by structure
 * index). A read of a service whose targets did not change costs nothing.
 *
 * The result equals a merge from scratch of the same targets
 * (test/merge/service-totals.test.ts compares them over random append
 * sequences with restarts, clears and retention).
 */
import type { CounterSet, FileCounters, Summary } from '../model/index.ts';
import type { FileSummary } from '../model/summary.ts';
import { combineFileSummaries, type Summarizer } from './fast-summary.ts';

export interface TotalsSource {
  targetVersion(targetId: string): number;
  targetTotal(targetId: string): CounterSet;
}

interface Entry {
  counters: FileCounters;
  /** How many member targets have this (path, structure): the entry goes when none has. */
  refs: number;
}

export class ServiceTotals {
  /** path → structure hash → summed counters. */
  private readonly files = new Map<string, Map<string, Entry>>();
  private readonly members = new Map<string, { version: number; set: CounterSet }>();
  private readonly fileSummaries = new Map<string, FileSummary | undefined>();
  private readonly dirty = new Set<string>();
  private cached: Summary | undefined;
  private perFileCache: Map<string, Summary> | undefined;

  constructor(
    private readonly source: TotalsSource,
    private readonly summarizer: Summarizer,
  ) {}

  /** Brings the sum up to date with exactly these targets at their current versions. */
  sync(ids: readonly string[]): void {
    const want = new Set(ids);
    for (const [id, m] of this.members) {
      if (want.has(id)) continue;
      this.apply(m.set, undefined);
      this.members.delete(id);
    }
    for (const id of want) {
      const version = this.source.targetVersion(id);
      const m = this.members.get(id);
      if (m && m.version === version) continue;
      const set = this.source.targetTotal(id);
      if (m?.set !== set) this.apply(m?.set, set);
      this.members.set(id, { version, set });
    }
  }

  summary(): Summary {
    this.refresh();
    if (!this.cached) this.cached = combineFileSummaries([...this.fileSummaries.values()].filter((f): f is FileSummary => f !== undefined));
    return this.cached;
  }

  perFile(): Map<string, Summary> {
    this.refresh();
    if (!this.perFileCache) {
      this.perFileCache = new Map();
      for (const [path, f] of this.fileSummaries) if (f) this.perFileCache.set(path, f.summary);
    }
    return this.perFileCache;
  }

  /** Paths with their summed counters per structure (for tests and diagnostics). */
  entries(): Array<[string, Map<string, FileCounters>]> {
    return [...this.files].map(([path, byHash]) => [path, new Map([...byHash].map(([h, e]) => [h, e.counters]))]);
  }

  private refresh(): void {
    if (this.dirty.size === 0) return;
    for (const path of this.dirty) {
      const byHash = this.files.get(path);
      if (!byHash) {
        this.fileSummaries.delete(path);
        continue;
      }
      this.fileSummaries.set(path, this.summarizer.file(path, new Map([...byHash].map(([h, e]) => [h, e.counters]))));
    }
    this.dirty.clear();
    this.cached = undefined;
    this.perFileCache = undefined;
  }

  /** Replaces one member's contribution `from` by `to` (either may be absent). */
  private apply(from: CounterSet | undefined, to: CounterSet | undefined): void {
    if (from) {
      for (const [path, byHash] of from.entries()) {
        for (const [hash, c] of byHash) {
          const nc = to?.file(path, hash);
          if (nc) {
            if (addDiff(this.entry(path, hash, false), nc, c)) this.dirty.add(path);
          } else this.remove(path, hash, c);
        }
      }
    }
    if (to) {
      for (const [path, byHash] of to.entries()) {
        for (const [hash, c] of byHash) {
          if (from?.file(path, hash)) continue;
          const e = this.entry(path, hash, true);
          addDiff(e, c, undefined);
          e.refs++;
          this.dirty.add(path);
        }
      }
    }
  }

  private entry(path: string, hash: string, create: boolean): Entry {
    let byHash = this.files.get(path);
    if (!byHash) {
      if (!create) throw new Error(`service totals: no entry for ${path}`);
      this.files.set(path, (byHash = new Map()));
    }
    let e = byHash.get(hash);
    if (!e) {
      if (!create) throw new Error(`service totals: no entry for ${path} ${hash}`);
      byHash.set(hash, (e = { counters: { s: [], f: [], b: [] }, refs: 0 }));
    }
    return e;
  }

  private remove(path: string, hash: string, c: FileCounters): void {
    const byHash = this.files.get(path)!;
    const e = byHash.get(hash)!;
    e.refs--;
    this.dirty.add(path);
    if (e.refs === 0) {
      byHash.delete(hash);
      if (byHash.size === 0) this.files.delete(path);
      return;
    }
    subtractInto(e.counters, c);
  }
}

/** Adds `next - prev` into the entry (prev absent: adds next); true when anything changed. */
function addDiff(e: Entry, next: FileCounters, prev: FileCounters | undefined): boolean {
  let changed = false;
  const t = e.counters;
  const vec = (dst: number[], a: number[], b: number[] | undefined) => {
    const n = Math.max(a.length, b?.length ?? 0);
    for (let i = 0; i < n; i++) {
      const d = (a[i] ?? 0) - (b?.[i] ?? 0);
      if (d !== 0 || dst[i] === undefined) {
        if (d !== 0) changed = true;
        dst[i] = (dst[i] ?? 0) + d;
      }
    }
  };
  vec(t.s, next.s, prev?.s);
  vec(t.f, next.f, prev?.f);
  const nb = Math.max(next.b.length, prev?.b.length ?? 0);
  for (let i = 0; i < nb; i++) {
    if (t.b[i] === undefined) t.b[i] = [];
    vec(t.b[i]!, next.b[i] ?? [], prev?.b[i]);
  }
  return changed || prev === undefined;
}

function subtractInto(t: FileCounters, c: FileCounters): void {
  for (let i = 0; i < c.s.length; i++) t.s[i] = (t.s[i] ?? 0) - (c.s[i] ?? 0);
  for (let i = 0; i < c.f.length; i++) t.f[i] = (t.f[i] ?? 0) - (c.f[i] ?? 0);
  for (let i = 0; i < c.b.length; i++) {
    const arms = c.b[i] ?? [];
    const dst = (t.b[i] ??= []);
    for (let k = 0; k < arms.length; k++) dst[k] = (dst[k] ?? 0) - (arms[k] ?? 0);
  }
}
