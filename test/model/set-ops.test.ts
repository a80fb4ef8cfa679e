import { expect } from 'chai';
import libCoverage from 'istanbul-lib-coverage';
import { decodePayload } from '../../gateway/formats/index.ts';
import { combineCoverage, summarize, type CoverageMapData } from '../../gateway/model/index.ts';

const decode = async (body: string, format: string) => (await decodePayload(body, { declaredFormat: format as never, contentType: 'text/plain' })).coverage as CoverageMapData;
const r = (l1: number, c1: number, l2: number, c2: number) => ({ start: { line: l1, column: c1 }, end: { line: l2, column: c2 } });

/** A small instrumented-JS file: 3 statements, 2 functions, one if with two arms. */
function jsFile(s: number[], f: number[], b: number[]): CoverageMapData[string] {
  return {
    path: '/app/a.js',
    statementMap: { 0: r(1, 0, 1, 10), 1: r(2, 2, 2, 20), 2: r(5, 2, 5, 9) },
    fnMap: {
      0: { name: 'f', decl: r(1, 9, 1, 10), loc: r(1, 12, 3, 1), line: 1 },
      1: { name: 'g', decl: r(4, 9, 4, 10), loc: r(4, 12, 6, 1), line: 4 },
    },
    branchMap: { 0: { loc: r(2, 2, 2, 20), type: 'if', locations: [r(2, 2, 2, 20), r(2, 2, 2, 20)], line: 2 } },
    s: { 0: s[0]!, 1: s[1]!, 2: s[2]! },
    f: { 0: f[0]!, 1: f[1]! },
    b: { 0: b },
  } as CoverageMapData[string];
}

