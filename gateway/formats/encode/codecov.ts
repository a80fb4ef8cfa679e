import type { FileLines } from './lines.ts';

/** A line in Codecov's custom coverage format: hits, or "covered/total" for a line with branches. */
export type CodecovLine = number | string;

/**
 * Codecov's custom coverage JSON
 * (https://docs.codecov.com/docs/codecov-custom-coverage-format):
 * `{"coverage": {"<path>": {"<line>": hits | "covered/total"}}}`; a line with
 * branch paths is written "covered/total" (partial when covered < total),
 * every other line its hit count. Hand-written: a two-level mapping.
 */
export function encodeCodecovJson(files: FileLines[]): string {
  const coverage: Record<string, Record<string, CodecovLine>> = {};
  for (const f of files) {
    if (f.lines.length === 0) continue;
    const lines: Record<string, CodecovLine> = {};
    for (const [line, hit] of f.lines) lines[String(line)] = hit.branches ? `${hit.branches.covered}/${hit.branches.total}` : hit.hits;
    coverage[f.path] = lines;
  }
  return JSON.stringify({ coverage });
}
