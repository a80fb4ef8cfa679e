/**
 * LCOV tracefile decoder (geninfo/lcov 1.x and 2.x, c8/nyc `lcovonly`,
 * grcov, cargo-llvm-cov, kcov …).
 *
 * Hand-written: the npm LCOV parsers (lcov-parse, parse-lcov) are unmaintained,
 * drop FNDA/BRDA details and do not know lcov 2.x's FNL/FNA records; the
 * format is one `KEY:value` per line.
 *
 * Mapping: each DA line → one statement spanning the line; FN (or FNL+FNA) →
 * one function per name; BRDA grouped by (line, block) → one branch with one
 * location per arm (`-` = not taken = 0). Records seen for the same SF twice
 * (several TN sections) are summed. Unknown upper-case keys (VER, MCDC, …)
 * are ignored for forward compatibility; anything else that is not a record
 * is an error naming the line.
 */
import type { CoverageMapData } from '../model/index.ts';
import { errors } from '../errors.ts';
import { FileCoverageBuilder, lineRange, parseCount, parseLine, splitLines } from './builder.ts';
import type { PayloadDecoder } from './types.ts';

interface LcovFunction {
  name: string;
  line: number;
  endLine?: number;
  hits: number;
}

interface LcovFile {
  path: string;
  lines: Map<number, number>;
  functions: Map<string, LcovFunction>;
  /** FNL index → location (lcov 2.x). */
  fnLocations: Map<string, { line: number; endLine?: number }>;
  /** key "line\0block" → arms by branch id, in order of appearance. */
  branches: Map<string, { line: number; arms: Map<string, number> }>;
}

function newFile(path: string): LcovFile {
  return { path, lines: new Map(), functions: new Map(), fnLocations: new Map(), branches: new Map() };
}

