import { expect } from 'chai';
import { decodePayload, encodeCoverage } from '../../gateway/formats/index.ts';
import libCoverage from 'istanbul-lib-coverage';
import { expandGoStatements, summarize, type CoverageMapData } from '../../gateway/model/index.ts';

const decode = async (body: string, format: string) => (await decodePayload(body, { declaredFormat: format as never, contentType: 'text/plain' })).coverage as CoverageMapData;

describe('model/summarize semantics and availability', () => {
  it('weights Go blocks by their statement count and marks functions and branches unavailable', async () => {
    const map = await decode('mode: count\nm/a.go:3.1,5.2 3 1\nm/a.go:6.1,7.2 1 0\n', 'gocover');
    const s = summarize(map);
    expect(s.semantics).to.equal('go-statements');
    expect(s.statements).to.include({ covered: 3, total: 4 });
    expect(s.functions.available).to.equal(false);
    expect(s.branches.available).to.equal(false);
  });

  it('LCOV without FN/BRDA has no functions or branches; with FN it has functions', async () => {
    const plain = summarize(await decode('TN:\nSF:/a.js\nDA:1,1\nDA:2,0\nend_of_record\n', 'lcov'));
    expect(plain.semantics).to.equal('istanbul');
    expect(plain.functions.available).to.equal(false);
    expect(plain.branches.available).to.equal(false);
    const withFn = summarize(await decode('TN:\nSF:/a.js\nFN:1,f\nFNDA:1,f\nDA:1,1\nDA:2,0\nend_of_record\n', 'lcov'));
    expect(withFn.functions.available).to.equal(undefined);
    expect(withFn.functions).to.include({ covered: 1, total: 1 });
    expect(withFn.branches.available).to.equal(false);
  });

  it('coveralls line maps have no functions or branches', async () => {
    const s = summarize(await decode(JSON.stringify({ files: { 'src/x.erl': { '1': 3, '2': 0 } } }), 'coveralls'));
    expect(s.functions.available).to.equal(false);
    expect(s.branches.available).to.equal(false);
    expect(s.lines).to.include({ covered: 1, total: 2 });
  });

  it('instrumented JavaScript keeps Istanbul semantics: a file without functions is 100%, not unavailable', () => {
    const map = {
      '/a.js': {
        path: '/a.js',
        statementMap: { 0: { start: { line: 1, column: 0 }, end: { line: 1, column: 12 } } },
        fnMap: {},
        branchMap: {},
        s: { 0: 1 },
        f: {},
        b: {},
      },
    } as unknown as CoverageMapData;
    const s = summarize(map);
    expect(s.semantics).to.equal('istanbul');
    expect(s.functions.available).to.equal(undefined);
    expect(s.functions.pct).to.equal(100);
    // json-summary of plain Istanbul coverage is istanbul-reports' own plus `semantics`.
    const json = JSON.parse(encodeCoverage(map, 'json-summary').body) as { total: { semantics: string; statements: { pct: number } } };
    expect(json.total.semantics).to.equal('istanbul');
    expect(json.total.statements.pct).to.equal(100);
  });

  it('expanding Go blocks by numStmts makes istanbul (the HTML report) count Go statements, lines unchanged', async () => {
    const map = await decode('mode: count\nm/a.go:3.1,5.2 3 2\nm/a.go:6.1,7.2 1 0\nm/a.go:8.1,9.2 2 1\n', 'gocover');
    const istanbul = libCoverage.createCoverageMap(expandGoStatements(map)).getCoverageSummary().toJSON();
    const ours = summarize(map);
    expect(istanbul.statements).to.include({ covered: ours.statements.covered, total: ours.statements.total });
    expect(istanbul.lines).to.include({ covered: ours.lines.covered, total: ours.lines.total });
  });

  it('text-summary says n/a for a kind the format does not have', async () => {
    const map = await decode('mode: set\nm/a.go:3.1,5.2 3 1\nm/a.go:6.1,7.2 1 0\n', 'gocover');
    const text = encodeCoverage(map, 'text-summary').body;
    expect(text).to.match(/Functions\s+: n\/a/);
    expect(text).to.match(/Statements\s+: 75% \( 3\/4 \), Go statements/);
    expect(text).to.include('Semantics    : go-statements');
  });
});
