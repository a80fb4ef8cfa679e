import libCoverage from 'istanbul-lib-coverage';
import { addCountersInto, cloneCounters, subtractCounters } from './counters.ts';
import { joinFile } from './split.ts';
import type { CoverageMapData, FileCounters, Snapshot, StructureLookup } from './types.ts';

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

  /** A new set of what ran in `this` beyond `baseline` (clamped at zero), file by file and build by build. */
  minus(baseline: CounterSet): CounterSet {
    const out = new CounterSet();
    for (const [path, byHash] of this.files) {
      for (const [hash, c] of byHash) {
        const base = baseline.files.get(path)?.get(hash);
        out.addFile(path, hash, base ? subtractCounters(c, base) : c);
      }
    }
    return out;
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
