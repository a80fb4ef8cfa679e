import libCoverage from 'istanbul-lib-coverage';
import { addCountersInto, cloneCounters, subtractCounters } from './counters.ts';
import { joinFile } from './split.ts';
import type { CoverageMapData, FileCounters, FileStructure, Snapshot, StructureLookup } from './types.ts';

/** JSON form of a CounterSet: path → structure hash → counters. */
export type CounterSetData = Record<string, Record<string, FileCounters>>;

/**
 * A sum of snapshots: for every path, one counter vector per structure hash.
 * Adding snapshots of the same build is index-wise addition (the fast path);
 * different builds of a path stay apart until `toCoverageMap`, which merges
 * them by source location as istanbul-lib-coverage does.
 */
export class CounterSet {
  private readonly files = new Map<string, Map<string, FileCounters>>();

  static fromJSON(data: CounterSetData): CounterSet {
    const set = new CounterSet();
    for (const [path, byHash] of Object.entries(data)) {
      for (const [hash, counters] of Object.entries(byHash)) set.addFile(path, hash, counters);
    }
    return set;
  }

  static fromSnapshot(snapshot: Snapshot): CounterSet {
    return new CounterSet().addSnapshot(snapshot);
  }

  /** Adds one file's counters (copied, never aliased). */
  addFile(path: string, hash: string, counters: FileCounters): this {
    let byHash = this.files.get(path);
    if (!byHash) this.files.set(path, (byHash = new Map()));
    const cur = byHash.get(hash);
    if (cur) addCountersInto(cur, counters);
    else byHash.set(hash, cloneCounters(counters));
    return this;
  }

  addSnapshot(snapshot: Snapshot): this {
    for (const [path, file] of Object.entries(snapshot)) this.addFile(path, file.structure, file.counters);
    return this;
  }

  addSet(other: CounterSet): this {
    for (const [path, byHash] of other.files) for (const [hash, c] of byHash) this.addFile(path, hash, c);
    return this;
  }

  /**
   * A new set of what ran in `this` beyond `baseline` (clamped at zero), file
   * by file and build by build. With `lookup`, a file whose structure changed
   * between baseline and now (the same process reporting it differently) is
   * subtracted by source location: statements, functions and branch arms at
   * the same place are the same counters. Without a lookup, or for places the
   * baseline did not know, the baseline counts as empty.
   */
  minus(baseline: CounterSet, lookup?: StructureLookup): CounterSet {
    const out = new CounterSet();
    for (const [path, byHash] of this.files) {
      for (const [hash, c] of byHash) {
        const baseByHash = baseline.files.get(path);
        const base = baseByHash?.get(hash);
        if (base) out.addFile(path, hash, subtractCounters(c, base));
        else if (baseByHash && lookup) out.addFile(path, hash, subtractByLocation(c, hash, baseByHash, lookup));
        else out.addFile(path, hash, c);
      }
    }
    return out;
  }

  /** The counters of one path and structure (shared, read-only), if the set has them. */
  file(path: string, hash: string): FileCounters | undefined {
    return this.files.get(path)?.get(hash);
  }

  get size(): number {
    return this.files.size;
  }

  paths(): string[] {
    return [...this.files.keys()];
  }

  hashes(): Set<string> {
    const out = new Set<string>();
    for (const byHash of this.files.values()) for (const h of byHash.keys()) out.add(h);
    return out;
  }

  entries(): IterableIterator<[string, Map<string, FileCounters>]> {
    return this.files.entries();
  }

  toJSON(): CounterSetData {
    const out: CounterSetData = {};
    for (const [path, byHash] of this.files) {
      out[path] = {};
      for (const [hash, c] of byHash) out[path]![hash] = c;
    }
    return out;
  }

