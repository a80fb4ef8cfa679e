import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData } from '../../model/index.ts';

/** One source line as the line-based centers (SonarQube, Codecov, Coveralls, Canyon) see it. */
export interface LineHit {
  /** Istanbul's line count (FileCoverage.getLineCoverage: the most-run statement starting on the line). */
  hits: number;
  /** Branch paths starting on the line (FileCoverage.getBranchCoverageByLine), when there are any. */
  branches?: { covered: number; total: number };
  /** The line has branch paths but no statement starts on it (hits then say whether any path ran). */
  branchOnly?: true;
}

export interface FileLines {
  /** The coverage path, with `stripPrefix` removed. */
  path: string;
  /** The path as the coverage map has it. */
  source: string;
  /** Sorted by line number. */
  lines: Array<[number, LineHit]>;
}

/** `path` without `prefix` (and the slash after it); unchanged when it does not start with it. */
export function stripPath(path: string, prefix: string | undefined): string {
  if (!prefix || !path.startsWith(prefix)) return path;
  return path.slice(prefix.length).replace(/^\/+/, '');
}

/**
 * Per file, per line: hits and branch paths, computed by istanbul-lib-coverage
 * itself (the same numbers as the gateway's lcov DA/BRDA lines), so every
 * line-based center gets exactly what the gateway reports.
 */
export function coverageLines(data: CoverageMapData, stripPrefix?: string): FileLines[] {
  const map = libCoverage.createCoverageMap(data as never);
  const out: FileLines[] = [];
  for (const source of map.files().sort()) {
    const fc = map.fileCoverageFor(source);
    const byLine = new Map<number, LineHit>();
    for (const [line, hits] of Object.entries(fc.getLineCoverage())) byLine.set(Number(line), { hits });
    // getBranchCoverageByLine reads branchMap[k].line or .loc.start.line; decoded maps always carry loc.
    for (const [line, b] of Object.entries(fc.getBranchCoverageByLine() as Record<string, { covered: number; total: number }>)) {
      const n = Number(line);
      if (!Number.isInteger(n) || n < 1 || b.total === 0) continue;
      const hit: LineHit = byLine.get(n) ?? { hits: b.covered > 0 ? 1 : 0, branchOnly: true };
      hit.branches = { covered: b.covered, total: b.total };
      byLine.set(n, hit);
    }
    out.push({ path: stripPath(source, stripPrefix), source, lines: [...byLine].filter(([l]) => l >= 1).sort((a, b) => a[0] - b[0]) });
  }
  return out;
}
