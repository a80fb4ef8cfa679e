import { dirname } from 'node:path';
import { expect } from 'chai';
import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { SAMPLE_APP } from '../helpers/exporter-process.ts';
import { useProcesses } from '../helpers/processes.ts';

const AUTH = { headers: { Authorization: 'Bearer s3cret' } };
/** A diff of the sample app as its repository would show it: lines 3–5 (add's body) and 16–17 (neverCalled) changed. */
const DIFF = `diff --git a/app.cjs b/app.cjs
--- a/app.cjs
+++ b/app.cjs
@@ -3,3 +3,3 @@
-function add(a, b) {
-  return a + b;
-}
+function add(a, b) {
+  return a + b;
+}
@@ -16,2 +16,2 @@
-function neverCalled() {
-  return 'this line stays uncovered';
+function neverCalled() {
+  return 'this line stays uncovered';
`;

describe('diff coverage and set operations through the API (real gateway and exporter processes)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();

  const config = (address: string, protectReads: boolean) => `server:
  auth:
    bearer_token: s3cret
    protect_reads: ${protectReads}
scrape_configs:
  - job_name: orders
    scrape_interval: 1h
    sources: [${JSON.stringify(dirname(SAMPLE_APP))}]
    static_configs:
      - targets: [${address}]
`;

  it('POST /api/v1/diff-coverage is a read: open without a token, and equal to the exporter’s own line counts', async () => {
    const a = await exporter();
    const g = await gateway(config(a.address, false));
    await a.hit('/add?a=1&b=2');
    await a.hit('/add?a=3&b=4');
    expect((await g.api.post('/api/v1/scrape', {}, AUTH)).status).to.equal(200);
    const raw = await a.raw();
    const counts = libCoverage.createFileCoverage(raw[SAMPLE_APP]!).getLineCoverage();

    const r = await g.api.post('/api/v1/diff-coverage?job=orders', DIFF, { headers: { 'Content-Type': 'text/x-diff' } });
    expect(r.status, JSON.stringify(r.data)).to.equal(200);
    const [file] = r.data.data.files as Array<{ path: string; coveragePath: string; lines: Array<{ line: number; hits: number | null }> }>;
    expect(file).to.include({ path: 'app.cjs', coveragePath: SAMPLE_APP });
    expect(file!.lines.map((l) => [l.line, l.hits])).to.deep.equal([3, 4, 5, 16, 17].map((l) => [l, counts[l] ?? null]));
    expect(counts[4]).to.equal(2); // add's body ran twice
    expect(counts[17]).to.equal(0); // neverCalled
  });

  it('with protect_reads the POST needs the token like every read', async () => {
    const a = await exporter();
    const g = await gateway(config(a.address, true));
    expect((await g.api.post('/api/v1/diff-coverage?job=orders', DIFF)).status).to.equal(401);
    expect((await g.api.post('/api/v1/scrape', {}, AUTH)).status).to.equal(200);
    expect((await g.api.post('/api/v1/diff-coverage?job=orders', DIFF, AUTH)).status).to.equal(200);
  });

  it('op=intersect of a selection with itself is the selection; op=subtract is all zero, in A’s structure', async () => {
    const a = await exporter();
    const g = await gateway(config(a.address, false));
    await a.hit('/classify?n=5');
    expect((await g.api.post('/api/v1/scrape', {}, AUTH)).status).to.equal(200);
    const raw = (await a.raw())[SAMPLE_APP]!;
    const inter = (await g.api.get('/api/v1/coverage?job=orders&op=intersect&b.job=orders')).data as CoverageMapData;
    expect(Object.values(inter[SAMPLE_APP]!.s)).to.deep.equal(Object.values(raw.s));
    expect(Object.values(inter[SAMPLE_APP]!.b)).to.deep.equal(Object.values(raw.b));
    const sub = (await g.api.get('/api/v1/coverage?job=orders&op=subtract&b.job=orders')).data as CoverageMapData;
    expect(Object.values(sub[SAMPLE_APP]!.s).every((v) => v === 0)).to.equal(true);
    expect(Object.keys(sub[SAMPLE_APP]!.statementMap)).to.have.length(Object.keys(raw.statementMap).length);
  });
});
