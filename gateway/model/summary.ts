import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData, FileCoverageData, Summary, SummarySemantics, Totals } from './types.ts';

/** istanbul-lib-coverage's percent(): two decimals, floored; 100 for an empty kind. */
export function percent(covered: number, total: number): number {
  return total > 0 ? Math.floor((1000 * 100 * covered) / total / 10) / 100 : 100;
}

function totals(t: { total: number; covered: number; skipped: number; pct: number | string }): Totals {
  // istanbul-lib-coverage reports pct "Unknown" for empty totals; we report 100 like its text reporter colours it.
  return { total: t.total, covered: t.covered, skipped: t.skipped, pct: typeof t.pct === 'number' ? t.pct : 100 };
}

/** End column the line-based decoders (LCOV DA, Cobertura, coveralls) give whole-line statements (formats/builder LINE_END_COLUMN). */
const WHOLE_LINE_END = Number.MAX_SAFE_INTEGER;

/** A Go block (gocover decoder) keeps its statement count on the range. */
function goStatements(range: unknown): number | undefined {
  const n = (range as { numStmts?: unknown } | undefined)?.numStmts;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : undefined;
}

export interface FileFacts {
  go: boolean;
  /** The format says nothing about functions / branches (it has none), so 0 of 0 is "unknown", not 100%. */
  functionsAvailable: boolean;
  branchesAvailable: boolean;
}

/**
 * What a file's format can tell. Derived from the structure itself, so it
 * survives the store: Go blocks carry `numStmts`; line-based formats emit
 * whole-line statements and, when the input had no FN/BRDA (or never has
 * any: gocover, coveralls), empty function and branch maps. A file of
 * instrumented JavaScript always has real columns, so its empty maps mean
 * "no functions", which Istanbul counts as 100%.
 */
export function factsOf(data: FileCoverageData): FileFacts {
  const ranges = Object.values(data.statementMap ?? {});
  const go = ranges.length > 0 && ranges.every((r) => goStatements(r) !== undefined);
  const lineBased = go || (ranges.length > 0 && ranges.every((r) => r.start.column === 0 && r.end.column === WHOLE_LINE_END));
  return {
    go,
    functionsAvailable: !lineBased || Object.keys(data.fnMap ?? {}).length > 0,
    branchesAvailable: !lineBased || Object.keys(data.branchMap ?? {}).length > 0,
  };
}

/**
 * Go's statement weighting, as `go tool cover -func` totals it: each block
 * counts its numStmts, covered when its count is above zero.
 */
function goStatementTotals(data: FileCoverageData): Totals {
  let total = 0;
  let covered = 0;
  for (const [id, range] of Object.entries(data.statementMap)) {
    const n = goStatements(range) ?? 1;
    total += n;
    if ((data.s[id] ?? 0) > 0) covered += n;
  }
  return { total, covered, skipped: 0, pct: percent(covered, total) };
}

export interface FileSummary {
  summary: Summary;
  facts: FileFacts;
}

/** One file's summary and what its format can tell (for combining with `combineFileSummaries`). */
export function summarizeOne(data: FileCoverageData): FileSummary {
  const s = libCoverage.createFileCoverage(data).toSummary().toJSON();
  const facts = factsOf(data);
  const summary: Summary = {
    lines: totals(s.lines),
    statements: facts.go ? goStatementTotals(data) : totals(s.statements),
    functions: totals(s.functions),
    branches: totals(s.branches),
    semantics: facts.go ? 'go-statements' : 'istanbul',
  };
  if (!facts.functionsAvailable) summary.functions.available = false;
  if (!facts.branchesAvailable) summary.branches.available = false;
  return { summary, facts };
}

function semanticsOf(files: FileSummary[]): SummarySemantics {
  if (files.length === 0) return 'istanbul';
  const go = files.filter((f) => f.facts.go).length;
  return go === 0 ? 'istanbul' : go === files.length ? 'go-statements' : 'mixed';
}

/**
 * The summary of a coverage map (lines, statements, functions, branches),
 * naming its semantics: Istanbul's for JavaScript and line-based formats;
 * for Go files statements are Go's statement-weighted blocks, equal to
 * `go tool cover -func`'s total. A kind that no file's format can report
 * (functions and branches of gocover, coveralls, LCOV without FN/BRDA) is
 * marked `available: false` instead of counting as 0% or 100%.
 */
