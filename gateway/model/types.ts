/**
 * The coverage model: Istanbul's data shapes, split into the part that is
 * fixed for a build (the *structure*) and the part that changes on every
 * scrape (the *counters*). Every input format is decoded into Istanbul
 * `FileCoverageData`, then split; the store keeps each structure once per
 * content hash and each snapshot as counters only.
 *
 * This folder is pure: no I/O, no imports from other gateway stages.
 */
import type { FileCoverageData, Range, FunctionMapping, BranchMapping } from 'istanbul-lib-coverage';

export type { FileCoverageData, Range, FunctionMapping, BranchMapping };

/** Istanbul coverage map in its JSON form (`coverage-final.json`). */
export type CoverageMapData = Record<string, FileCoverageData>;

/**
 * The build-fixed half of a file's coverage. Ids are dense: the i-th entry of
 * `statementMap` is counted by `counters.s[i]`.
 */
export interface FileStructure {
  path: string;
  statementMap: Record<string, Range>;
  fnMap: Record<string, FunctionMapping>;
  branchMap: Record<string, BranchMapping>;
  inputSourceMap?: unknown;
}

/** Hit counters of one file, indexed like its structure's maps. */
export interface FileCounters {
  s: number[];
  f: number[];
  b: number[][];
}

/** One file in a snapshot: which structure (by hash) and its counters. */
export interface FileSnapshot {
  structure: string;
  counters: FileCounters;
}

/** Counters-only snapshot of one process: path → file. */
export type Snapshot = Record<string, FileSnapshot>;

/** Looks up a structure by hash; returns undefined when it is unknown. */
export type StructureLookup = (hash: string) => FileStructure | undefined;

/** Summary numbers of one kind (Istanbul's `CoverageSummary` shape). */
export interface Totals {
  total: number;
  covered: number;
  skipped: number;
  pct: number;
  /** false when the formats of the coverage have no such kind (gocover's functions, coveralls' branches): not 0%, not 100%, unknown. */
  available?: false;
}

/**
 * How a summary counts: `istanbul` (Istanbul's lines/statements/functions/branches),
 * `go-statements` (Go files: statements weighted by each block's numStmt, as
 * `go tool cover -func`), `mixed` (both kinds of files in one summary).
 */
export type SummarySemantics = 'istanbul' | 'go-statements' | 'mixed';

export interface Summary {
  lines: Totals;
  statements: Totals;
  functions: Totals;
  branches: Totals;
  /** Always set by `summarize`; absent only in records stored before it existed. */
  semantics?: SummarySemantics;
}

export const COVERAGE_KINDS = ['lines', 'statements', 'functions', 'branches'] as const;
export type CoverageKind = (typeof COVERAGE_KINDS)[number];