describe('model/combineCoverage (set operations as go tool covdata)', () => {
  const A = { '/app/a.js': jsFile([3, 0, 2], [3, 1], [2, 1]) };
  const B = { '/app/a.js': jsFile([1, 4, 0], [1, 0], [0, 5]) };

  it('subtract keeps A’s count where B’s is zero, per statement, function and branch arm', () => {
    const out = combineCoverage(A, B, 'subtract')['/app/a.js']!;
    expect(out.s).to.deep.equal({ 0: 0, 1: 0, 2: 2 });
    expect(out.f).to.deep.equal({ 0: 0, 1: 1 });
    expect(out.b).to.deep.equal({ 0: [2, 0] });
    expect(out.statementMap).to.deep.equal(A['/app/a.js'].statementMap);
  });

  it('intersect keeps A’s count where B’s is above zero', () => {
    const out = combineCoverage(A, B, 'intersect')['/app/a.js']!;
    expect(out.s).to.deep.equal({ 0: 3, 1: 0, 2: 0 });
    expect(out.f).to.deep.equal({ 0: 3, 1: 0 });
    expect(out.b).to.deep.equal({ 0: [0, 1] });
  });

  it('merge equals istanbul-lib-coverage’s merge', () => {
    const want = libCoverage.createCoverageMap(structuredClone(A));
    want.merge(structuredClone(B));
    expect(combineCoverage(A, B, 'merge')).to.deep.equal(JSON.parse(JSON.stringify(want.toJSON())));
  });

  it('a merge result is plain data that merges again (three builds carried in a row)', () => {
    const want = libCoverage.createCoverageMap(structuredClone(A));
    want.merge(structuredClone(B));
    want.merge(structuredClone(B));
    expect(combineCoverage(combineCoverage(A, B, 'merge'), B, 'merge')).to.deep.equal(JSON.parse(JSON.stringify(want.toJSON())));
  });

  it('does not modify its inputs', () => {
    const a = structuredClone(A);
    const b = structuredClone(B);
    combineCoverage(a, b, 'subtract');
    combineCoverage(a, b, 'merge');
    expect(a).to.deep.equal(A);
    expect(b).to.deep.equal(B);
  });

  it('files absent from B: subtract keeps them whole, intersect zeroes them; files only in B are ignored', () => {
    const onlyB = { '/app/other.js': jsFile([1, 1, 1], [1, 1], [1, 1]) };
    expect(combineCoverage(A, onlyB, 'subtract')).to.deep.equal(A);
    const inter = combineCoverage(A, onlyB, 'intersect');
    expect(Object.keys(inter)).to.deep.equal(['/app/a.js']);
    expect(inter['/app/a.js']!.s).to.deep.equal({ 0: 0, 1: 0, 2: 0 });
  });

  it('matches units of different builds by source location', () => {
    // B is another build: statement 0 moved (not the same unit), statement 2 unchanged.
    const b2 = structuredClone(B);
    b2['/app/a.js'].statementMap[0] = r(7, 0, 7, 10);
    b2['/app/a.js'].s = { 0: 9, 1: 0, 2: 1 };
    const out = combineCoverage(A, b2, 'subtract')['/app/a.js']!;
    expect(out.s).to.deep.equal({ 0: 3, 1: 0, 2: 0 });
  });

  it('Go blocks keep numStmts, so statement-weighted summaries of the result stay Go’s', async () => {
    const a = await decode('mode: count\nm/a.go:3.1,5.2 3 4\nm/a.go:6.1,7.2 2 1\nm/a.go:8.1,9.2 1 0\n', 'gocover');
    const b = await decode('mode: count\nm/a.go:3.1,5.2 3 0\nm/a.go:6.1,7.2 2 7\nm/a.go:8.1,9.2 1 2\n', 'gocover');
    const sub = combineCoverage(a, b, 'subtract');
    expect(Object.values(sub['m/a.go']!.s)).to.deep.equal([4, 0, 0]);
    expect(summarize(sub).semantics).to.equal('go-statements');
    expect(summarize(sub).statements).to.include({ covered: 3, total: 6 });
    const inter = combineCoverage(a, b, 'intersect');
    expect(Object.values(inter['m/a.go']!.s)).to.deep.equal([0, 1, 0]);
    expect(summarize(inter).statements).to.include({ covered: 2, total: 6 });
    const merged = combineCoverage(a, b, 'merge');
    expect(Object.values(merged['m/a.go']!.s)).to.deep.equal([4, 8, 2]);
    expect(summarize(merged).statements).to.include({ covered: 6, total: 6 });
    expect(summarize(merged).semantics).to.equal('go-statements');
  });

  for (const [format, a, b] of [
    ['lcov', 'TN:\nSF:/a.c\nDA:1,5\nDA:2,0\nDA:3,2\nend_of_record\n', 'TN:\nSF:/a.c\nDA:1,0\nDA:2,3\nDA:3,1\nend_of_record\n'],
    ['coveralls', JSON.stringify({ files: { 'src/a.erl': { '1': 5, '2': 0, '3': 2 } } }), JSON.stringify({ files: { 'src/a.erl': { '1': 0, '2': 3, '3': 1 } } })],
    [
      'cobertura',
      '<?xml version="1.0"?><coverage><packages><package name="p"><classes><class name="a" filename="a.py"><lines><line number="1" hits="5"/><line number="2" hits="0"/><line number="3" hits="2"/></lines></class></classes></package></packages></coverage>',
      '<?xml version="1.0"?><coverage><packages><package name="p"><classes><class name="a" filename="a.py"><lines><line number="1" hits="0"/><line number="2" hits="3"/><line number="3" hits="1"/></lines></class></classes></package></packages></coverage>',
    ],
  ] as const) {
    it(`line-only ${format}: per-line subtract and intersect`, async () => {
      const ma = await decode(a, format);
      const mb = await decode(b, format);
      const lines = (m: CoverageMapData) => libCoverage.createFileCoverage(Object.values(m)[0]!).getLineCoverage();
      expect(lines(combineCoverage(ma, mb, 'subtract'))).to.deep.equal({ 1: 5, 2: 0, 3: 0 });
      expect(lines(combineCoverage(ma, mb, 'intersect'))).to.deep.equal({ 1: 0, 2: 0, 3: 2 });
      expect(lines(combineCoverage(ma, mb, 'merge'))).to.deep.equal({ 1: 5, 2: 3, 3: 3 });
    });
  }
});
