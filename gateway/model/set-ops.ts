import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData, FileCoverageData, Range } from './types.ts';

/** The set operations of `go tool covdata` (merge, subtract, intersect), on any two coverage maps. */
export const SET_OPS = ['merge', 'subtract', 'intersect'] as const;
export type SetOp = (typeof SET_OPS)[number];

export function isSetOp(v: unknown): v is SetOp {
  return typeof v === 'string' && (SET_OPS as readonly string[]).includes(v);
}

type Loc = { start: { line: number; column: number | null }; end: { line: number; column: number | null } };

/** A unit's identity across builds: its source location (as istanbul-lib-coverage merges). */
export const locationKey = (l: Loc | undefined): string =>
  l ? `${l.start.line}:${l.start.column ?? ''}-${l.end.line}:${l.end.column ?? ''}` : '?';
/** Istanbul numbers anonymous functions by their order in the file (`(anonymous_3)`), which differs between builds: not part of the identity. */
const fnKey = (fn: { name: string; decl?: Range; loc?: Range }) =>
  `${/^\(anonymous_\d+\)$/.test(fn.name) ? '(anonymous)' : fn.name}@${locationKey((fn.decl ?? fn.loc) as Loc)}`;
const branchKey = (br: { type: string; loc?: Range }) => `${br.type}@${locationKey(br.loc as Loc)}`;

/** B's counts by location: statements, functions, branch arms. Repeated locations (never in one Istanbul build, but be safe) are summed. */
interface CountsByLocation {
  s: Map<string, number>;
  f: Map<string, number>;
  b: Map<string, number[]>;
}

function countsByLocation(file: FileCoverageData | undefined): CountsByLocation {
  const out: CountsByLocation = { s: new Map(), f: new Map(), b: new Map() };
  if (!file) return out;
  for (const [id, range] of Object.entries(file.statementMap)) {
    const k = locationKey(range as Loc);
    out.s.set(k, (out.s.get(k) ?? 0) + (file.s[id] ?? 0));
  }
  for (const [id, fn] of Object.entries(file.fnMap)) {
    const k = fnKey(fn);
    out.f.set(k, (out.f.get(k) ?? 0) + (file.f[id] ?? 0));
  }
  for (const [id, br] of Object.entries(file.branchMap)) {
    const k = branchKey(br);
    const arms = file.b[id] ?? [];
    const cur = out.b.get(k) ?? [];
    out.b.set(k, arms.map((v, a) => v + (cur[a] ?? 0)));
  }
  return out;
}

/**
 * A ⊕ B for two merged coverage maps, unit by unit (statements — Go blocks and
 * whole-line statements of LCOV, Cobertura and coveralls included —,
 * functions, branch arms), matched by path and source location so builds that
 * differ still line up where they agree:
 *
 * - `merge`: A + B, istanbul-lib-coverage's `CoverageMap.merge` (counts summed;
 *   units only in B are added).
 * - `subtract`: A's count where B's count is 0, 0 elsewhere (what A covers
 *   that B does not).
 * - `intersect`: A's count where B's count is above 0, 0 elsewhere (covered in
 *   both).
 *
 * Subtract and intersect follow `go tool covdata` exactly
 * (cmd/covdata/subtractintersect.go, `sstate.VisitFuncCounterData`: the first
 * input's counters are kept and a counter is zeroed when the second input's
 * counter is non-zero (subtract) or zero (intersect); functions absent from the
 * second input are pruned (intersect), i.e. count 0). The result always has A's
 * structure (every unit of A, zeroed or not), so totals stay comparable with
 * A's; units only in B are ignored. Pure: the inputs are not modified.
 */
export function combineCoverage(a: CoverageMapData, b: CoverageMapData, op: SetOp): CoverageMapData {
  if (op === 'merge') {
    const map = libCoverage.createCoverageMap(structuredClone(a));
    map.merge(structuredClone(b));
    // Plain data, not FileCoverage instances (toJSON() keeps those): a result merged again (three builds carried) must clone as data.
    return Object.fromEntries(map.files().map((p) => [p, map.fileCoverageFor(p).toJSON()])) as CoverageMapData;
  }
  const keep = op === 'subtract' ? (bCount: number) => bCount === 0 : (bCount: number) => bCount > 0;
  const out: CoverageMapData = {};
  for (const [path, fa] of Object.entries(a)) {
    const other = countsByLocation(b[path]);
    const s: Record<string, number> = {};
    const f: Record<string, number> = {};
    const br: Record<string, number[]> = {};
    for (const [id, range] of Object.entries(fa.statementMap)) {
      s[id] = keep(other.s.get(locationKey(range as Loc)) ?? 0) ? (fa.s[id] ?? 0) : 0;
    }
    for (const [id, fn] of Object.entries(fa.fnMap)) {
      f[id] = keep(other.f.get(fnKey(fn)) ?? 0) ? (fa.f[id] ?? 0) : 0;
    }
    for (const [id, mapping] of Object.entries(fa.branchMap)) {
      const bArms = other.b.get(branchKey(mapping)) ?? [];
      br[id] = (fa.b[id] ?? []).map((v, arm) => (keep(bArms[arm] ?? 0) ? v : 0));
    }
    out[path] = { ...fa, s, f, b: br };
  }
  return out;
}
