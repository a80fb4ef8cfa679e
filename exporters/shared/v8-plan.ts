/**
 * Repeat V8 → Istanbul conversions without walking the AST again.
 *
 * ast-v8-to-istanbul computes every Istanbul counter from V8's ranges the same
 * way: `getCount(offset)`, the count of the innermost range holding one source
 * offset (its `normalize` + `getCount`), and for an `if` without `else` the
 * implicit arm is `count(node) - previous arm`. Which offset feeds which
 * counter depends only on the source, so a script's "plan" (counter → offset)
 * is learnt once and later conversions are one array read per counter: no
 * parse, no walk, no source-map lookups.
 *
 * The plan is read off the library itself, not re-derived: it converts
 * synthetic coverage where offset o has count o+1 (every counter then shows
 * its offset), and again with 3o+1 (a counter that sums several offsets, or
 * an implicit arm, is told apart by the second run). A plan is kept only if
 * it reproduces the library's output on real coverage exactly; otherwise the
 * script is always converted by the library. (Our own code: the library has
 * no API for it; measured in scripts/bench/v8-converters.ts.)
 */
import type { CoverageMapData } from 'istanbul-lib-coverage';

export interface V8Function {
  ranges: Array<{ startOffset: number; endOffset: number; count: number }>;
}

/** One counter's value: the count at an offset, 0, or (arm) count at an offset minus the previous arm. */
type Term = { at: number } | { zero: true } | { at: number; minusPrevious: true };

export interface Plan {
  files: Array<{ path: string; s: Array<[string, Term]>; f: Array<[string, Term]>; b: Array<[string, Term[]]> }>;
}

/**
 * The count ast-v8-to-istanbul's `getCount` finds at each offset: its
 * `normalize` paints ranges bigger first (ties: earlier end first) into a
 * Uint32Array, inner ranges last, and cuts runs of equal counts into
 * segments; the segment holding an offset has the painted count there, so
 * the painted array answers directly (0 past the last range).
 */
export function paintRanges(functions: V8Function[]): Uint32Array {
  const ranges: Array<{ startOffset: number; endOffset: number; count: number }> = [];
  for (const fn of functions) for (const r of fn.ranges) ranges.push(r);
  if (!ranges.length) return new Uint32Array(0);
  ranges.sort((a, b) => b.endOffset - b.startOffset - (a.endOffset - a.startOffset) || a.endOffset - b.endOffset);
  let maxEnd = 0;
  for (const r of ranges) if (r.endOffset > maxEnd) maxEnd = r.endOffset;
  const hits = new Uint32Array(maxEnd + 1);
  for (const r of ranges) hits.fill(r.count, r.startOffset, r.endOffset + 1);
  return hits;
}

/** Coverage where offset o (0..length) has count k·o + 1. */
export function syntheticFunctions(length: number, k: number): V8Function[] {
  const ranges = new Array(length + 1);
  for (let o = 0; o <= length; o++) ranges[o] = { startOffset: o, endOffset: o, count: k * o + 1 };
  return [{ ranges }];
}

const sameKeys = (a: object, b: object) => {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i]);
};

/** Reads a plan off two synthetic conversions (counts o+1 and 3o+1); undefined when they do not fit the plan's shape. */
export function learnPlan(a: CoverageMapData, b: CoverageMapData): Plan | undefined {
  if (!sameKeys(a, b)) return undefined;
  const plan: Plan = { files: [] };
  const single = (va: number, vb: number): Term | undefined => {
    if (va === 0 && vb === 0) return { zero: true };
    const o = va - 1;
    return o >= 0 && vb === 3 * o + 1 ? { at: o } : undefined;
  };
  for (const path of Object.keys(a)) {
    const fa = a[path]!;
    const fb = b[path]!;
    if (!sameKeys(fa.s, fb.s) || !sameKeys(fa.f, fb.f) || !sameKeys(fa.b, fb.b)) return undefined;
    const file: Plan['files'][number] = { path, s: [], f: [], b: [] };
    for (const id of Object.keys(fa.s)) {
      const t = single(fa.s[id]!, fb.s[id]!);
      if (!t) return undefined;
      file.s.push([id, t]);
    }
    for (const id of Object.keys(fa.f)) {
      const t = single(fa.f[id]!, fb.f[id]!);
      if (!t) return undefined;
      file.f.push([id, t]);
    }
    for (const id of Object.keys(fa.b)) {
      const arms = fa.b[id]!;
      const armsB = fb.b[id]!;
      if (arms.length !== armsB.length) return undefined;
      const terms: Term[] = [];
      for (let i = 0; i < arms.length; i++) {
        let t = single(arms[i]!, armsB[i]!);
        if (!t && i > 0) {
          // implicit arm: count(node) - previous arm
          const o = arms[i]! + arms[i - 1]! - 1;
          if (o >= 0 && armsB[i] === 3 * o + 1 - armsB[i - 1]!) t = { at: o, minusPrevious: true };
        }
        if (!t) return undefined;
        terms.push(t);
      }
      file.b.push([id, terms]);
    }
    plan.files.push(file);
  }
  return plan;
}

