/**
 * Carry-over, diff coverage and set operations on the line-only formats
 * (LCOV, Cobertura, coveralls), pushed to the real gateway as CI jobs push
 * them: build v1, then build v2 bringing the diff from v1 in its envelope
 * (`build.diff`, no repository configured). The expected figures are a
 * hand-checkable table derived from the diff below:
 *
 *   v1 line:  1  2  3  4  5  6          diff v1 → v2: 2 lines inserted on top,
 *   v1 hits:  1  2  0  4  5  0          old line 4 changed (new line 6)
 *   → v2 at:  3  4  5  -  7  8
 *   v2 line:  2  3  4  5  6  7  8       (line 1 is a comment: not coverable)
 *   v2 hits:  0  0  0  1  2  0  3
 *   carried:  0  1  2  1  2  5  3       (v2 + v1 moved; line 6 changed: v2's own only)
 *   by location (carry=none): 1:1 2:2 3:0 4:4 5:6 6:2 7:0 8:3
 */
import { expect } from 'chai';
import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';

const FILE = 'src/app.js';
const V1: Record<number, number> = { 1: 1, 2: 2, 3: 0, 4: 4, 5: 5, 6: 0 };
const V2: Record<number, number> = { 2: 0, 3: 0, 4: 0, 5: 1, 6: 2, 7: 0, 8: 3 };
const DIFF = `diff --git a/${FILE} b/${FILE}
--- a/${FILE}
+++ b/${FILE}
@@ -0,0 +1,2 @@
+// header
+const added = 1;
@@ -4 +6 @@
-old four
+new four
`;
const CARRIED = { 2: 0, 3: 1, 4: 2, 5: 1, 6: 2, 7: 5, 8: 3 };
const BY_LOCATION = { 1: 1, 2: 2, 3: 0, 4: 4, 5: 6, 6: 2, 7: 0, 8: 3 };

/** The three line-only payloads of one build's line hits. */
const FORMATS: Record<string, (hits: Record<number, number>) => unknown> = {
  lcov: (hits) => `TN:\nSF:${FILE}\n${Object.entries(hits).map(([l, n]) => `DA:${l},${n}`).join('\n')}\nend_of_record\n`,
  cobertura: (hits) =>
    `<?xml version="1.0"?>\n<coverage><packages><package name="p"><classes><class name="app" filename="${FILE}"><lines>${Object.entries(hits)
      .map(([l, n]) => `<line number="${l}" hits="${n}"/>`)
      .join('')}</lines></class></classes></package></packages></coverage>\n`,
  coveralls: (hits) => ({ files: { [FILE]: Object.fromEntries(Object.entries(hits).map(([l, n]) => [l, n])) } }),
};

