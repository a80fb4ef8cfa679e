/**
 * Summaries straight from counter vectors, without joining them back into an
 * Istanbul map and building a FileCoverage per file: each structure gets an
 * index once (which line each statement starts on, how many arms each branch
 * has, Go blocks' statement weights), and a file's summary is then one pass
 * over its counters. The result equals `summarizeOne(joinFile(structure,
 * counters))` (test/merge/fast-summary.test.ts checks it against that).
 */
import { CounterSet, type FileCounters, type FileStructure, type StructureLookup } from '../model/index.ts';
import { combineFileSummaries, factsOf, percent, summarizeOne, type FileFacts, type FileSummary } from '../model/summary.ts';
import type { Summary, Totals } from '../model/index.ts';

/** What a file's summary needs from its structure, index-aligned with its counters. */
export interface StructureIndex {
  nS: number;
  nF: number;
  nB: number;
  /** Per statement: its start line's slot (0..lines-1), or -1 when the statement map lacks the id. */
  lineSlot: Int32Array;
  lines: number;
  /** Per branch: the number of its locations (arms). */
  arms: Int32Array;
  facts: FileFacts;
  /** Go blocks in statement-map order: the counter index (-1 when the id is not a counter index) and numStmts. */
  goIdx?: Int32Array;
  goWeight?: Float64Array;
}

export function indexStructure(st: FileStructure): StructureIndex {
  const nS = Object.keys(st.statementMap).length;
  const nF = Object.keys(st.fnMap).length;
  const nB = Object.keys(st.branchMap).length;
  const lineSlot = new Int32Array(nS);
  const slots = new Map<number, number>();
  for (let i = 0; i < nS; i++) {
    const range = st.statementMap[i];
    if (!range) {
      lineSlot[i] = -1;
      continue;
    }
    const line = range.start.line;
    let slot = slots.get(line);
    if (slot === undefined) slots.set(line, (slot = slots.size));
    lineSlot[i] = slot;
  }
  const arms = new Int32Array(nB);
  for (let i = 0; i < nB; i++) arms[i] = st.branchMap[i]?.locations.length ?? 0;
  // factsOf reads only the maps, which a structure has.
  const facts = factsOf({ ...st, s: {}, f: {}, b: {} } as never);
  const index: StructureIndex = { nS, nF, nB, lineSlot, lines: slots.size, arms, facts };
  if (facts.go) {
    const entries = Object.entries(st.statementMap);
    index.goIdx = new Int32Array(entries.length);
    index.goWeight = new Float64Array(entries.length);
    entries.forEach(([id, range], k) => {
      const n = Number(id);
      index.goIdx![k] = Number.isInteger(n) && n >= 0 && n < nS && String(n) === id ? n : -1;
      const w = (range as { numStmts?: unknown }).numStmts as number;
      index.goWeight![k] = w;
    });
  }
  return index;
}

const totals = (covered: number, total: number): Totals => ({ total, covered, skipped: 0, pct: percent(covered, total) });

/** The file's summary from its counters, equal to `summarizeOne(joinFile(structure, counters))`. */
export function summarizeCounters(ix: StructureIndex, c: FileCounters): FileSummary {
  const lineMax = new Float64Array(ix.lines).fill(-Infinity);
  let sCovered = 0;
  for (let i = 0; i < ix.nS; i++) {
    const v = c.s[i] ?? 0;
    if (v) sCovered++;
    const slot = ix.lineSlot[i]!;
    if (slot >= 0 && lineMax[slot]! < v) lineMax[slot] = v;
  }
  let lCovered = 0;
  for (let l = 0; l < ix.lines; l++) if (lineMax[l]) lCovered++;
  let fCovered = 0;
  for (let i = 0; i < ix.nF; i++) if (c.f[i] ?? 0) fCovered++;
  let bTotal = 0;
  let bCovered = 0;
  for (let i = 0; i < ix.nB; i++) {
    const hits = c.b[i];
    const n = Math.max(ix.arms[i]!, hits?.length ?? 0);
    bTotal += n;
    if (hits) for (let k = 0; k < n; k++) if ((hits[k] ?? 0) > 0) bCovered++;
  }
  let statements = totals(sCovered, ix.nS);
  if (ix.facts.go) {
    let total = 0;
    let covered = 0;
    for (let k = 0; k < ix.goIdx!.length; k++) {
      const w = ix.goWeight![k]!;
      total += w;
      const i = ix.goIdx![k]!;
      if (i >= 0 && (c.s[i] ?? 0) > 0) covered += w;
    }
    statements = totals(covered, total);
  }
  const summary: Summary = {
    lines: totals(lCovered, ix.lines),
    statements,
    functions: totals(fCovered, ix.nF),
    branches: totals(bCovered, bTotal),
    semantics: ix.facts.go ? 'go-statements' : 'istanbul',
  };
  if (!ix.facts.functionsAvailable) summary.functions.available = false;
  if (!ix.facts.branchesAvailable) summary.branches.available = false;
  return { summary, facts: ix.facts };
}

