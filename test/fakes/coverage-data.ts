/** Small Istanbul coverage data for stage tests: one statement per line, counts as given. */
const loc = (l: number) => ({ start: { line: l, column: 0 }, end: { line: l, column: 10 } });

/** A file's coverage with `s.length` statements (statement i on line i+1) and the given counts. */
export function fileCoverage(path: string, s: number[]) {
  return {
    path,
    statementMap: Object.fromEntries(s.map((_, i) => [i, loc(i + 1)])),
    fnMap: {} as Record<string, unknown>,
    branchMap: {},
    s: Object.fromEntries(s.map((n, i) => [i, n])),
    f: {} as Record<string, number>,
    b: {},
  };
}

/** A coverage map of one such file. */
export const coverageOf = (path: string, s: number[]) => ({ [path]: fileCoverage(path, s) });
