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
import { CoverageCounts, SummaryAccumulator, summarizeCounters, type Summarizer } from './fast-summary.ts';

export interface TotalsSource {
  targetVersion(targetId: string): number;
  targetWindow(targetId: string): TargetWindow;
}

interface Entry {
  /** The structure hash these counters are for. */
  hash: string;
  /**
   * The sum. While one part alone makes it (`shared`), this is that part's own
   * counters, by reference and never written here: a target's totals are then
   * no second copy of its lifetime's counters (copied on the first write).
   */
  counters: FileCounters;
  shared?: boolean;
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
  /**
   * path → summed counters per structure hash (an array: a path nearly always
   * has one structure, and a Map per path was a fifth of the per-target
   * totals' memory at 1,000 targets).
   */
  private readonly files = new Map<string, Entry[]>();
  private readonly members = new Map<string, Member>();
  private readonly fileSummaries = new Map<string, FileSummary | undefined>();
  private readonly dirty = new Set<string>();
  private cached: Summary | undefined;
  private perFileCache: Map<string, Summary> | undefined;

  /**
   * `countsPerFile` (default true): each single-structure file keeps its
   * coverage counts (CoverageCounts), so a flip costs O(1); a service's sums
   * change on every scrape of any of its targets. Without them (a target's
   * own totals, a thousand of them at 1,000 targets) a file whose counters
   * crossed zero is summarised again from its counters, O(file).
   */
  constructor(
    private readonly source: TotalsSource,
    private readonly summarizer: Summarizer,
    private readonly opts: { countsPerFile?: boolean } = {},
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
        const e = this.entry(path, a.structure, false);
        if (e.shared && e.counters === b.counters) {
          // The sum is this lifetime's counters alone: it becomes the new ones, by reference.
          if (followFlips(e, a.counters, b.counters)) this.dirty.add(path);
          e.counters = a.counters;
          continue;
        }
        if (addDiff(own(e), a.counters, b.counters)) this.dirty.add(path);
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
    if (!this.cached) {
      const acc = new SummaryAccumulator();
      for (const [path, list] of this.files) {
        if (list.length === 1 && list[0]!.cov) list[0]!.cov.addTo(acc);
        else {
          const f = this.fileSummaries.get(path);
          if (f) acc.addFile(f);
        }
      }
      this.cached = acc.summary();
    }
    return this.cached;
  }

  perFile(): Map<string, Summary> {
    this.refresh();
    if (!this.perFileCache) {
      this.perFileCache = new Map();
      for (const path of this.files.keys()) {
        const f = this.fileSummary(path);
        if (f) this.perFileCache.set(path, f.summary);
      }
    }
    return this.perFileCache;
  }

  /**
   * A file's summary: from its counts when it has one structure (built on
   * demand, O(1): keeping one summary object per file of every target was
   * ~10% of the gateway's heap at 1,000 targets), else the one refresh made.
   */
  private fileSummary(path: string): FileSummary | undefined {
    const list = this.files.get(path)!;
    if (list.length === 1 && list[0]!.cov) return list[0]!.cov.summary();
    return this.fileSummaries.get(path);
  }

  /** Paths with their summed counters per structure (for tests and diagnostics). */
  entries(): Array<[string, Map<string, FileCounters>]> {
    return [...this.files].map(([path, list]) => [path, new Map(list.map((e) => [e.hash, e.counters]))]);
  }

