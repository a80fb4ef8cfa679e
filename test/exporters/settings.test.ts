import { expect } from 'chai';
import { formatDuration, parseDurationMs, parseLabels } from '../../exporters/shared/settings.ts';
import { reportPath } from '../../exporters/browser/source-maps.ts';
import { hitsOf, mapStructureHash, zeroCounters } from '../../exporters/shared/coverage-payload.ts';

describe('exporter settings', function () {
  const labels: [string | undefined, Record<string, string>][] = [
    [undefined, {}],
    ['', {}],
    ['release=2026.11', { release: '2026.11' }],
    ['a=1, b = two ,=x,novalue,c=', { a: '1', b: 'two', c: '' }],
    ['url=http://x/?q=1', { url: 'http://x/?q=1' }],
  ];
  for (const [text, want] of labels) {
    it(`parseLabels(${JSON.stringify(text)}) reads k=v pairs and skips malformed ones`, () => {
      expect(parseLabels(text)).to.deep.equal(want);
    });
  }

  const durations: [string | number | undefined, number | undefined][] = [
    ['60s', 60_000], ['500ms', 500], ['1m30s', 90_000], ['2h', 7_200_000], ['45', 45_000], [30, 30_000],
    ['', undefined], [undefined, undefined], ['10 s', undefined], ['abc', undefined], ['5x', undefined],
  ];
  for (const [text, want] of durations) {
    it(`parseDurationMs(${JSON.stringify(text)}) is ${want}`, () => {
      expect(parseDurationMs(text)).to.equal(want);
    });
  }

  it('formatDuration writes seconds when whole, else milliseconds', () => {
    expect([formatDuration(60_000), formatDuration(1500)]).to.deep.equal(['60s', '1500ms']);
  });
});

describe('browser reportPath', function () {
  const cases: [string, string | undefined, string][] = [
    ['http://127.0.0.1:8080/src/a.ts', undefined, '/src/a.ts'],
    ['http://127.0.0.1:8080/src/a%20b.ts', undefined, '/src/a b.ts'],
    ['http://127.0.0.1:8080/src/a.ts', '/repo/web', '/repo/web/src/a.ts'],
    ['webpack://shop/./src/b.ts', undefined, '/src/b.ts'],
    ['webpack:///src/c.ts', '/repo', '/repo/src/c.ts'],
    ['file:///home/dev/app/x.ts', '/ignored', '/home/dev/app/x.ts'],
  ];
  for (const [url, root, want] of cases) {
    it(`reports ${url}${root ? ` under ${root}` : ''} as ${want}`, () => {
      expect(reportPath(url, root)).to.equal(want);
    });
  }
});

describe('coverage payload helpers', function () {
  const file = (s: number[]) => ({
    path: '/a.js',
    statementMap: Object.fromEntries(s.map((_, i) => [i, { start: { line: i + 1, column: 0 }, end: { line: i + 1, column: 5 } }])),
    fnMap: {},
    branchMap: { 0: { loc: { start: { line: 1, column: 0 }, end: { line: 1, column: 1 } }, type: 'if', locations: [], line: 1 } },
    s: Object.fromEntries(s.map((n, i) => [i, n])),
    f: {},
    b: { 0: [1, 2] },
  });

  it('hashes structure, not counters', () => {
    expect(mapStructureHash({ '/a.js': file([1, 2]) } as never)).to.equal(mapStructureHash({ '/a.js': file([0, 9]) } as never));
    expect(mapStructureHash({ '/a.js': file([1, 2]) } as never)).to.not.equal(mapStructureHash({ '/a.js': file([1, 2, 3]) } as never));
  });

  it('lists counters as arrays indexed by Istanbul ids, and zeroes them in place', () => {
    const map = { '/a.js': file([3, 0, 1]) } as never;
    expect(hitsOf(map)).to.deep.equal({ '/a.js': { s: [3, 0, 1], f: [], b: [[1, 2]] } });
    zeroCounters(map);
    expect(hitsOf(map)).to.deep.equal({ '/a.js': { s: [0, 0, 0], f: [], b: [[0, 0]] } });
  });
});
