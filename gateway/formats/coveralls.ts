/**
 * Coveralls-style line maps:
 *
 * - ex_integration_coveralls / Erlang `cover` line map:
 *   `{"files": {"lib/a.ex": {"1": 3, "2": 0, "3": -1}}}` (a per-file array
 *   `[null, 1, 0]`, index 0 = line 1, is accepted too);
 * - the Coveralls API job form: `{"source_files": [{"name", "coverage": [null, 1, 0],
 *   "branches": [line, block, branch, hits, …]}]}`.
 *
 * -1 or null marks a line that is not executable: it is skipped. Each
 * executable line becomes one whole-line statement; Coveralls `branches`
 * quadruples grouped by (line, block) become one branch each.
 */
import type { CoverageMapData } from '../model/index.ts';
import { errors } from '../errors.ts';
import { FileCoverageBuilder, checkCount, isObject, lineRange } from './builder.ts';
import type { PayloadDecoder } from './types.ts';

function addLines(b: FileCoverageBuilder, lines: unknown, where: string): void {
  const entries: Array<[number, unknown]> = [];
  if (Array.isArray(lines)) {
    lines.forEach((v, i) => entries.push([i + 1, v]));
  } else if (isObject(lines)) {
    for (const [k, v] of Object.entries(lines)) {
      if (!/^\d+$/.test(k) || Number(k) < 1) throw errors.badCoverage(`${where}: line key must be a positive integer, got ${JSON.stringify(k)}`);
      entries.push([Number(k), v]);
    }
  } else {
    throw errors.badCoverage(`${where}: expected a line → hits object or a coverage array, got ${lines === null ? 'null' : typeof lines}`);
  }
  entries.sort((x, y) => x[0] - y[0]);
  for (const [line, v] of entries) {
    if (v === null || v === -1) continue;
    b.statement(lineRange(line), checkCount(v, `${where} line ${line}`));
  }
}

function addBranches(b: FileCoverageBuilder, branches: unknown, where: string): void {
  if (branches === undefined || branches === null) return;
  if (!Array.isArray(branches) || branches.length % 4 !== 0) {
    throw errors.badCoverage(`${where}: "branches" must be a flat array of [line, block, branch, hits] quadruples`);
  }
  const groups = new Map<string, { line: number; hits: number[] }>();
  for (let i = 0; i < branches.length; i += 4) {
    const [line, block, , hits] = branches.slice(i, i + 4) as unknown[];
    if (typeof line !== 'number' || !Number.isInteger(line) || line < 1) throw errors.badCoverage(`${where} branches[${i}]: line must be a positive integer, got ${JSON.stringify(line)}`);
    const k = `${line}\0${String(block)}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { line, hits: [] }));
    g.hits.push(hits === null ? 0 : checkCount(hits, `${where} branches[${i + 3}]`));
  }
  for (const g of [...groups.values()].sort((x, y) => x.line - y.line)) {
    b.branch(lineRange(g.line), 'branch', g.hits.map(() => lineRange(g.line)), g.hits);
  }
}

export function coverallsToIstanbul(payload: unknown): CoverageMapData {
  if (!isObject(payload)) throw errors.badCoverage('coveralls: expected a JSON object with "files" or "source_files"');
  const out: CoverageMapData = {};
  if (payload.files !== undefined) {
    if (!isObject(payload.files)) throw errors.badCoverage('coveralls: "files" must be an object of path → line hits');
    for (const [path, lines] of Object.entries(payload.files)) {
      const b = new FileCoverageBuilder(path);
      addLines(b, lines, `coveralls file ${JSON.stringify(path)}`);
      out[path] = b.build();
    }
    return out;
  }
  if (!Array.isArray(payload.source_files)) throw errors.badCoverage('coveralls: expected "files" (object) or "source_files" (array)');
  payload.source_files.forEach((sf: unknown, i: number) => {
    if (!isObject(sf) || typeof sf.name !== 'string' || sf.name === '') throw errors.badCoverage(`coveralls source_files[${i}]: missing "name"`);
    const where = `coveralls file ${JSON.stringify(sf.name)}`;
    if (!Array.isArray(sf.coverage)) throw errors.badCoverage(`${where}: "coverage" must be an array`);
    const b = new FileCoverageBuilder(sf.name);
    addLines(b, sf.coverage, where);
    addBranches(b, sf.branches, where);
    out[sf.name] = b.build();
  });
  return out;
}

/** True for `{files: {path: {line: hits}|[…]}}` (not an Istanbul map with a file called "files"). */
function looksLikeCoveralls(body: unknown): boolean {
  if (!isObject(body)) return false;
  if (Array.isArray(body.source_files)) return true;
  if (!isObject(body.files)) return false;
  return Object.values(body.files).every((v) => Array.isArray(v) || (isObject(v) && !('statementMap' in v)));
}

export const coverallsDecoder: PayloadDecoder = {
  format: 'coveralls',
  input: 'json',
  sniff: looksLikeCoveralls,
  async decode(payload) {
    return coverallsToIstanbul(payload);
  },
};
