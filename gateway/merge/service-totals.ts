/**
 * Per-service coverage totals kept up to date incrementally. A service's sum
 * is the sum of its targets' windows (each lifetime's newest snapshot, plus
 * the retention archive; the store's `targetWindow`). Each append announces
 * the lifetime's snapshot before and after (`onChange`); `change` applies the
 * difference of the files whose entry changed (an append keeps the previous
 * entry of every unchanged file, so comparing by identity finds them), and
 * only those files are summarised again (from their counters, by structure
 * index). The work is done as snapshots arrive, a few files at a time, so a
 * read (/metrics, /api/v1/targets) only summarises the dirty files. A target
 * whose version moved any other way (retention, clear, a missed event) is
 * rebuilt from its window on the next `sync`.
 *
 * The result equals a merge from scratch of the same targets
 * (test/merge/service-totals.test.ts compares them over random append
 * sequences with restarts, clears and retention).
 */
import type { CounterSet, FileCounters, Snapshot, Summary } from '../model/index.ts';
import type { FileSummary } from '../model/summary.ts';
import type { TargetChange, TargetWindow } from '../store/index.ts';
import { CoverageCounts, combineFileSummaries, type Summarizer } from './fast-summary.ts';

export interface TotalsSource {
  targetVersion(targetId: string): number;
  targetWindow(targetId: string): TargetWindow;
}

interface Entry {
  counters: FileCounters;
  /** Which counters are non-zero, kept per flip while the path has this one structure (see CoverageCounts). */
  cov?: CoverageCounts;
  /** How many member parts (lifetime snapshots, archives) have this (path, structure): the entry goes when none has. */
  refs: number;
}

/** What one target contributes: references to its lifetimes' immutable snapshots, and an archive copy. */
interface Member {
  version: number;
  lifetimes: Map<string, Snapshot>;
  archive?: CounterSet;
}

export class ServiceTotals {
  /** path → structure hash → summed counters. */
  private readonly files = new Map<string, Map<string, Entry>>();
  private readonly members = new Map<string, Member>();
  private readonly fileSummaries = new Map<string, FileSummary | undefined>();
  private readonly dirty = new Set<string>();
  private cached: Summary | undefined;
  private perFileCache: Map<string, Summary> | undefined;

  constructor(
    private readonly source: TotalsSource,
    private readonly summarizer: Summarizer,
  ) {}

  /** Brings the sum up to date with exactly these targets at their current versions. */
  sync(ids: Iterable<string>): void {
    const want = ids instanceof Set ? (ids as Set<string>) : new Set(ids);
    for (const [id, m] of this.members) {
      if (want.has(id)) continue;
      this.removeMember(m);
      this.members.delete(id);
    }
    for (const id of want) {
      const m = this.members.get(id);
      if (m && m.version === this.source.targetVersion(id)) continue;
      if (m) this.removeMember(m);
      const w = this.source.targetWindow(id);
      const fresh: Member = { version: w.version, lifetimes: w.lifetimes, ...(w.archive ? { archive: w.archive } : {}) };
      for (const snap of fresh.lifetimes.values()) this.addSnapshot(snap);
      if (fresh.archive) this.addSet(fresh.archive);
      this.members.set(id, fresh);
    }
  }

  /** Whether `targetId` is summed here. */
  has(targetId: string): boolean {
    return this.members.has(targetId);
  }

