/**
 * Go coverprofile encoder (`mode: count`): each Istanbul statement becomes
 * one block `file:startLine.startCol,endLine.endCol numStmts count` (Go
 * columns are 1-based). `numStmts` is the block's Go statement count when
 * the statement came from a coverprofile (kept on the range by the gocover
 * decoder), else 1. Hand-written: the format is one line per block.
 */
import type { CoverageMapData } from '../../model/index.ts';
import type { GoRange } from '../gocover.ts';

export function encodeGoCover(map: CoverageMapData, name: (path: string) => string): string {
  const out = ['mode: count'];
  const files = Object.entries(map).map(([key, fc]) => ({ path: name(typeof fc.path === 'string' && fc.path !== '' ? fc.path : key), fc }));
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const { path, fc } of files) {
    const ids = Object.keys(fc.statementMap).sort((a, b) => {
      const x = fc.statementMap[a]!.start;
      const y = fc.statementMap[b]!.start;
      return x.line - y.line || (x.column ?? 0) - (y.column ?? 0);
    });
    for (const id of ids) {
      const loc = fc.statementMap[id] as GoRange;
      const numStmts = Number.isInteger(loc.numStmts) && loc.numStmts! >= 0 ? loc.numStmts! : 1;
      const count = Math.max(0, Math.round(Number(fc.s[id] ?? 0)));
      const startCol = (loc.start.column ?? 0) + 1;
      const endCol = (loc.end?.column ?? loc.start.column ?? 0) + 1;
      const endLine = loc.end?.line ?? loc.start.line;
      out.push(`${path}:${loc.start.line}.${startCol},${endLine}.${endCol} ${numStmts} ${count}`);
    }
  }
  return `${out.join('\n')}\n`;
}