/** Counters of every file by the plan, for coverage `functions`. */
export function applyPlan(plan: Plan, functions: V8Function[]): Record<string, { s: Record<string, number>; f: Record<string, number>; b: Record<string, number[]> }> {
  const c = compiled(plan);
  const hits = countsAt(functions, c.offsets, c);
  const out: ReturnType<typeof applyPlan> = {};
  for (const file of c.files) {
    const s: Record<string, number> = {};
    const f: Record<string, number> = {};
    const b: Record<string, number[]> = {};
    for (let i = 0; i < file.sIds.length; i++) {
      const o = file.sAt[i]!;
      s[file.sIds[i]!] = o >= 0 ? hits[o]! : 0;
    }
    for (let i = 0; i < file.fIds.length; i++) {
      const o = file.fAt[i]!;
      f[file.fIds[i]!] = o >= 0 ? hits[o]! : 0;
    }
    for (let i = 0; i < file.bIds.length; i++) {
      const at = file.bAt[i]!;
      const minus = file.bMinus[i]!;
      const arms = new Array<number>(at.length);
      for (let k = 0; k < at.length; k++) {
        const o = at[k]!;
        const v = o >= 0 ? hits[o]! : 0;
        arms[k] = minus[k] ? v - (k > 0 ? arms[k - 1]! : 0) : v;
      }
      b[file.bIds[i]!] = arms;
    }
    out[file.path] = { s, f, b };
  }
  return out;
}

interface CompiledFile {
  path: string;
  sIds: string[];
  sAt: Int32Array;
  fIds: string[];
  fAt: Int32Array;
  bIds: string[];
  bAt: Int32Array[];
  bMinus: Uint8Array[];
}

/**
 * The counts `paintRanges` would give at the sorted source offsets
 * `offsets` only (result i is the count at offsets[i]): the innermost range
 * wins, as there. A plan reads a few offsets per statement, so this skips
 * painting every byte of the script on every conversion.
 */
export function paintOffsets(functions: V8Function[], offsets: Int32Array, cache: LayoutCache = {}): Uint32Array {
  return countsAt(functions, offsets, cache);
}

/** Where one script's ranges were at its last conversion (see countsAt); one per set of offsets. */
export interface LayoutCache {
  layout?: Layout;
}

/**
 * Which range paints each offset depends only on where the ranges are, and a
 * script's cumulative coverage keeps the same ranges from take to take once
 * its functions have run: `cache.layout` keeps the winning range per offset
 * for the ranges last seen, so a repeat conversion with the same ranges is
 * one array read per offset (no sort, no search). Any change of a range's
 * place or their number paints again.
 */
function countsAt(functions: V8Function[], offsets: Int32Array, cache: LayoutCache): Uint32Array {
  let n = 0;
  for (const fn of functions) n += fn.ranges.length;
  let layout = cache.layout;
  let same = layout !== undefined && layout.starts.length === n;
  const counts = new Float64Array(n);
  let k = 0;
  for (const fn of functions) {
    for (const r of fn.ranges) {
      if (same && (layout!.starts[k] !== r.startOffset || layout!.ends[k] !== r.endOffset)) same = false;
      counts[k++] = r.count;
    }
  }
  if (!same) cache.layout = layout = paintLayout(functions, n, offsets);
  const winner = layout!.winner;
  const hits = new Uint32Array(offsets.length);
  for (let i = 0; i < winner.length; i++) {
    const w = winner[i]!;
    if (w >= 0) hits[i] = counts[w]!;
  }
  return hits;
}

