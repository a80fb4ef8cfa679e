/** Per file, per line: DA hits and BRDA branch paths of an LCOV tracefile (what the gateway's lcov output says). */
export interface LcovLine {
  hits?: number;
  branches?: { covered: number; total: number };
}

/** Parses SF/DA/BRDA of an lcov text; a line with BRDA but no DA has no `hits`. */
export function lcovLines(text: string): Record<string, Record<string, LcovLine>> {
  const out: Record<string, Record<string, LcovLine>> = {};
  let file: Record<string, LcovLine> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('SF:')) out[line.slice(3)] = file = {};
    else if (line.startsWith('DA:') && file) {
      const [n, hits] = line.slice(3).split(',');
      file[n!] = { ...file[n!], hits: Number(hits) };
    } else if (line.startsWith('BRDA:') && file) {
      const [n, , , taken] = line.slice(5).split(',');
      const l = (file[n!] ??= {});
      l.branches ??= { covered: 0, total: 0 };
      l.branches.total++;
      if (taken !== '-' && Number(taken) > 0) l.branches.covered++;
    }
  }
  return out;
}
