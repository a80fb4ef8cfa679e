/**
 * Helpers for gocovdata tests: read a GOCOVERDIR, pack it as a tar, parse
 * the oracle outputs of `go tool covdata` (textfmt, func) and compute the
 * same per-function figures from a decoded Istanbul map.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GoCoverFiles } from '../../gateway/formats/gocovdata.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';

/** The covmeta/covcounters files of a GOCOVERDIR, as the decoder takes them. */
export function readGoCoverDir(dir: string): GoCoverFiles {
  const names = readdirSync(dir).sort();
  return {
    metas: names.filter((n) => n.startsWith('covmeta.')).map((n) => ({ name: n, data: readFileSync(join(dir, n)) })),
    counters: names.filter((n) => n.startsWith('covcounters.')).map((n) => ({ name: n, data: readFileSync(join(dir, n)) })),
  };
}

/** The JSON transport `{meta, counters}` of a GOCOVERDIR with exactly one meta-data file. */
export function goCoverDirJson(dir: string): { meta: string; counters: string[] } {
  const f = readGoCoverDir(dir);
  if (f.metas.length !== 1) throw new Error(`${dir}: expected one covmeta file, got ${f.metas.length}`);
  return { meta: f.metas[0]!.data.toString('base64'), counters: f.counters.map((c) => c.data.toString('base64')) };
}

/** A POSIX ustar archive of the given files (what `tar -cf - .` in a GOCOVERDIR gives). */
export function tarOf(files: Array<{ name: string; data: Buffer }>): Buffer {
  const blocks: Buffer[] = [];
  for (const { name, data } of files) {
    const h = Buffer.alloc(512);
    h.write(name, 0, 100, 'utf8');
    h.write('0000644\0', 100, 'latin1');
    h.write('0000000\0', 108, 'latin1');
    h.write('0000000\0', 116, 'latin1');
    h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
    h.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136, 'latin1');
    h.write('        ', 148, 'latin1');
    h.write('0', 156, 'latin1');
    h.write('ustar\0', 257, 'latin1');
    h.write('00', 263, 'latin1');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** The tar of a whole GOCOVERDIR. */
export function tarOfDir(dir: string): Buffer {
  const f = readGoCoverDir(dir);
  return tarOf([...f.metas, ...f.counters]);
}

/** The block lines of a coverprofile (without the mode line), sorted. */
export function profileBlocks(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('mode:'))
    .sort();
}

export interface FuncFigure {
  file: string;
  line: number;
  name: string;
  pct: string;
}

/** Parses `go tool covdata func` / `go tool cover -func` output: per-function lines and the total. */
export function parseFuncReport(text: string): { funcs: FuncFigure[]; total: string } {
  const funcs: FuncFigure[] = [];
  let total = '';
  for (const line of text.split('\n')) {
    const cols = line.split('\t').filter((c) => c !== '');
    if (cols.length < 3) continue;
    if (cols[0] === 'total:' || cols[0] === 'total') {
      total = cols[cols.length - 1]!;
      continue;
    }
    const m = /^(.*):(\d+):$/.exec(cols[0]!);
    if (!m) continue;
    funcs.push({ file: m[1]!, line: Number(m[2]), name: cols[1]!, pct: cols[cols.length - 1]! });
  }
  // covdata lists by package import path; compare in file order.
  funcs.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
  return { funcs, total };
}

const pct = (covered: number, total: number) => `${((100 * covered) / (total === 0 ? 1 : total)).toFixed(1)}%`;

/**
 * Per-function figures of a decoded map, computed like `go tool covdata func`:
 * each Istanbul function (a named Go function) covers the statement-weighted
 * blocks inside its range (its literals' blocks included).
 */
export function funcFigures(map: CoverageMapData): { funcs: FuncFigure[]; total: string } {
  const funcs: FuncFigure[] = [];
  let all = 0;
  let cov = 0;
  for (const [path, fc] of Object.entries(map)) {
    for (const [id, range] of Object.entries(fc.statementMap)) {
      const n = (range as { numStmts?: number }).numStmts ?? 1;
      all += n;
      if ((fc.s[id] ?? 0) > 0) cov += n;
    }
    for (const fn of Object.values(fc.fnMap)) {
      let t = 0;
      let c = 0;
      const within = (l: number, col: number) =>
        (l > fn.loc.start.line || (l === fn.loc.start.line && col >= fn.loc.start.column)) && (l < fn.loc.end.line || (l === fn.loc.end.line && col <= fn.loc.end.column));
      for (const [id, r] of Object.entries(fc.statementMap)) {
        if (!within(r.start.line, r.start.column)) continue;
        const n = (r as { numStmts?: number }).numStmts ?? 1;
        t += n;
        if ((fc.s[id] ?? 0) > 0) c += n;
      }
      funcs.push({ file: path, line: fn.decl.start.line, name: fn.name, pct: pct(c, t) });
    }
  }
  funcs.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
  return { funcs, total: pct(cov, all) };
}
