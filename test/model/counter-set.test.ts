import { expect } from 'chai';
import libCoverage from 'istanbul-lib-coverage';
import { CounterSet, splitCoverageMap, summarize, continuesLifetime, type CoverageMapData } from '../../gateway/model/index.ts';

const loc = (sl: number, sc: number, el: number, ec: number) => ({ start: { line: sl, column: sc }, end: { line: el, column: ec } });

function fileCov(path: string, s: number[], opts: { shift?: number; f?: number[]; b?: number[][] } = {}): CoverageMapData[string] {
  const shift = opts.shift ?? 0;
  const statementMap: Record<string, ReturnType<typeof loc>> = {};
  s.forEach((_, i) => (statementMap[i] = loc(i + 1 + shift, 0, i + 1 + shift, 10)));
  const f = opts.f ?? [1];
  const b = opts.b ?? [[1, 0]];
  return {
    path,
    statementMap,
    fnMap: Object.fromEntries(f.map((_, i) => [i, { name: `f${i}`, decl: loc(1 + shift, 0, 1 + shift, 5), loc: loc(1 + shift, 0, 3 + shift, 1), line: 1 + shift }])),
    branchMap: Object.fromEntries(b.map((arms, i) => [i, { loc: loc(2 + shift, 0, 2 + shift, 9), type: 'if', locations: arms.map(() => loc(2 + shift, 0, 2 + shift, 9)), line: 2 + shift }])),
    s: Object.fromEntries(s.map((v, i) => [i, v])),
    f: Object.fromEntries(f.map((v, i) => [i, v])),
    b: Object.fromEntries(b.map((v, i) => [i, v])),
  } as unknown as CoverageMapData[string];
}

function istanbulMerge(...maps: CoverageMapData[]): CoverageMapData {
  const cm = libCoverage.createCoverageMap({});
  for (const m of maps) cm.merge(structuredClone(m));
  return JSON.parse(JSON.stringify(cm.toJSON())) as CoverageMapData;
}

describe('model/CounterSet', () => {
  it('adds counters of the same build by index, equal to istanbul-lib-coverage merge', () => {
    const a = { '/a.js': fileCov('/a.js', [1, 0, 2], { f: [1], b: [[1, 0]] }) };
    const b = { '/a.js': fileCov('/a.js', [0, 3, 1], { f: [2], b: [[0, 4]] }) };
    const sa = splitCoverageMap(a);
    const sb = splitCoverageMap(b);
    const set = new CounterSet().addSnapshot(sa.snapshot).addSnapshot(sb.snapshot);
    const lookup = (h: string) => sa.structures.get(h) ?? sb.structures.get(h);
    const { map, missing } = set.toCoverageMap(lookup);
    expect(missing).to.deep.equal([]);
    expect(map).to.deep.equal(istanbulMerge(a, b));
  });

  it('merges different builds of a path by source location, never failing', () => {
    const v1 = { '/a.js': fileCov('/a.js', [1, 0, 0]) };
    const v2 = { '/a.js': fileCov('/a.js', [0, 0, 5, 1], { shift: 0 }) };
    const s1 = splitCoverageMap(v1);
    const s2 = splitCoverageMap(v2);
    expect([...s1.structures.keys()][0]).to.not.equal([...s2.structures.keys()][0]);
    const set = new CounterSet().addSnapshot(s1.snapshot).addSnapshot(s2.snapshot);
    const { map } = set.toCoverageMap((h) => s1.structures.get(h) ?? s2.structures.get(h));
    expect(summarize(map).statements).to.include({ total: 4, covered: 3 });
  });

  it('reports unknown structures instead of failing the merge', () => {
    const s = splitCoverageMap({ '/a.js': fileCov('/a.js', [1]), '/b.js': fileCov('/b.js', [1]) });
    const set = CounterSet.fromSnapshot(s.snapshot);
    const known = s.snapshot['/a.js']!.structure;
    const { map, missing } = set.toCoverageMap((h) => (h === known ? s.structures.get(h) : undefined));
    expect(Object.keys(map)).to.deep.equal(['/a.js']);
    expect(missing).to.have.length(1);
  });

  it('minus gives what ran since a baseline, clamped at zero', () => {
    const s0 = splitCoverageMap({ '/a.js': fileCov('/a.js', [1, 0], { f: [1], b: [[1, 0]] }) });
    const s1 = splitCoverageMap({ '/a.js': fileCov('/a.js', [3, 0], { f: [1], b: [[1, 2]] }) });
    const d = CounterSet.fromSnapshot(s1.snapshot).minus(CounterSet.fromSnapshot(s0.snapshot)).toJSON();
    const h = s0.snapshot['/a.js']!.structure;
    expect(d['/a.js']![h]).to.deep.equal({ s: [2, 0], f: [0], b: [[0, 2]] });
  });

  it('minus subtracts by source location when the structure changed between baseline and end', () => {
    // Baseline knew statements on lines 1-2; the end's structure has lines 1-3 (same places for 1-2).
    const s0 = splitCoverageMap({ '/a.js': fileCov('/a.js', [4, 1]) });
    const s1 = splitCoverageMap({ '/a.js': fileCov('/a.js', [6, 1, 2]) });
    const structures = new Map([...s0.structures, ...s1.structures]);
    const lookup = (h: string) => structures.get(h);
    const d = CounterSet.fromSnapshot(s1.snapshot).minus(CounterSet.fromSnapshot(s0.snapshot), lookup).toJSON();
    expect(d['/a.js']![s1.snapshot['/a.js']!.structure]!.s).to.deep.equal([2, 0, 2]);
  });

  it('round-trips through JSON', () => {
    const s = splitCoverageMap({ '/a.js': fileCov('/a.js', [1, 2]) });
    const set = CounterSet.fromSnapshot(s.snapshot);
    expect(CounterSet.fromJSON(JSON.parse(JSON.stringify(set.toJSON()))).toJSON()).to.deep.equal(set.toJSON());
  });
});