/**
 * Which counters of one file's summed vector are non-zero, as counts kept up
 * to date one flip at a time (`flip`), so that a file whose counters keep
 * changing is summarised in O(1) (`summary`) instead of one pass over them.
 * `summary()` equals `summarizeCounters(ix, counters)` as long as every
 * zero/non-zero change of `counters` was passed to `flip` and its shape
 * (vector lengths) did not change (the owner drops the counts then).
 */
export class CoverageCounts {
  private s = 0;
  private f = 0;
  private b = 0;
  private bTotal = 0;
  private l = 0;
  private go = 0;
  private readonly lineHits: Int32Array;
  private readonly goWeightOf?: Float64Array;

  constructor(
    private readonly ix: StructureIndex,
    c: FileCounters,
  ) {
    this.lineHits = new Int32Array(ix.lines);
    if (ix.facts.go) {
      this.goWeightOf = new Float64Array(ix.nS);
      for (let k = 0; k < ix.goIdx!.length; k++) {
        const i = ix.goIdx![k]!;
        if (i >= 0) this.goWeightOf[i]! += ix.goWeight![k]!;
      }
    }
    for (let i = 0; i < ix.nS; i++) if (c.s[i] ?? 0) this.statement(i, 1);
    for (let i = 0; i < ix.nF; i++) if (c.f[i] ?? 0) this.f++;
    for (let i = 0; i < ix.nB; i++) {
      const hits = c.b[i];
      this.bTotal += Math.max(ix.arms[i]!, hits?.length ?? 0);
      if (hits) for (let k = 0; k < hits.length; k++) if ((hits[k] ?? 0) > 0) this.b++;
    }
  }

  private statement(i: number, d: 1 | -1): void {
    this.s += d;
    const slot = this.ix.lineSlot[i]!;
    if (slot >= 0) {
      const before = this.lineHits[slot]!;
      this.lineHits[slot] = before + d;
      if (before === 0) this.l++;
      else if (before + d === 0) this.l--;
    }
    if (this.goWeightOf) this.go += d * this.goWeightOf[i]!;
  }

  /** Counter `i` of kind `kind` (branch `i`, arm `arm`) became non-zero (`d = 1`) or zero (`d = -1`). */
  flip(kind: 's' | 'f' | 'b', i: number, d: 1 | -1, arm = 0): void {
    if (kind === 's') {
      if (i < this.ix.nS) this.statement(i, d);
    } else if (kind === 'f') {
      if (i < this.ix.nF) this.f += d;
    } else if (i < this.ix.nB && arm >= 0) this.b += d;
  }

  /** Adds this file's totals to `acc`, as `acc.addFile(this.summary())` would, without building the summary. */
  addTo(acc: SummaryAccumulator): void {
    const ix = this.ix;
    if (ix.facts.go) {
      let total = 0;
      for (let k = 0; k < ix.goWeight!.length; k++) total += ix.goWeight![k]!;
      acc.add(ix.facts, this.l, ix.lines, this.go, total, this.f, ix.nF, this.b, this.bTotal);
    } else acc.add(ix.facts, this.l, ix.lines, this.s, ix.nS, this.f, ix.nF, this.b, this.bTotal);
  }

  summary(): FileSummary {
    const ix = this.ix;
    let total = 0;
    if (ix.facts.go) for (let k = 0; k < ix.goWeight!.length; k++) total += ix.goWeight![k]!;
    const summary: Summary = {
      lines: totals(this.l, ix.lines),
      statements: ix.facts.go ? totals(this.go, total) : totals(this.s, ix.nS),
      functions: totals(this.f, ix.nF),
      branches: totals(this.b, this.bTotal),
      semantics: ix.facts.go ? 'go-statements' : 'istanbul',
    };
    if (!ix.facts.functionsAvailable) summary.functions.available = false;
    if (!ix.facts.branchesAvailable) summary.branches.available = false;
    return { summary, facts: ix.facts };
  }
}

