import { errors } from '../errors.ts';
import { isGoFile, lineCounts, type CoverageMapData } from '../model/index.ts';
import type { CarriedLine } from './carry.ts';
import type { DiffFile } from './parse.ts';
import { createPathIndex, type PathMapping } from './path-map.ts';

/** A changed line: its number in the new file, its hits (null: not coverable, e.g. a comment or a blank line). */
export interface ChangedLine {
  line: number;
  hits: number | null;
  text: string;
  /** Counts carried from older builds onto this line (carry=lines), and when it was last seen run there. */
  carried?: { hits: number; observed: number; lastSeen: string; from: string };
}

export interface DiffCoverageTotals {
  /** Added or modified lines in files found in the coverage. */
  changed: number;
  coverable: number;
  covered: number;
  missed: number;
  /** covered / coverable; 1 when nothing changed is coverable (Istanbul shows 100% for an empty kind). */
  ratio: number;
  /** With carry: covered lines the newest build ran itself, and those covered only by counts carried from older builds. */
  observed?: number;
  carried?: number;
}

export interface DiffCoverageFile extends DiffCoverageTotals {
  /** Repository path (new side). */
  path: string;
  oldPath?: string;
  status: DiffFile['status'];
  /** The path the coverage knows the file by. */
  coveragePath: string;
  lines: ChangedLine[];
}

export interface DiffCoverageReport {
  totals: DiffCoverageTotals;
  files: DiffCoverageFile[];
  /** Files of the diff with added lines that are not in the coverage (not code, or never loaded): not counted. */
  unmatched: string[];
}

function totalsOf(lines: ChangedLine[]): DiffCoverageTotals {
  let coverable = 0;
  let covered = 0;
  for (const l of lines) {
    if (l.hits === null) continue;
    coverable++;
    if (l.hits > 0) covered++;
  }
  return { changed: lines.length, coverable, covered, missed: coverable - covered, ratio: coverable === 0 ? 1 : covered / coverable };
}

/**
 * Coverage of the lines a diff adds or changes (the new side of every hunk),
 * per file and in total. A changed line is coverable when the coverage has a
 * count for it (model `lineCounts`: Istanbul's line rule; every line of a Go
 * block, except blank and comment-only lines, which the diff shows us);
 * covered when that count is above 0. Deleted files and binary files add no
 * lines. Diff files are found in the coverage through `mapping` (path_map,
 * roots, then a unique suffix). When the diff adds lines but none of its
 * files is in the coverage although some are of a kind the coverage has (same
 * extension), or the selection has no coverage, that is a mapping problem,
 * not 0%: throws COVGATE_NOT_FOUND listing the diff's files and a few
 * coverage paths. A change of only other files (docs) reports nothing changed.
 */
export function computeDiffCoverage(diff: DiffFile[], map: CoverageMapData, mapping: PathMapping): DiffCoverageReport {
  const index = createPathIndex(Object.keys(map), mapping);
  const files: DiffCoverageFile[] = [];
  const unmatched: string[] = [];
  for (const f of diff) {
    if (f.status === 'deleted' || f.newPath === undefined || f.added.length === 0) continue;
    const coveragePath = index.lookup(f.newPath);
    if (coveragePath === undefined) {
      unmatched.push(f.newPath);
      continue;
    }
    const data = map[coveragePath]!;
    const counts = lineCounts(data);
    const go = isGoFile(data);
    const lines: ChangedLine[] = f.added.map((line) => {
      const text = f.text.get(line) ?? '';
      const blank = go && (text.trim() === '' || text.trim().startsWith('//'));
      const hits = blank ? undefined : counts.get(line);
      return { line, hits: hits ?? null, text };
    });
    const file: DiffCoverageFile = { path: f.newPath, status: f.status, coveragePath, ...totalsOf(lines), lines };
    if (f.oldPath !== undefined && f.oldPath !== f.newPath) file.oldPath = f.oldPath;
    files.push(file);
  }
  // None matched: a mapping problem when an unmatched file is of a kind the coverage has (same extension), or when
  // the selection has no coverage at all; a change of only other files (docs, config) simply changed no code.
  const extOf = (p: string) => /\.[^./]+$/.exec(p)?.[0] ?? '';
  const coveredExts = new Set(Object.keys(map).map(extOf));
  const codeLike = unmatched.filter((p) => coveredExts.has(extOf(p)));
  if (files.length === 0 && unmatched.length > 0 && (codeLike.length > 0 || Object.keys(map).length === 0)) {
    const sample = Object.keys(map).slice(0, 5);
    throw errors.notFound(
      `none of the diff's files is in the coverage of the selection; unmatched: ${unmatched.slice(0, 20).join(', ')}${unmatched.length > 20 ? ` (+${unmatched.length - 20} more)` : ''}. ` +
        (sample.length === 0
          ? 'The selection has no coverage.'
          : `Coverage paths look like: ${sample.join(', ')}; set the job's path_map (coverage prefix → repository path) or repository/sources roots.`),
      { details: { unmatched } },
    );
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const all = files.flatMap((f) => f.lines);
  return { totals: totalsOf(all), files, unmatched };
}

/**
 * The report with carried counts shown: each changed line that received
 * counts from older builds names them and when it was last seen run; totals
 * split covered lines into observed on the newest build and carried only
 * (covered, but not run by the newest build itself).
 */
export function withCarried(r: DiffCoverageReport, carried: Record<string, Record<number, CarriedLine>>): DiffCoverageReport {
  let total = 0;
  const files = r.files.map((f) => {
    const perFile = carried[f.coveragePath];
    let only = 0;
    const lines = f.lines.map((l) => {
      const c = perFile?.[l.line];
      if (!c || l.hits === null) return l;
      if (l.hits > 0 && c.observed === 0) only++;
      return { ...l, carried: { hits: c.hits, observed: c.observed, lastSeen: new Date(c.lastSeen).toISOString(), from: c.from } };
    });
    total += only;
    return { ...f, lines, observed: f.covered - only, carried: only };
  });
  return { ...r, files, totals: { ...r.totals, observed: r.totals.covered - total, carried: total } };
}