/** Splits `a,b,rest` into the first n-1 fields and the remainder (names may contain commas). */
function fields(value: string, n: number): string[] | undefined {
  const out: string[] = [];
  let rest = value;
  for (let i = 0; i < n - 1; i++) {
    const at = rest.indexOf(',');
    if (at < 0) return undefined;
    out.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  out.push(rest);
  return out;
}

export function parseLcov(text: string): LcovFile[] {
  const files = new Map<string, LcovFile>();
  let current: LcovFile | undefined;
  const lines = splitLines(text);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    const where = `lcov line ${i + 1}`;
    if (raw === 'end_of_record') {
      if (!current) throw errors.badCoverage(`${where}: end_of_record without a preceding SF record`);
      current = undefined;
      continue;
    }
    const colon = raw.indexOf(':');
    const key = colon > 0 ? raw.slice(0, colon) : '';
    if (!/^[A-Z][A-Z0-9_]*$/.test(key)) throw errors.badCoverage(`${where}: not an LCOV record (expected KEY:value or end_of_record): ${JSON.stringify(raw.slice(0, 120))}`);
    const value = raw.slice(colon + 1);
    const bad = (what: string) => errors.badCoverage(`${where}: invalid ${key} record, expected ${what}: ${JSON.stringify(raw.slice(0, 120))}`);
    if (key === 'TN') continue;
    if (key === 'SF') {
      if (value.trim() === '') throw errors.badCoverage(`${where}: SF record without a file name`);
      const path = value.trim();
      current = files.get(path);
      if (!current) files.set(path, (current = newFile(path)));
      continue;
    }
    const known = ['FN', 'FNDA', 'FNF', 'FNH', 'FNL', 'FNA', 'DA', 'BRDA', 'BRF', 'BRH', 'LF', 'LH'];
    if (!known.includes(key)) continue; // VER, MCDC and future records
    if (!current) throw errors.badCoverage(`${where}: ${key} record outside a file section (no SF before it)`);
    const file = current;
    switch (key) {
      case 'DA': {
        const f = fields(value, 2);
        if (!f) throw bad('DA:<line>,<count>[,<checksum>]');
        const line = parseLine(f[0]!, `${where} DA line`);
        const countText = f[1]!.split(',')[0]!; // optional checksum after the count
        const count = parseCount(countText, `${where} DA count`);
        file.lines.set(line, (file.lines.get(line) ?? 0) + count);
        break;
      }
      case 'FN': {
        const f = fields(value, 2);
        if (!f) throw bad('FN:<line>[,<end line>],<name>');
        const line = parseLine(f[0]!, `${where} FN line`);
        let name = f[1]!;
        let endLine: number | undefined;
        const m = /^(\d+),(.+)$/.exec(name); // lcov 2.x: FN:<start>,<end>,<name>
        if (m) {
          endLine = Number(m[1]);
          name = m[2]!;
        }
        if (name === '') throw bad('a function name');
        if (!file.functions.has(name)) file.functions.set(name, { name, line, ...(endLine !== undefined ? { endLine } : {}), hits: 0 });
        break;
      }
      case 'FNDA': {
        const f = fields(value, 2);
        if (!f || f[1] === '') throw bad('FNDA:<count>,<name>');
        const count = parseCount(f[0]!, `${where} FNDA count`);
        const fn = file.functions.get(f[1]!);
        // geninfo always writes FN before FNDA; an FNDA for an unknown function has no location to report.
        if (fn) fn.hits += count;
        break;
      }
      case 'FNL': {
        const f = value.split(',');
        if (f.length < 2 || f.length > 3) throw bad('FNL:<index>,<start line>[,<end line>]');
        const line = parseLine(f[1]!, `${where} FNL start line`);
        const endLine = f[2] !== undefined ? parseLine(f[2], `${where} FNL end line`) : undefined;
        file.fnLocations.set(f[0]!, { line, ...(endLine !== undefined ? { endLine } : {}) });
        break;
      }
      case 'FNA': {
        const f = fields(value, 3);
        if (!f || f[2] === '') throw bad('FNA:<index>,<count>,<name>');
        const loc = file.fnLocations.get(f[0]!);
        if (!loc) throw errors.badCoverage(`${where}: FNA refers to function index ${JSON.stringify(f[0])} with no FNL record before it`);
        const count = parseCount(f[1]!, `${where} FNA count`);
        const name = f[2]!;
        const fn = file.functions.get(name);
        if (fn) fn.hits += count;
        else file.functions.set(name, { name, ...loc, hits: count });
        break;
      }
      case 'BRDA': {
        const f = value.split(',');
        if (f.length < 4) throw bad('BRDA:<line>,<block>,<branch>,<taken>');
        const line = parseLine(f[0]!, `${where} BRDA line`);
        const block = f[1]!;
        const taken = f[f.length - 1]!.trim();
        const branch = f.slice(2, -1).join(','); // lcov 2.x may write an expression here
        const hits = taken === '-' ? 0 : parseCount(taken, `${where} BRDA taken`);
        const k = `${line}\0${block}`;
        let group = file.branches.get(k);
        if (!group) file.branches.set(k, (group = { line, arms: new Map() }));
        group.arms.set(branch, (group.arms.get(branch) ?? 0) + hits);
        break;
      }
      default: {
        // FNF/FNH/BRF/BRH/LF/LH are summaries recomputed from the details; only check they are numbers.
        parseCount(value, `${where} ${key}`);
      }
    }
  }
  return [...files.values()];
}

export function lcovToIstanbul(files: LcovFile[]): CoverageMapData {
  const out: CoverageMapData = {};
  for (const file of files) {
    const b = new FileCoverageBuilder(file.path);
    for (const line of [...file.lines.keys()].sort((x, y) => x - y)) b.statement(lineRange(line), file.lines.get(line)!);
    for (const fn of file.functions.values()) {
      b.fn(fn.name, lineRange(fn.line), lineRange(fn.line, fn.endLine ?? fn.line), fn.hits);
    }
    const groups = [...file.branches.values()].sort((x, y) => x.line - y.line);
    for (const group of groups) {
      const loc = lineRange(group.line);
      b.branch(loc, 'branch', [...group.arms.keys()].map(() => lineRange(group.line)), [...group.arms.values()]);
    }
    out[file.path] = b.build();
  }
  return out;
}

export const lcovDecoder: PayloadDecoder = {
  format: 'lcov',
  input: 'text',
  sniff(body) {
    return typeof body === 'string' && /^\s*SF:/m.test(body);
  },
  async decode(payload) {
    if (typeof payload !== 'string') throw errors.badCoverage('lcov: expected a text tracefile');
    return lcovToIstanbul(parseLcov(payload));
  },
};