describe('model/splitCoverageMap', () => {
  it('names the file and field of invalid input', () => {
    expect(() => splitCoverageMap({ '/a.js': { path: '/a.js', statementMap: {} } })).to.throw(/file "\/a.js": missing or invalid "fnMap"/);
    expect(() => splitCoverageMap([])).to.throw(/expected an Istanbul coverage map/);
    const bad = fileCov('/a.js', [1]);
    (bad.s as Record<string, unknown>)['0'] = -1;
    expect(() => splitCoverageMap({ '/a.js': bad })).to.throw(/statement 0: hit count must be a non-negative number/);
  });

  it('gives the same hash to the same structure whatever the counters', () => {
    const a = splitCoverageMap({ '/a.js': fileCov('/a.js', [1, 0]) });
    const b = splitCoverageMap({ '/a.js': fileCov('/a.js', [7, 9]) });
    expect(a.snapshot['/a.js']!.structure).to.equal(b.snapshot['/a.js']!.structure);
  });
});

describe('model/continuesLifetime', () => {
  it('is false when a counter went down or the structure changed', () => {
    const a = splitCoverageMap({ '/a.js': fileCov('/a.js', [2, 1]) }).snapshot;
    const up = splitCoverageMap({ '/a.js': fileCov('/a.js', [3, 1]) }).snapshot;
    const down = splitCoverageMap({ '/a.js': fileCov('/a.js', [0, 1]) }).snapshot;
    const other = splitCoverageMap({ '/a.js': fileCov('/a.js', [3, 1, 1]) }).snapshot;
    expect(continuesLifetime(a, up)).to.equal(true);
    expect(continuesLifetime(a, down)).to.equal(false);
    expect(continuesLifetime(a, other)).to.equal(false);
  });

  it('within one instance a structure change continues the lifetime; only a decrease on the same structure ends it', () => {
    const a = splitCoverageMap({ '/a.js': fileCov('/a.js', [2, 1]) }).snapshot;
    const other = splitCoverageMap({ '/a.js': fileCov('/a.js', [0, 0, 1]) }).snapshot;
    const down = splitCoverageMap({ '/a.js': fileCov('/a.js', [0, 1]) }).snapshot;
    expect(continuesLifetime(a, other, { sameInstance: true })).to.equal(true);
    expect(continuesLifetime(a, down, { sameInstance: true })).to.equal(false);
  });
});
