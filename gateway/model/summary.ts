import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData, Summary, Totals } from './types.ts';

function totals(t: { total: number; covered: number; skipped: number; pct: number | string }): Totals {
  // istanbul-lib-coverage reports pct "Unknown" for empty totals; we report 100 like its text reporter colours it.
  return { total: t.total, covered: t.covered, skipped: t.skipped, pct: typeof t.pct === 'number' ? t.pct : 100 };
}

/** Istanbul's own summary (lines, statements, functions, branches) of a coverage map. */
export function summarize(map: CoverageMapData): Summary {
  const cm = libCoverage.createCoverageMap(map);
  const s = cm.getCoverageSummary().toJSON();
  return { lines: totals(s.lines), statements: totals(s.statements), functions: totals(s.functions), branches: totals(s.branches) };
}

/** Per-file summaries, for per-file metrics and reports. */
export function summarizeFiles(map: CoverageMapData): Map<string, Summary> {
  const out = new Map<string, Summary>();
  for (const [path, data] of Object.entries(map)) {
    const s = libCoverage.createFileCoverage(data).toSummary().toJSON();
    out.set(path, { lines: totals(s.lines), statements: totals(s.statements), functions: totals(s.functions), branches: totals(s.branches) });
  }
  return out;
}

/** covered/total as a 0–1 ratio; an empty kind counts as fully covered (Istanbul shows 100%). */
export function ratio(t: Totals): number {
  return t.total === 0 ? 1 : t.covered / t.total;
}
