/**
 * Go coverprofile decoder (`go test -coverprofile`, `go tool covdata textfmt`,
 * goc agents' `/v1/cover/profile`).
 *
 *     mode: count
 *     example.com/m/a.go:3.14,5.2 2 7
 *
 * Hand-written: the format is one regular expression per line and there is no
 * maintained JavaScript parser for it. Each block becomes one Istanbul
 * statement located at the block (Go columns are 1-based, Istanbul's 0-based);
 * Go's statement count of the block is kept on the range as `numStmts` so the
 * gocover encoder can write it back and `go tool cover -func` computes the
 * same percentage. Functions and branches are empty: a coverprofile has none.
 */
import type { CoverageMapData, Range } from '../model/index.ts';
import { errors } from '../errors.ts';
import { FileCoverageBuilder, splitLines } from './builder.ts';
import type { PayloadDecoder } from './types.ts';

export type GoCoverMode = 'set' | 'count' | 'atomic';

/** A statement range that remembers how many Go statements its block had. */
export type GoRange = Range & { numStmts?: number };

// The file name may itself contain ':' (Windows drive letters), so anchor at the end.
const BLOCK = /^(.+):(\d+)\.(\d+),(\d+)\.(\d+) (\d+) (\d+)$/;
const MODE = /^mode:\s*(\S+)\s*$/;

interface Block {
  file: string;
  startLine: number;
  startCol: number;
  endLine: number;
  endCol: number;
  numStmts: number;
  count: number;
}

/** Parses a coverprofile into blocks, merging repeated blocks (summed for count/atomic, OR-ed for set). */
export function parseGoCover(text: string): { mode: GoCoverMode; blocks: Block[] } {
  const lines = splitLines(text);
  let mode: GoCoverMode | undefined;
  const blocks = new Map<string, Block>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const where = `gocover line ${i + 1}`;
    if (line === '') continue;
    const m = MODE.exec(line);
    if (m) {
      const found = m[1]!;
      if (found !== 'set' && found !== 'count' && found !== 'atomic') throw errors.badCoverage(`${where}: unknown mode ${JSON.stringify(found)} (expected set, count or atomic)`);
      // Concatenated profiles repeat the mode line; they must agree.
      if (mode !== undefined && mode !== found) throw errors.badCoverage(`${where}: mode ${found} conflicts with mode ${mode} declared earlier`);
      mode = found;
      continue;
    }
    if (mode === undefined) throw errors.badCoverage(`${where}: expected "mode: set|count|atomic" before any block, got ${JSON.stringify(line.slice(0, 80))}`);
    const b = BLOCK.exec(line);
    if (!b) throw errors.badCoverage(`${where}: not a coverprofile block "file:startLine.startCol,endLine.endCol numStmts count": ${JSON.stringify(line.slice(0, 120))}`);
    const block: Block = {
      file: b[1]!,
      startLine: Number(b[2]),
      startCol: Number(b[3]),
      endLine: Number(b[4]),
      endCol: Number(b[5]),
      numStmts: Number(b[6]),
      count: Number(b[7]),
    };
    if (block.startLine < 1 || block.endLine < block.startLine || (block.endLine === block.startLine && block.endCol < block.startCol)) {
      throw errors.badCoverage(`${where}: block ${block.startLine}.${block.startCol},${block.endLine}.${block.endCol} in ${block.file} ends before it starts`);
    }
    const key = `${block.file}\0${block.startLine}.${block.startCol},${block.endLine}.${block.endCol}`;
    const prev = blocks.get(key);
    if (!prev) blocks.set(key, block);
    else if (mode === 'set') prev.count = prev.count > 0 || block.count > 0 ? 1 : 0;
    else prev.count += block.count;
  }
  if (mode === undefined) throw errors.badCoverage('gocover: missing "mode:" line (empty profile)');
  return { mode, blocks: [...blocks.values()] };
}

/** Converts parsed blocks to an Istanbul map, ordered by file then position. */
export function goBlocksToIstanbul(blocks: Block[]): CoverageMapData {
  const sorted = [...blocks].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.startLine - b.startLine || a.startCol - b.startCol));
  const files = new Map<string, FileCoverageBuilder>();
  for (const block of sorted) {
    let builder = files.get(block.file);
    if (!builder) files.set(block.file, (builder = new FileCoverageBuilder(block.file)));
    const loc: GoRange = {
      start: { line: block.startLine, column: Math.max(0, block.startCol - 1) },
      end: { line: block.endLine, column: Math.max(0, block.endCol - 1) },
      numStmts: block.numStmts,
    };
    builder.statement(loc, block.count);
  }
  const out: CoverageMapData = {};
  for (const [file, builder] of files) out[file] = builder.build();
  return out;
}

export const gocoverDecoder: PayloadDecoder = {
  format: 'gocover',
  input: 'text',
  sniff(body) {
    return typeof body === 'string' && /^\s*mode:/.test(body);
  },
  async decode(payload) {
    if (typeof payload !== 'string') throw errors.badCoverage('gocover: expected a text coverprofile');
    return goBlocksToIstanbul(parseGoCover(payload).blocks);
  },
};