  /**
   * Applies one append of a member target. A member that missed a change
   * (its version is not the event's `previous`) is left for `sync` to rebuild.
   */
  change(c: TargetChange): void {
    const m = this.members.get(c.targetId);
    if (!m || m.version !== c.previous) return;
    const before = m.lifetimes.get(c.lifetimeId);
    for (const path of Object.keys(c.after)) {
      const a = c.after[path]!;
      const b = before?.[path];
      if (b === a) continue;
      if (b && b.structure === a.structure) {
        if (addDiff(this.entry(path, a.structure, false), a.counters, b.counters)) this.dirty.add(path);
        continue;
      }
      if (b) this.remove(path, b.structure, b.counters);
      this.add(path, a.structure, a.counters);
    }
    if (before) for (const path of Object.keys(before)) if (!Object.hasOwn(c.after, path)) this.remove(path, before[path]!.structure, before[path]!.counters);
    m.lifetimes.set(c.lifetimeId, c.after);
    m.version = c.version;
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
      if (byHash.size === 1) {
        // One structure (the common case): the summary from the entry's counts, built once by a full pass.
        const [hash, e] = byHash.entries().next().value as [string, Entry];
        if (!e.cov) {
          const ix = this.summarizer.index(hash);
          if (ix) e.cov = new CoverageCounts(ix, e.counters);
        }
        this.fileSummaries.set(path, e.cov?.summary());
        continue;
      }
      this.fileSummaries.set(path, this.summarizer.file(path, new Map([...byHash].map(([h, e]) => [h, e.counters]))));
    }
    this.dirty.clear();
    this.cached = undefined;
    this.perFileCache = undefined;
  }

  private addSnapshot(snap: Snapshot): void {
    for (const path of Object.keys(snap)) this.add(path, snap[path]!.structure, snap[path]!.counters);
  }

  private addSet(set: CounterSet): void {
    for (const [path, byHash] of set.entries()) for (const [hash, c] of byHash) this.add(path, hash, c);
  }

  private removeMember(m: Member): void {
    for (const snap of m.lifetimes.values()) for (const path of Object.keys(snap)) this.remove(path, snap[path]!.structure, snap[path]!.counters);
    if (m.archive) for (const [path, byHash] of m.archive.entries()) for (const [hash, c] of byHash) this.remove(path, hash, c);
  }

  private add(path: string, hash: string, c: FileCounters): void {
    const e = this.entry(path, hash, true);
    addDiff(e, c, undefined);
    e.refs++;
    this.dirty.add(path);
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
    e.cov = undefined; // rebuilt on the next read (removals are rare: restarts seen late, retention, clears)
  }
}

/**
 * Adds `next - prev` into the entry (prev absent: adds next). True when a
 * counter of the sum went from zero to non-zero or back, or a vector grew:
 * summaries (covered of total, for every kind) depend only on which counters
 * are zero, so only then must the file be summarised again. The entry's
 * counts follow each flip; a vector that grew drops them (rebuilt on read).
 */
function addDiff(e: Entry, next: FileCounters, prev: FileCounters | undefined): boolean {
  const t = e.counters;
  if (!prev && t.s.length === 0 && t.f.length === 0 && t.b.length === 0) {
    // A new entry: exact-size copies (growing empty arrays element by element leaves spare capacity in every one).
    e.counters = { s: next.s.slice(), f: next.f.slice(), b: next.b.map((arms) => arms.slice()) };
    e.cov = undefined;
    return true;
  }
  let flags = addVecDiff(t.s, next.s, prev?.s, e.cov, 's', 0);
  flags |= addVecDiff(t.f, next.f, prev?.f, e.cov, 'f', 0);
  const nb = Math.max(next.b.length, prev?.b.length ?? 0);
  for (let i = 0; i < nb; i++) {
    if (t.b[i] === undefined) {
      t.b[i] = [];
      flags |= GREW;
    }
    flags |= addVecDiff(t.b[i]!, next.b[i] ?? [], prev?.b[i], e.cov, 'b', i);
  }
  if (flags & GREW) e.cov = undefined;
  return flags !== 0 || prev === undefined;
}

const FLIPPED = 1;
const GREW = 2;

/** dst += a - b, element-wise; FLIPPED when an element crossed zero, GREW when dst got longer (no closure per call: this runs for every changed file of every append). */
function addVecDiff(dst: number[], a: number[], b: number[] | undefined, cov: CoverageCounts | undefined, kind: 's' | 'f' | 'b', branch: number): number {
  let flags = 0;
  const n = Math.max(a.length, b?.length ?? 0);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b?.[i] ?? 0);
    const old = dst[i];
    if (old === undefined) {
      dst[i] = d;
      flags |= GREW;
    } else if (d !== 0) {
      const now = old + d;
      dst[i] = now;
      if ((old === 0) !== (now === 0)) {
        flags |= FLIPPED;
        if (cov) {
          if (kind === 'b') cov.flip('b', branch, now === 0 ? -1 : 1, i);
          else cov.flip(kind, i, now === 0 ? -1 : 1);
        }
      }
    }
  }
  return flags;
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