/**
 * Summaries of counter sets by structure index. Indexes are kept per
 * structure hash (a content hash: a hash never names two structures).
 */
export class Summarizer {
  private readonly indexes = new Map<string, StructureIndex | null>();

  constructor(private readonly lookup: StructureLookup) {}

  index(hash: string): StructureIndex | undefined {
    let ix = this.indexes.get(hash);
    if (ix === undefined) {
      const st = this.lookup(hash);
      // An unknown structure is not remembered: it may be stored later.
      if (!st) return undefined;
      this.indexes.set(hash, (ix = indexStructure(st)));
    }
    return ix ?? undefined;
  }

  /**
   * One path's summary from its counters per structure hash; undefined when no
   * structure of the path is known (the file is left out, as toCoverageMap
   * leaves it out). Several builds of a path are merged by location first.
   */
  file(path: string, byHash: Map<string, FileCounters>): FileSummary | undefined {
    if (byHash.size === 1) {
      const [hash, counters] = byHash.entries().next().value as [string, FileCounters];
      const ix = this.index(hash);
      return ix ? summarizeCounters(ix, counters) : undefined;
    }
    const one = new CounterSet();
    for (const [hash, c] of byHash) one.addFile(path, hash, c);
    const data = one.toCoverageMap(this.lookup).map[path];
    return data ? summarizeOne(data) : undefined;
  }

  /** The set's summary, equal to `summarize(set.toCoverageMap(lookup).map)`. */
  summary(set: CounterSet): Summary {
    const files: FileSummary[] = [];
    for (const [path, byHash] of set.entries()) {
      const f = this.file(path, byHash);
      if (f) files.push(f);
    }
    return combineFileSummaries(files);
  }
}

export { combineFileSummaries };

/**
 * combineFileSummaries without a summary object per file: totals are added
 * as numbers (file summaries are combined on every read of every target's
 * and service's sum, and building them was most of /metrics at 1,000
 * targets). `summary()` equals combineFileSummaries of the same files.
 */
interface Skipped {
  l: number;
  s: number;
  f: number;
  b: number;
}
const NONE_SKIPPED: Skipped = { l: 0, s: 0, f: 0, b: 0 };

export class SummaryAccumulator {
  private files = 0;
  private goFiles = 0;
  private fAvailable = 0;
  private bAvailable = 0;
  // covered, total, skipped per kind
  private readonly t = new Float64Array(12);

  /** One file's covered and total per kind (lines, statements, functions, branches), and its skipped counts. */
  add(facts: FileFacts, l: number, lT: number, s: number, sT: number, f: number, fT: number, b: number, bT: number, skipped: Skipped = NONE_SKIPPED): void {
    const t = this.t;
    this.files++;
    if (facts.go) this.goFiles++;
    t[0]! += l;
    t[1]! += lT;
    t[2]! += skipped.l;
    t[3]! += s;
    t[4]! += sT;
    t[5]! += skipped.s;
    if (facts.functionsAvailable) {
      this.fAvailable++;
      t[6]! += f;
      t[7]! += fT;
      t[8]! += skipped.f;
    }
    if (facts.branchesAvailable) {
      this.bAvailable++;
      t[9]! += b;
      t[10]! += bT;
      t[11]! += skipped.b;
    }
  }

  addFile(fs: FileSummary): void {
    const { lines, statements, functions, branches } = fs.summary;
    this.add(fs.facts, lines.covered, lines.total, statements.covered, statements.total, functions.covered, functions.total, branches.covered, branches.total, {
      l: lines.skipped,
      s: statements.skipped,
      f: functions.skipped,
      b: branches.skipped,
    });
  }

  summary(): Summary {
    const t = this.t;
    const kind = (i: number): Totals => ({ total: t[i + 1]!, covered: t[i]!, skipped: t[i + 2]!, pct: percent(t[i]!, t[i + 1]!) });
    const out: Summary = {
      lines: kind(0),
      statements: kind(3),
      functions: kind(6),
      branches: kind(9),
      semantics: this.files === 0 || this.goFiles === 0 ? 'istanbul' : this.goFiles === this.files ? 'go-statements' : 'mixed',
    };
    if (this.files > 0 && this.fAvailable === 0) out.functions.available = false;
    if (this.files > 0 && this.bAvailable === 0) out.branches.available = false;
    return out;
  }
}
