import type { BranchMapping, FileCoverageData, FunctionMapping, Range } from '../model/index.ts';
import { errors } from '../errors.ts';

/**
 * End column used for whole-line locations when the source text is unknown
 * (LCOV DA lines, Cobertura and coveralls lines). Istanbul's HTML annotator
 * clamps columns to the line length, so "to the end of the line" is safe.
 */
export const LINE_END_COLUMN = Number.MAX_SAFE_INTEGER;

/** A location covering the whole of one line (columns unknown). */
export function lineRange(line: number, endLine = line): Range {
  return { start: { line, column: 0 }, end: { line: endLine, column: LINE_END_COLUMN } };
}

/**
 * Parses a hit count written as text. Accepts non-negative integers (and
 * decimals, which some tools emit for averaged counts); `where` names the
 * field in the error.
 */
export function parseCount(text: string, where: string): number {
  const trimmed = text.trim();
  if (!/^\d+(\.\d+)?([eE][+]?\d+)?$/.test(trimmed)) throw errors.badCoverage(`${where}: hit count must be a non-negative number, got ${JSON.stringify(text)}`);
  return Number(trimmed);
}

/** Parses a positive line number written as text. */
export function parseLine(text: string, where: string): number {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed) || Number(trimmed) < 1) throw errors.badCoverage(`${where}: line number must be a positive integer, got ${JSON.stringify(text)}`);
  return Number(trimmed);
}

/** A refused hit count as an error shows it: JSON.stringify would show Infinity (JSON.parse's 1e400) as null. */
export function shownCount(value: unknown): string {
  return typeof value === 'number' ? String(value) : String(JSON.stringify(value));
}

/** Checks a JSON hit count (number, non-negative, finite). */
export function checkCount(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw errors.badCoverage(`${where}: hit count must be a non-negative number, got ${shownCount(value)}`);
  }
  return value;
}

/**
 * Builds one Istanbul FileCoverage with dense ids. Line-based formats (LCOV,
 * Cobertura, coveralls, Go) all produce files through this, so every decoder
 * emits the same shapes.
 */
export class FileCoverageBuilder {
  readonly path: string;
  private readonly statementMap: Record<string, Range> = {};
  private readonly s: Record<string, number> = {};
  private readonly fnMap: Record<string, FunctionMapping> = {};
  private readonly f: Record<string, number> = {};
  private readonly branchMap: Record<string, BranchMapping> = {};
  private readonly b: Record<string, number[]> = {};
  private nS = 0;
  private nF = 0;
  private nB = 0;

  constructor(path: string) {
    this.path = path;
  }

  statement(loc: Range, hits: number): number {
    const id = this.nS++;
    this.statementMap[id] = loc;
    this.s[id] = hits;
    return id;
  }

  fn(name: string, decl: Range, loc: Range, hits: number): number {
    const id = this.nF++;
    this.fnMap[id] = { name, decl, loc, line: decl.start.line };
    this.f[id] = hits;
    return id;
  }

  branch(loc: Range, type: string, locations: Range[], hits: number[]): number {
    const id = this.nB++;
    this.branchMap[id] = { loc, type, locations, line: loc.start.line };
    this.b[id] = hits;
    return id;
  }

  build(): FileCoverageData {
    return {
      path: this.path,
      statementMap: this.statementMap,
      fnMap: this.fnMap,
      branchMap: this.branchMap,
      s: this.s,
      f: this.f,
      b: this.b,
    };
  }
}

/** Splits text into lines, accepting \n and \r\n. */
export function splitLines(text: string): string[] {
  return text.split(/\r?\n/);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