  /**
   * Istanbul coverage map of this set. Builds of a path sharing a structure
   * were already added by index; distinct builds are merged by source location
   * with istanbul-lib-coverage (in hash order, so the result is deterministic).
   * A file whose structure is unknown is skipped and reported in `missing`,
   * never failing the whole merge.
   */
  toCoverageMap(lookup: StructureLookup): { map: CoverageMapData; missing: string[] } {
    const map: CoverageMapData = {};
    const missing: string[] = [];
    for (const [path, byHash] of this.files) {
      const parts: ReturnType<typeof joinFile>[] = [];
      for (const hash of [...byHash.keys()].sort()) {
        const structure = lookup(hash);
        if (!structure) {
          missing.push(hash);
          continue;
        }
        parts.push(joinFile(structure, byHash.get(hash)!));
      }
      if (parts.length === 0) continue;
      if (parts.length === 1) {
        map[path] = parts[0]!;
        continue;
      }
      const fc = libCoverage.createFileCoverage(structuredClone(parts[0]!));
      for (const p of parts.slice(1)) {
        try {
          fc.merge(p);
        } catch {
          // A malformed build of the file must not fail the merge of the others.
          missing.push(`${path}@unmergeable`);
        }
      }
      map[path] = fc.toJSON() as CoverageMapData[string];
    }
    return { map, missing };
  }
}

type Loc = { start: { line: number; column: number | null }; end: { line: number; column: number | null } };
const locKey = (l: Loc | undefined): string =>
  l ? `${l.start.line}:${l.start.column ?? ''}-${l.end.line}:${l.end.column ?? ''}` : '?';

/**
 * Location keys of one structure, index-aligned with its counters. Written
 * here because istanbul-lib-coverage merges by location but has no subtraction.
 */
function locationKeys(st: FileStructure): { s: string[]; f: string[]; b: string[] } {
  const s: string[] = [];
  const f: string[] = [];
  const b: string[] = [];
  for (let i = 0; i < Object.keys(st.statementMap).length; i++) s.push(locKey(st.statementMap[i] as Loc));
  for (let i = 0; i < Object.keys(st.fnMap).length; i++) {
    const fn = st.fnMap[i]!;
    f.push(`${fn.name}@${locKey((fn.decl ?? fn.loc) as Loc)}`);
  }
  for (let i = 0; i < Object.keys(st.branchMap).length; i++) {
    const br = st.branchMap[i]!;
    b.push(`${br.type}@${locKey(br.loc as Loc)}`);
  }
  return { s, f, b };
}

/** Counters `c` (structure `hash`) minus the baseline's counters of other builds, matched by source location. */
function subtractByLocation(
  c: FileCounters,
  hash: string,
  baseByHash: Map<string, FileCounters>,
  lookup: StructureLookup,
): FileCounters {
  const st = lookup(hash);
  if (!st) return cloneCounters(c);
  const baseS = new Map<string, number>();
  const baseF = new Map<string, number>();
  const baseB = new Map<string, number[]>();
  for (const [h, bc] of baseByHash) {
    const bst = lookup(h);
    if (!bst) continue;
    const keys = locationKeys(bst);
    keys.s.forEach((k, i) => baseS.set(k, (baseS.get(k) ?? 0) + (bc.s[i] ?? 0)));
    keys.f.forEach((k, i) => baseF.set(k, (baseF.get(k) ?? 0) + (bc.f[i] ?? 0)));
    keys.b.forEach((k, i) => {
      const arms = bc.b[i] ?? [];
      const cur = baseB.get(k) ?? [];
      baseB.set(k, arms.map((v, a) => v + (cur[a] ?? 0)));
    });
  }
  const keys = locationKeys(st);
  return {
    s: c.s.map((v, i) => Math.max(0, v - (baseS.get(keys.s[i]!) ?? 0))),
    f: c.f.map((v, i) => Math.max(0, v - (baseF.get(keys.f[i]!) ?? 0))),
    b: c.b.map((arms, i) => {
      const base = baseB.get(keys.b[i]!) ?? [];
      return arms.map((v, a) => Math.max(0, v - (base[a] ?? 0)));
    }),
  };
}