interface Layout {
  starts: Int32Array;
  ends: Int32Array;
  /** Per offset, the index (in the flattened order of `functions`' ranges) of the range that paints it last, or -1. */
  winner: Int32Array;
}

/** ast-v8-to-istanbul's painting order (bigger ranges first, ties: earlier end first, then input order), by range index. */
function paintLayout(functions: V8Function[], n: number, offsets: Int32Array): Layout {
  const starts = new Int32Array(n);
  const ends = new Int32Array(n);
  let k = 0;
  for (const fn of functions) {
    for (const r of fn.ranges) {
      starts[k] = r.startOffset;
      ends[k++] = r.endOffset;
    }
  }
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => ends[b]! - starts[b]! - (ends[a]! - starts[a]!) || ends[a]! - ends[b]! || a - b);
  const winner = new Int32Array(offsets.length).fill(-1);
  for (const r of order) {
    let lo = 0;
    let hi = offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (offsets[mid]! < starts[r]!) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < offsets.length && offsets[i]! <= ends[r]!; i++) winner[i] = r;
  }
  return { starts, ends, winner };
}

/**
 * The plan as flat arrays, built once per plan: the distinct source offsets
 * it reads (sorted), and per file the index into them (-1 = always 0).
 */
interface CompiledPlan {
  files: CompiledFile[];
  offsets: Int32Array;
  /** Where the ranges of the last conversion were, and which one painted each offset (see countsAt). */
  layout?: Layout;
}

const compiledPlans = new WeakMap<Plan, CompiledPlan>();
function compiled(plan: Plan): CompiledPlan {
  const known = compiledPlans.get(plan);
  if (known) return known;
  const all = new Set<number>();
  for (const file of plan.files) {
    for (const [, t] of [...file.s, ...file.f]) if (!('zero' in t)) all.add(t.at);
    for (const [, terms] of file.b) for (const t of terms) if (!('zero' in t)) all.add(t.at);
  }
  const offsets = Int32Array.from([...all].sort((a, b) => a - b));
  const index = new Map<number, number>();
  offsets.forEach((o, i) => index.set(o, i));
  const at = (t: Term) => ('zero' in t ? -1 : index.get(t.at)!);
  const files = plan.files.map((file) => ({
    path: file.path,
    sIds: file.s.map(([id]) => id),
    sAt: Int32Array.from(file.s, ([, t]) => at(t)),
    fIds: file.f.map(([id]) => id),
    fAt: Int32Array.from(file.f, ([, t]) => at(t)),
    bIds: file.b.map(([id]) => id),
    bAt: file.b.map(([, terms]) => Int32Array.from(terms, at)),
    bMinus: file.b.map(([, terms]) => Uint8Array.from(terms, (t) => ('minusPrevious' in t ? 1 : 0))),
  }));
  const c: CompiledPlan = { files, offsets };
  compiledPlans.set(plan, c);
  return c;
}

/** Whether the plan gives exactly the counters of `real` (the library's output for `functions`). */
export function planMatches(plan: Plan, functions: V8Function[], real: CoverageMapData): boolean {
  const ours = applyPlan(plan, functions);
  if (!sameKeys(ours, real)) return false;
  for (const [path, c] of Object.entries(ours)) {
    const r = real[path]!;
    if (!sameKeys(c.s, r.s) || !sameKeys(c.f, r.f) || !sameKeys(c.b, r.b)) return false;
    for (const k of Object.keys(c.s)) if (c.s[k] !== r.s[k]) return false;
    for (const k of Object.keys(c.f)) if (c.f[k] !== r.f[k]) return false;
    for (const k of Object.keys(c.b)) {
      const x = c.b[k]!;
      const y = r.b[k]!;
      if (x.length !== y.length || x.some((v, i) => v !== y[i])) return false;
    }
  }
  return true;
}
