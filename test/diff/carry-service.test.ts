import { expect } from 'chai';
import { createBuildDiffs, createDiffCoverage, composeChanges, parseUnifiedDiff, renderDiffHtml, renderDiffText, splitBuildDiff, withCarried, computeDiffCoverage, type BuildDiffs } from '../../gateway/diff/index.ts';
import { parseConfig } from '../../gateway/config/index.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { memoryKv } from '../fakes/memory-kv.ts';

const PATH = '/srv/app/x.js';
/** A file of one statement per line: `lines[i]` is the line of statement i, `s[i]` its count. */
function file(lines: number[], s: number[]): CoverageMapData {
  const statementMap = Object.fromEntries(lines.map((l, i) => [i, { start: { line: l, column: 0 }, end: { line: l, column: 9 } }]));
  return { [PATH]: { path: PATH, statementMap, s: Object.fromEntries(s.map((v, i) => [i, v])), fnMap: {}, f: {}, branchMap: {}, b: {} } } as unknown as CoverageMapData;
}

// A → B: two lines inserted at the top, old line 4 changed. B → C: the first line removed again.
const A_TO_B = '--- a/x.js\n+++ b/x.js\n@@ -0,0 +1,2 @@\n+// one\n+// two\n@@ -4 +6 @@\n-four\n+FOUR\n';
const B_TO_C = '--- a/x.js\n+++ b/x.js\n@@ -1 +0,0 @@\n-// one\n';

const CONFIG = parseConfig(`scrape_configs:
  - job_name: shop
    static_configs: [{ targets: ['127.0.0.1:1'] }]
    sources: [/srv/app]
`);

type Build = { commit?: string; lastSeen: number; coverage: { map: CoverageMapData } };

function service(builds: Build[], uploaded?: BuildDiffs) {
  return createDiffCoverage({
    config: () => CONFIG,
    coverage: () => ({ map: builds[0]!.coverage.map }),
    byBuild: () => builds,
    services: () => [],
    git: async () => {
      throw new Error('git must not run: the job has no repository');
    },
    ...(uploaded ? { uploaded } : {}),
  });
}

