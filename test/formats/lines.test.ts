import { expect } from 'chai';
import { encodeCoverage } from '../../gateway/formats/index.ts';
import { coverageLines } from '../../gateway/formats/encode/lines.ts';
import { encodeCodecovJson } from '../../gateway/formats/encode/codecov.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { lcovLines } from '../helpers/lcov-lines.ts';

const loc = (l: number, c = 0) => ({ start: { line: l, column: c }, end: { line: l, column: c + 10 } });

/** Statements on lines 1-4; an if/else branch starting on line 2; a ternary on line 5, where no statement starts. */
const map = {
  '/srv/app/x.js': {
    path: '/srv/app/x.js',
    statementMap: { 0: loc(1), 1: loc(2), 2: loc(3), 3: loc(4) },
    fnMap: {},
    branchMap: {
      0: { type: 'if', line: 2, loc: loc(2), locations: [loc(2), loc(3)] },
      1: { type: 'cond-expr', line: 5, loc: loc(5), locations: [loc(5, 2), loc(5, 8)] },
    },
    s: { 0: 4, 1: 4, 2: 0, 3: 2 },
    f: {},
    b: { 0: [4, 0], 1: [0, 0] },
  },
} as unknown as CoverageMapData;

describe('formats/encode/lines (what the line-based centers get)', () => {
  it('has the DA hits and BRDA paths of the lcov that istanbul-reports renders for the same map', () => {
    const lcov = lcovLines(encodeCoverage(map, 'lcov').body)['/srv/app/x.js']!;
    const [file] = coverageLines(map, '/srv/app/');
    expect(file!.path).to.equal('x.js');
    const ours = Object.fromEntries(
      file!.lines.map(([l, h]) => [String(l), { ...(h.branchOnly ? {} : { hits: h.hits }), ...(h.branches ? { branches: h.branches } : {}) }]),
    );
    expect(ours).to.deep.equal(lcov);
  });

  it('writes Codecov lines as hits, or covered/total where branches start', () => {
    expect(JSON.parse(encodeCodecovJson(coverageLines(map, '/srv/app/')))).to.deep.equal({
      coverage: { 'x.js': { 1: 4, 2: '1/2', 3: 0, 4: 2, 5: '0/2' } },
    });
  });
});