  private refresh(): void {
    if (this.dirty.size === 0) return;
    for (const path of this.dirty) {
      const list = this.files.get(path);
      if (!list) {
        this.fileSummaries.delete(path);
        continue;
      }
      if (list.length === 1) {
        const e = list[0]!;
        if (this.opts.countsPerFile === false) {
          const ix = this.summarizer.index(e.hash);
          this.fileSummaries.set(path, ix ? summarizeCounters(ix, e.counters) : undefined);
          continue;
        }
        // One structure (the common case): the summary from the entry's counts, built once by a full pass.
        if (!e.cov) {
          const ix = this.summarizer.index(e.hash);
          if (ix) e.cov = new CoverageCounts(ix, e.counters);
        }
        this.fileSummaries.delete(path);
        continue;
      }
      this.fileSummaries.set(path, this.summarizer.file(path, new Map(list.map((e) => [e.hash, e.counters]))));
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
    if (e.refs === 0) {
      e.counters = c;
      e.shared = true;
      e.cov = undefined;
    } else addDiff(own(e), c, undefined);
    e.refs++;
    this.dirty.add(path);
  }

  private entry(path: string, hash: string, create: boolean): Entry {
    let list = this.files.get(path);
    if (!list) {
      if (!create) throw new Error(`service totals: no entry for ${path}`);
      this.files.set(path, (list = []));
    }
    let e: Entry | undefined;
    for (let i = 0; i < list.length; i++) if (list[i]!.hash === hash) e = list[i];
    if (!e) {
      if (!create) throw new Error(`service totals: no entry for ${path} ${hash}`);
      list.push((e = { hash, counters: { s: [], f: [], b: [] }, refs: 0 }));
    }
    return e;
  }

  private remove(path: string, hash: string, c: FileCounters): void {
    const list = this.files.get(path)!;
    const e = this.entry(path, hash, false);
    e.refs--;
    this.dirty.add(path);
    if (e.refs === 0) {
      list.splice(list.indexOf(e), 1);
      if (list.length === 0) this.files.delete(path);
      return;
    }
    subtractInto(own(e).counters, c);
    e.cov = undefined; // rebuilt on the next read (removals are rare: restarts seen late, retention, clears)
  }
}

/** The entry with counters of its own (a copy of the part it shared), ready to be written. */
function own(e: Entry): Entry {
  if (e.shared) {
    const c = e.counters;
    e.counters = { s: c.s.slice(), f: c.f.slice(), b: c.b.map((arms) => arms.slice()) };
    e.shared = false;
  }
  return e;
}

/**
 * For an entry that is one part's counters, going from `prev` to `next`:
 * applies to its counts the counters that crossed zero (as addDiff does for
 * a sum). True when the file must be summarised again (a flip, or a vector
 * that changed length, which drops the counts).
 */
function followFlips(e: Entry, next: FileCounters, prev: FileCounters): boolean {
  if (next.s.length !== prev.s.length || next.f.length !== prev.f.length || next.b.length !== prev.b.length) {
    e.cov = undefined;
    return true;
  }
  let flags = flipsBetween(next.s, prev.s, e.cov, 's', 0);
  flags |= flipsBetween(next.f, prev.f, e.cov, 'f', 0);
  for (let i = 0; i < next.b.length; i++) flags |= flipsBetween(next.b[i]!, prev.b[i]!, e.cov, 'b', i);
  if (flags & GREW) e.cov = undefined;
  return flags !== 0;
}

function flipsBetween(a: number[], b: number[], cov: CoverageCounts | undefined, kind: 's' | 'f' | 'b', branch: number): number {
  if (a === b) return 0;
  if (a.length !== b.length) return GREW;
  let flags = 0;
  for (let i = 0; i < a.length; i++) {
    const now = a[i]!;
    const old = b[i]!;
    if ((old === 0) !== (now === 0)) {
      flags |= FLIPPED;
      if (cov) tellFlip(cov, kind, branch, i, now);
    }
  }
  return flags;
}

/** Counter `i` of `kind` (of branch `branch` for arms) is now `now`, on the other side of zero than before. */
function tellFlip(cov: CoverageCounts, kind: 's' | 'f' | 'b', branch: number, i: number, now: number): void {
  if (kind === 'b') cov.flip('b', branch, now === 0 ? -1 : 1, i);
  else cov.flip(kind, i, now === 0 ? -1 : 1);
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
        if (cov) tellFlip(cov, kind, branch, i, now);
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
