import type { CoverageMapData, FileCoverageData, Range } from '../model/index.ts';
import type { DiffFile } from './parse.ts';

/** old line → new line through one file's hunks; undefined when the old line was removed or changed. */
export type LineMap = (oldLine: number) => number | undefined;

/**
 * The line map of one file of a diff. Lines outside every hunk move by the
 * lines the hunks above them added or removed; inside a hunk, context lines
 * move to their new place and removed lines (a changed line is a removal plus
 * an addition) have none. Hand-written: jsdiff applies patches to text but
 * does not map line numbers.
 */
export function lineMapOf(hunks: DiffFile['hunks']): LineMap {
  const sorted = [...hunks].sort((a, b) => a.oldStart - b.oldStart);
  const inside = new Map<number, number | undefined>();
  // For each hunk: the last old line it covers and the offset it leaves for lines after it.
  const ends: Array<{ lastOld: number; offsetAfter: number }> = [];
  let offset = 0;
  for (const h of sorted) {
    let o = h.oldStart;
    let n = h.newStart;
    for (const l of h.lines) {
      const c = l[0];
      if (c === ' ') inside.set(o++, n++);
      else if (c === '-') inside.set(o++, undefined);
      else if (c === '+') n++;
    }
    offset += h.newLines - h.oldLines;
    // A pure insertion (oldLines 0): jsdiff gives oldStart as the old line it is inserted before
    // (git's header names the line after which, `-0,0` at the top; jsdiff adds 1).
    ends.push({ lastOld: h.oldLines === 0 ? h.oldStart - 1 : h.oldStart + h.oldLines - 1, offsetAfter: offset });
  }
  return (oldLine) => {
    if (inside.has(oldLine)) return inside.get(oldLine);
    let off = 0;
    for (const e of ends) {
      if (e.lastOld < oldLine) off = e.offsetAfter;
      else break;
    }
    return oldLine + off;
  };
}

const identity: LineMap = (l) => l;

/** The range moved to the new file when none of its lines changed (every line maps, and they stay contiguous). */
function moveRange(r: Range | undefined, map: LineMap): Range | undefined {
  if (!r) return undefined;
  // Istanbul's implicit `else` arm has an empty location ({start: {}, end: {}}): nothing to move.
  if (typeof r.start?.line !== 'number' || typeof r.end?.line !== 'number') return r;
  const s = map(r.start.line);
  const e = map(r.end.line);
  if (s === undefined || e === undefined || e - s !== r.end.line - r.start.line) return undefined;
  for (let l = r.start.line + 1; l < r.end.line; l++) if (map(l) === undefined) return undefined;
  return { start: { line: s, column: r.start.column }, end: { line: e, column: r.end.column } };
}

/** Istanbul numbers anonymous functions by their order in the file (`(anonymous_3)`), which changes across builds. */
const fnName = (name: string) => (/^\(anonymous_\d+\)$/.test(name) ? '(anonymous)' : name);

const key = (r: Range | undefined) => (r ? `${r.start.line}:${r.start.column}-${r.end.line}:${r.end.column}` : '?');

/**
 * The counts of an old build's file carried onto the new build's structure:
 * a statement (Go block, whole-line statement), function or branch of the new
 * file receives the count of the old unit that, moved through `map`, sits at
 * exactly its place and had no line changed (functions: their whole body;
 * branches: the whole construct and every arm). Everything else of the new
 * file gets 0, so changed and removed code never receives old counts. Returns
 * the new file's structure with only the carried counts.
 */
export function carryFile(oldData: FileCoverageData, newData: FileCoverageData, map: LineMap = identity): FileCoverageData {
  const s: Record<string, number> = {};
  const f: Record<string, number> = {};
  const b: Record<string, number[]> = {};
  const oldS = new Map<string, number>();
  for (const [id, r] of Object.entries(oldData.statementMap)) {
    const k = key(moveRange(r, map));
    if (k !== '?') oldS.set(k, (oldS.get(k) ?? 0) + (oldData.s[id] ?? 0));
  }
  const oldF = new Map<string, number>();
  for (const [id, fn] of Object.entries(oldData.fnMap)) {
    const body = moveRange(fn.loc, map);
    const decl = moveRange(fn.decl ?? fn.loc, map);
    if (!body || !decl) continue;
    const k = `${fnName(fn.name)}@${key(decl)}@${key(body)}`;
    oldF.set(k, (oldF.get(k) ?? 0) + (oldData.f[id] ?? 0));
  }
  const oldB = new Map<string, number[]>();
  for (const [id, br] of Object.entries(oldData.branchMap)) {
    const loc = moveRange(br.loc, map);
    const arms = br.locations.map((r) => moveRange(r, map));
    if (!loc || arms.some((a) => a === undefined && br.locations.length > 0)) continue;
    const k = `${br.type}@${key(loc)}@${arms.map(key).join(';')}`;
    const cur = oldB.get(k) ?? [];
    oldB.set(k, (oldData.b[id] ?? []).map((v, i) => v + (cur[i] ?? 0)));
  }
  for (const [id, r] of Object.entries(newData.statementMap)) s[id] = oldS.get(key(r)) ?? 0;
  for (const [id, fn] of Object.entries(newData.fnMap)) f[id] = oldF.get(`${fnName(fn.name)}@${key(fn.decl ?? fn.loc)}@${key(fn.loc)}`) ?? 0;
  for (const [id, br] of Object.entries(newData.branchMap)) {
    const carried = oldB.get(`${br.type}@${key(br.loc)}@${br.locations.map(key).join(';')}`) ?? [];
    b[id] = (newData.b[id] ?? br.locations.map(() => 0)).map((_, i) => carried[i] ?? 0);
  }
  return { ...newData, s, f, b };
}