describe('carry-over, diff coverage and set operations on line-only formats (LCOV, Cobertura, coveralls) pushed with build.diff', function () {
  this.timeout(60_000);
  let gw: GatewayProcess;

  before(async () => {
    gw = await startGatewayProcess({ configYaml: 'global: { scrape_interval: 1h }\nscrape_configs: []\n' });
    for (const [format, payload] of Object.entries(FORMATS)) {
      const push = async (labels: string, build: Record<string, string>, hits: Record<number, number>) => {
        const r = await gw.api.post(`/api/v1/coverage?job=${format}&${labels}`, { format, build, data: payload(hits) });
        expect(r.status, JSON.stringify(r.data)).to.equal(202);
      };
      await push('test_type=MT', { commit: 'v1' }, V1);
      await push('test_type=AT', { commit: 'v2', diff_base: 'v1', diff: DIFF }, V2);
    }
  });
  after(async () => {
    await gw?.stop();
  });

  /** Line → hits of the only file of an Istanbul map, by istanbul-lib-coverage's line rule. */
  const linesOf = (map: CoverageMapData) => {
    const files = Object.keys(map);
    expect(files).to.have.length(1);
    return libCoverage.createFileCoverage(structuredClone(map[files[0]!]!)).getLineCoverage();
  };

  for (const format of Object.keys(FORMATS)) {
    describe(format, () => {
      it('carry=lines moves v1’s counts to v2’s lines through the uploaded diff and never onto the changed line; carry=none merges by location and says nothing was carried', async () => {
        const r = await gw.api.get(`/api/v1/coverage?job=${format}`);
        expect(r.status).to.equal(200);
        expect(r.headers['x-covgate-carry']).to.equal('lines');
        expect(r.headers['x-covgate-carried-from']).to.equal('v1 -> v2');
        expect(linesOf(r.data)).to.deep.equal(CARRIED);
        expect(r.headers['x-covgate-observed-lines']).to.equal('3/7');
        expect(r.headers['x-covgate-carried-lines']).to.equal('3');
        const none = await gw.api.get(`/api/v1/coverage?job=${format}&carry=none`);
        expect(linesOf(none.data)).to.deep.equal(BY_LOCATION);
      });

      it('GET /api/v1/carry lists the carried lines with when they were last seen run', async () => {
        const d = (await gw.api.get(`/api/v1/carry?job=${format}`)).data.data;
        expect(d.builds).to.have.length(1);
        expect(d.builds[0]).to.include({ commit: 'v1', diff: 'uploaded' });
        expect(d.files).to.have.length(1);
        expect(d.files[0].lines.map((l: { line: number; hits: number; observed: number; from: string; lastSeen: string }) => [l.line, l.hits, l.observed, l.from, l.lastSeen])).to.deep.equal([
          [3, 1, 0, 'v1', d.builds[0].lastSeen],
          [4, 2, 0, 'v1', d.builds[0].lastSeen],
          [7, 5, 0, 'v1', d.builds[0].lastSeen],
        ]);
      });

      it('diff coverage of the change: lines 2 and 6 coverable, 6 covered by v2 itself; by location v1’s lines 1 and 2 would count', async () => {
        const r = await gw.api.post(`/api/v1/diff-coverage?job=${format}`, DIFF, { headers: { 'Content-Type': 'text/plain' } });
        expect(r.status, JSON.stringify(r.data)).to.equal(200);
        const f = r.data.data.files[0];
        expect(f.lines.map((l: { line: number; hits: number | null }) => [l.line, l.hits])).to.deep.equal([
          [1, null],
          [2, 0],
          [6, 2],
        ]);
        expect(r.data.data.totals).to.include({ coverable: 2, covered: 1, observed: 1, carried: 0 });
        const none = await gw.api.post(`/api/v1/diff-coverage?job=${format}&carry=none`, DIFF, { headers: { 'Content-Type': 'text/plain' } });
        // The misattribution carrying avoids: v1's lines 1 and 2 (now a comment and a new line) counted as run.
        expect(none.data.data.totals).to.include({ coverable: 3, covered: 3 });
      });

      it('set operations on two selections: subtract keeps A where B is 0, intersect where B ran (A’s structure, by location)', async () => {
        const sub = await gw.api.get(`/api/v1/coverage?job=${format}&test_type=MT&op=subtract&b.job=${format}&b.test_type=AT`);
        expect(sub.headers['x-covgate-op']).to.equal('subtract');
        expect(linesOf(sub.data)).to.deep.equal({ 1: 1, 2: 2, 3: 0, 4: 4, 5: 0, 6: 0 });
        const inter = await gw.api.get(`/api/v1/coverage?job=${format}&test_type=MT&op=intersect&b.job=${format}&b.test_type=AT`);
        expect(linesOf(inter.data)).to.deep.equal({ 1: 0, 2: 0, 3: 0, 4: 0, 5: 5, 6: 0 });
      });
    });
  }

  it('a push whose build.diff is not a diff is refused with 400 naming build.diff, and stores nothing', async () => {
    const r = await gw.api.post('/api/v1/coverage?job=bad', { format: 'lcov', build: { commit: 'v3', diff: 'not a diff' }, data: FORMATS.lcov!(V2) });
    expect(r.status).to.equal(400);
    expect(r.data.error).to.match(/build\.diff is not a unified diff/);
    const after = await gw.api.get('/api/v1/coverage?job=bad');
    expect(after.data).to.deep.equal({});
  });
});