export function summarize(map: CoverageMapData): Summary {
  return combineFileSummaries(Object.values(map).map(summarizeOne));
}

/** The summary of files summarised one by one (what `summarize` does after `summarizeOne`), for incremental totals. */
export function combineFileSummaries(files: FileSummary[]): Summary {
  const out: Summary = {
    lines: sum(files.map((f) => f.summary.lines)),
    statements: sum(files.map((f) => f.summary.statements)),
    functions: sum(files.filter((f) => f.facts.functionsAvailable).map((f) => f.summary.functions)),
    branches: sum(files.filter((f) => f.facts.branchesAvailable).map((f) => f.summary.branches)),
    semantics: semanticsOf(files),
  };
  if (files.length > 0 && !files.some((f) => f.facts.functionsAvailable)) out.functions.available = false;
  if (files.length > 0 && !files.some((f) => f.facts.branchesAvailable)) out.branches.available = false;
  return out;
}

function sum(list: Totals[]): Totals {
  let total = 0;
  let covered = 0;
  let skipped = 0;
  for (const t of list) {
    total += t.total;
    covered += t.covered;
    skipped += t.skipped;
  }
  return { total, covered, skipped, pct: percent(covered, total) };
}

/** Per-file summaries, for per-file metrics and reports. */
export function summarizeFiles(map: CoverageMapData): Map<string, Summary> {
  const out = new Map<string, Summary>();
  for (const [path, data] of Object.entries(map)) out.set(path, summarizeOne(data).summary);
  return out;
}

/** covered/total as a 0–1 ratio; an empty kind counts as fully covered (Istanbul shows 100%). */
export function ratio(t: Totals): number {
  return t.total === 0 ? 1 : t.covered / t.total;
}

/** Whether the kind means anything for the summary's formats (false: the format has no such kind). */
export function isAvailable(t: Totals): boolean {
  return t.available !== false;
}

/**
 * For renderers that count statements themselves (istanbul-reports' HTML):
 * a copy of the map where each Go block is repeated numStmts times (same
 * range, same count), so their statement totals are Go's statement-weighted
 * figure. Lines are unchanged (same ranges, same counts); other files are
 * passed through as they are.
 */
export function expandGoStatements(map: CoverageMapData): CoverageMapData {
  const out: CoverageMapData = {};
  for (const [path, data] of Object.entries(map)) {
    if (!factsOf(data).go) {
      out[path] = data;
      continue;
    }
    const statementMap: FileCoverageData['statementMap'] = {};
    const s: FileCoverageData['s'] = {};
    let i = 0;
    for (const [id, range] of Object.entries(data.statementMap)) {
      for (let k = 0; k < (goStatements(range) ?? 1); k++) {
        statementMap[i] = range;
        s[i] = data.s[id] ?? 0;
        i++;
      }
    }
    out[path] = { ...data, statementMap, s };
  }
  return out;
}

/** Whether a file is Go coverage (blocks carrying `numStmts`). */
export function isGoFile(data: FileCoverageData): boolean {
  return factsOf(data).go;
}

/**
 * Hit count of every coverable line of a file. Istanbul's rule for
 * JavaScript and line-based formats (`getLineCoverage`: a line is the start
 * line of a statement, its count the highest of those statements). Go blocks
 * span lines, and `go tool cover -html` colours every line of a block, so for
 * Go every line from a block's start to its end is coverable, with the
 * highest count of the blocks touching it.
 */
export function lineCounts(data: FileCoverageData): Map<number, number> {
  const out = new Map<number, number>();
  const go = factsOf(data).go;
  // Written out rather than FileCoverage.getLineCoverage(): the same rule (start line, highest count), without
  // building and validating a FileCoverage per file, which dominated diff coverage of large changes.
  for (const id in data.statementMap) {
    const range = data.statementMap[id]!;
    const hits = data.s[id] ?? 0;
    const last = go ? range.end.line : range.start.line;
    for (let l = range.start.line; l <= last; l++) {
      const prev = out.get(l);
      if (prev === undefined || prev < hits) out.set(l, hits);
    }
  }
  return out;
}