/**
 * An old build's coverage carried onto the new build's files through the diff
 * between the two commits. `pathOf` gives a coverage path's repository path
 * (path_map, roots); a file the diff renames is found under its old name, a
 * file the diff does not mention is unchanged. Files of the new build that the
 * old build did not have, and files the diff deletes or adds, carry nothing.
 * Returns, for the new build's paths, the carried counts only.
 */
export function carryCoverage(
  oldMap: CoverageMapData,
  newMap: CoverageMapData,
  diff: DiffFile[] | FileChange[],
  pathOf: (coveragePath: string) => string | undefined,
): CoverageMapData {
  const byNewPath = new Map<string, FileChange>();
  for (const f of changesOf(diff)) if (f.newPath !== undefined) byNewPath.set(f.newPath, f);
  const oldByRepoPath = new Map<string, string>();
  for (const p of Object.keys(oldMap)) {
    const rp = pathOf(p);
    if (rp !== undefined && !oldByRepoPath.has(rp)) oldByRepoPath.set(rp, p);
  }
  const out: CoverageMapData = {};
  for (const [path, data] of Object.entries(newMap)) {
    const rp = pathOf(path);
    const change = rp === undefined ? undefined : byNewPath.get(rp);
    if (change?.status === 'added') continue;
    const oldRepoPath = change?.oldPath ?? rp;
    const oldPath = oldRepoPath === undefined ? (oldMap[path] ? path : undefined) : (oldByRepoPath.get(oldRepoPath) ?? (oldMap[path] ? path : undefined));
    if (oldPath === undefined) continue;
    out[path] = carryFile(oldMap[oldPath]!, data, change ? change.map : identity);
  }
  return out;
}

/** One file of a change between two builds, as carrying needs it: where it was, where it is, how its lines moved. */
export interface FileChange {
  oldPath?: string;
  newPath?: string;
  status: DiffFile['status'];
  map: LineMap;
}

/** A parsed diff as file changes (already-converted changes are returned as they are). */
export function changesOf(diff: DiffFile[] | FileChange[]): FileChange[] {
  return diff.map((f) => ('hunks' in f ? { ...(f.oldPath !== undefined ? { oldPath: f.oldPath } : {}), ...(f.newPath !== undefined ? { newPath: f.newPath } : {}), status: f.status, map: lineMapOf(f.hunks) } : f));
}

/**
 * The change A→C from the changes A→B (`first`) and B→C (`then`), as when
 * each build uploads the diff from the build before it: a line keeps a place
 * only when both steps give it one, renames chain, a file added by either
 * step carries nothing from A, and a file only one step touches keeps that
 * step's change.
 */
export function composeChanges(first: DiffFile[] | FileChange[], then: DiffFile[] | FileChange[]): FileChange[] {
  const a = changesOf(first);
  const firstByNew = new Map<string, FileChange>();
  for (const f of a) if (f.newPath !== undefined) firstByNew.set(f.newPath, f);
  const consumed = new Set<string>();
  const out: FileChange[] = [];
  for (const t of changesOf(then)) {
    const f = t.oldPath === undefined ? undefined : firstByNew.get(t.oldPath);
    if (!f) {
      out.push(t);
      continue;
    }
    consumed.add(f.newPath!);
    if (f.status === 'added' || f.oldPath === undefined) {
      // Added after A: nothing of A lands on it, whatever the second step did.
      if (t.newPath !== undefined) out.push({ newPath: t.newPath, status: 'added', map: () => undefined });
      continue;
    }
    const status: DiffFile['status'] = t.newPath === undefined ? 'deleted' : t.newPath !== f.oldPath ? 'renamed' : 'modified';
    out.push({
      oldPath: f.oldPath,
      ...(t.newPath !== undefined ? { newPath: t.newPath } : {}),
      status,
      map: (l) => {
        const m = f.map(l);
        return m === undefined ? undefined : t.map(m);
      },
    });
  }
  for (const f of a) if (f.newPath === undefined || !consumed.has(f.newPath)) out.push(f);
  return out;
}

/** A line that received counts carried from older builds. */
export interface CarriedLine {
  /** Carried hits (summed over the older builds). */
  hits: number;
  /** The newest build's own hits on the line. */
  observed: number;
  /** When the line was last seen run (epoch ms): the last scrape of the newest older build that ran it. */
  lastSeen: number;
  /** That build's commit. */
  from: string;
}