const A: Build = { commit: 'a1', lastSeen: 1000, coverage: { map: file([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) } };
const B: Build = { commit: 'b1', lastSeen: 2000, coverage: { map: file([3, 4, 5, 6, 7], [0, 0, 10, 0, 0]) } };
const C: Build = { commit: 'c1', lastSeen: 3000, coverage: { map: file([2, 3, 4, 5, 6], [0, 0, 0, 0, 7]) } };

describe('diff/createDiffCoverage carry() with diffs uploaded by the builds', () => {
  it('carries through the diff a build uploaded (build.diff with diff_base): unchanged lines move, the changed line gets nothing; each carried line says when it was last seen run', async () => {
    const uploaded = createBuildDiffs(memoryKv());
    await uploaded.open();
    expect(await uploaded.record({ job: 'shop', commit: 'b1', base: 'a1', text: A_TO_B }, 1500)).to.equal(true);
    const r = (await service([B, A], uploaded).carry({ job: ['shop'] }))!;
    expect(r.mode).to.equal('lines');
    expect(r.via).to.deep.equal({ a1: 'uploaded' });
    expect(r.notes).to.deep.equal([]);
    expect(r.map[PATH]!.s).to.deep.equal({ 0: 1, 1: 2, 2: 13, 3: 0, 4: 5 });
    expect(r.lines[PATH]).to.deep.equal({
      3: { hits: 1, observed: 0, lastSeen: 1000, from: 'a1' },
      4: { hits: 2, observed: 0, lastSeen: 1000, from: 'a1' },
      5: { hits: 3, observed: 10, lastSeen: 1000, from: 'a1' },
      7: { hits: 5, observed: 0, lastSeen: 1000, from: 'a1' },
    });
  });

  it('chains uploaded diffs across three builds (a diff without diff_base starts at the build before it); last seen is the newest build that ran the line', async () => {
    const uploaded = createBuildDiffs(memoryKv());
    await uploaded.open();
    await uploaded.record({ job: 'shop', commit: 'b1', base: 'a1', text: A_TO_B }, 1500);
    await uploaded.record({ job: 'shop', commit: 'c1', text: B_TO_C }, 2500);
    const r = (await service([C, B, A], uploaded).carry({ job: ['shop'] }))!;
    expect(r.carriedFrom).to.deep.equal(['b1', 'a1']);
    expect(r.map[PATH]!.s).to.deep.equal({ 0: 1, 1: 2, 2: 13, 3: 0, 4: 12 });
    expect(r.lines[PATH]![4]).to.deep.equal({ hits: 13, observed: 0, lastSeen: 2000, from: 'b1' });
    expect(r.lines[PATH]![2]).to.deep.equal({ hits: 1, observed: 0, lastSeen: 1000, from: 'a1' });
    expect(r.lines[PATH]![6]).to.deep.equal({ hits: 5, observed: 7, lastSeen: 1000, from: 'a1' });
    expect(r.lines[PATH]![5]).to.equal(undefined);
  });

  it('without any diff the builds are merged by source location, and the result says so', async () => {
    const r = (await service([B, A]).carry({ job: ['shop'] }))!;
    expect(r.mode).to.equal('none');
    expect(r.notes.join(';')).to.match(/no diff between builds a1 and b1 .*none uploaded with build\.diff.*merged by source location/);
    // Location merge: A's lines 3-5 add to B's statements there (the misattribution carrying avoids), A's lines 1-2 are extra statements.
    expect(r.map[PATH]!.s).to.deep.equal({ 0: 3, 1: 4, 2: 15, 3: 0, 4: 0, 5: 1, 6: 2 });
    expect(r.lines).to.deep.equal({});
  });

  it('diff coverage shows carried counts per changed line and splits covered lines into observed and carried only', async () => {
    const uploaded = createBuildDiffs(memoryKv());
    await uploaded.open();
    await uploaded.record({ job: 'shop', commit: 'c1', text: B_TO_C }, 2500);
    const r = (await service([C, B], uploaded).carry({ job: ['shop'] }))!;
    // A change touching new lines 3-6 of C.
    const change = '--- a/x.js\n+++ b/x.js\n@@ -3,3 +3,4 @@\n-x\n-y\n-z\n+p\n+q\n+r\n+s\n';
    const report = withCarried(computeDiffCoverage(parseUnifiedDiff(change), r.map, { pathMap: {}, roots: ['/srv/app'] }), r.lines);
    expect(report.files[0]!.lines.map((l) => [l.line, l.hits, l.carried?.hits ?? null])).to.deep.equal([
      [3, 0, null],
      [4, 10, 10],
      [5, 0, null],
      [6, 7, null],
    ]);
    expect(report.files[0]!.lines[1]!.carried).to.deep.equal({ hits: 10, observed: 0, lastSeen: new Date(2000).toISOString(), from: 'b1' });
    expect(report.totals).to.include({ covered: 2, observed: 1, carried: 1 });
    // Text and HTML say which lines only carried counts cover, and when they last ran.
    const seen = new Date(2000).toISOString();
    const text = renderDiffText(report, 'change');
    expect(text).to.include(`carried in x.js: 4 (from b1, last run ${seen})`);
    expect(text).to.include('covered: 1 observed on the newest build, 1 only carried from older builds');
    const html = renderDiffHtml(report, 'change');
    expect(html).to.include(`<td class="carried" title="carried from b1">10× carried, last run ${seen}</td>`);
    expect(html).to.include('<p id="carried">1 covered lines observed on the newest build, 1 only carried from older builds.</p>');
  });
});

describe('diff/composeChanges', () => {
  it('a line keeps a place only when both steps give it one; renames chain; files added on the way carry nothing', () => {
    const first = parseUnifiedDiff('diff --git a/a.js b/b.js\nsimilarity index 90%\nrename from a.js\nrename to b.js\n--- a/a.js\n+++ b/b.js\n@@ -2 +2,2 @@\n-two\n+TWO\n+more\n');
    const then = parseUnifiedDiff('--- a/b.js\n+++ b/b.js\n@@ -0,0 +1 @@\n+top\n--- /dev/null\n+++ b/new.js\n@@ -0,0 +1 @@\n+x\n');
    const c = composeChanges(first, then);
    const ab = c.find((f) => f.newPath === 'b.js')!;
    expect(ab.oldPath).to.equal('a.js');
    expect(ab.status).to.equal('renamed');
    expect([1, 2, 3, 4].map(ab.map)).to.deep.equal([2, undefined, 5, 6]);
    expect(c.find((f) => f.newPath === 'new.js')!.status).to.equal('added');
  });
});

describe('diff/createBuildDiffs', () => {
  it('refuses what is not a diff (naming build.diff) and stores nothing; the same diff again writes nothing', async () => {
    const kv = memoryKv<never>();
    const d = createBuildDiffs(kv);
    await d.open();
    let err: Error | undefined;
    await d.record({ job: 'shop', commit: 'b1', text: 'hello, not a diff\n' }, 1).catch((e: Error) => (err = e));
    expect(err?.message).to.match(/^build\.diff is not a unified diff/);
    expect(kv.data.size).to.equal(0);
    expect(await d.record({ job: 'shop', commit: 'b1', base: 'a1', text: A_TO_B }, 1)).to.equal(true);
    expect(await d.record({ job: 'shop', commit: 'b1', base: 'a1', text: A_TO_B }, 2)).to.equal(false);
    // Durable: a new instance over the same sublevel knows it.
    const again = createBuildDiffs(kv);
    await again.open();
    expect(again.forCommit('b1', ['shop']).map((x) => [x.job, x.base, x.files.length])).to.deep.equal([['shop', 'a1', 1]]);
    expect(again.forCommit('b1', ['other'])).to.deep.equal([]);
  });

  it('splitBuildDiff keeps build info apart from the diff and names what is missing', () => {
    expect(splitBuildDiff({ commit: 'b1', version: '2', diff: A_TO_B, diff_base: 'a1' })).to.deep.equal({ build: { commit: 'b1', version: '2' }, diff: { commit: 'b1', base: 'a1', text: A_TO_B } });
    expect(splitBuildDiff({ commit: 'b1' })).to.deep.equal({ build: { commit: 'b1' } });
    expect(() => splitBuildDiff({ diff: A_TO_B })).to.throw(/build\.diff needs build\.commit/);
    expect(() => splitBuildDiff({ commit: 'b1', diff_base: 'a1' })).to.throw(/build\.diff_base without build\.diff/);
  });
});
