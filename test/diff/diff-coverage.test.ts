import { expect } from 'chai';
import { decodePayload } from '../../gateway/formats/index.ts';
import {
  computeDiffCoverage,
  createPathIndex,
  gitRefProblem,
  mapCoveragePath,
  parseUnifiedDiff,
  renderDiffHtml,
  renderDiffText,
} from '../../gateway/diff/index.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';

/** What `git diff HEAD~1...HEAD` printed for: a file deleted, one renamed with a line added, one with a line inserted above and one changed. */
const GIT_DIFF = `diff --git a/del.js b/del.js
deleted file mode 100644
index bca70f3..0000000
--- a/del.js
+++ /dev/null
@@ -1 +0,0 @@
-q
diff --git a/old.js b/new.js
similarity index 80%
rename from old.js
rename to new.js
index 94ebaf9..8a1218a 100644
--- a/old.js
+++ b/new.js
@@ -2,3 +2,4 @@
 2
 3
 4
+5
diff --git a/x.js b/x.js
index de98044..f26def5 100644
--- a/x.js
+++ b/x.js
@@ -1,3 +1,4 @@
+z
 a
-b
+B
 c
`;

const r = (l1: number, c1: number, l2: number, c2: number) => ({ start: { line: l1, column: c1 }, end: { line: l2, column: c2 } });
const stmts = (path: string, lines: Array<[number, number]>): CoverageMapData[string] =>
  ({
    path,
    statementMap: Object.fromEntries(lines.map(([l], i) => [i, r(l, 0, l, 5)])),
    s: Object.fromEntries(lines.map(([, h], i) => [i, h])),
    fnMap: {},
    f: {},
    branchMap: {},
    b: {},
  }) as CoverageMapData[string];

describe('diff/parseUnifiedDiff', () => {
  it('reads git diffs: deletions add nothing, renames keep both names, added lines are numbered in the new file', () => {
    const files = parseUnifiedDiff(GIT_DIFF);
    expect(files.map((f) => [f.status, f.oldPath, f.newPath, f.added])).to.deep.equal([
      ['deleted', 'del.js', undefined, []],
      ['renamed', 'old.js', 'new.js', [5]],
      ['modified', 'x.js', 'x.js', [1, 3]],
    ]);
    expect(files[2]!.text.get(3)).to.equal('B');
  });

  it('reads plain (non-git) unified diffs and strips a/ b/', () => {
    const files = parseUnifiedDiff('--- a/src/x.js\t2026-01-01\n+++ b/src/x.js\t2026-01-02\n@@ -1,2 +1,2 @@\n-a\n+b\n c\n');
    expect(files.map((f) => [f.newPath, f.added])).to.deep.equal([['src/x.js', [1]]]);
  });

  it('refuses hunks whose counts do not match their header, absolute paths and .. (400 naming the problem)', () => {
    for (const [text, re] of [
      ['--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n', /hunk|invalid|Unknown/i],
      ['--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n', /must be relative/],
      ['--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n', /without "\.\."/],
    ] as const) {
      expect(() => parseUnifiedDiff(text), text).to.throw(re).with.property('status', 400);
    }
  });
});

describe('diff/path mapping', () => {
  it('applies the longest path_map prefix, then the longest root; file: URLs become paths', () => {
    const m = { pathMap: { 'example.com/m/': '', 'example.com/m/internal/': 'pkg/' }, roots: ['/srv', '/srv/app/'] };
    expect(mapCoveragePath('example.com/m/a.go', m)).to.equal('a.go');
    expect(mapCoveragePath('example.com/m/internal/b.go', m)).to.equal('pkg/b.go');
    expect(mapCoveragePath('/srv/app/src/x.js', m)).to.equal('src/x.js');
    expect(mapCoveragePath('file:///srv/app/src/x%20y.js', m)).to.equal('src/x y.js');
    expect(mapCoveragePath('/elsewhere/x.js', m)).to.equal(undefined);
  });

  it('falls back to a unique suffix; an ambiguous suffix matches nothing', () => {
    const idx = createPathIndex(['/a/src/x.js', '/b/lib/x.js', '/a/src/y.js'], { pathMap: {}, roots: [] });
    expect(idx.lookup('src/y.js')).to.equal('/a/src/y.js');
    expect(idx.lookup('src/x.js')).to.equal('/a/src/x.js');
    expect(idx.lookup('x.js')).to.equal(undefined);
  });
});

describe('diff/computeDiffCoverage', () => {
  const map: CoverageMapData = {
    '/srv/app/x.js': stmts('/srv/app/x.js', [[1, 4], [2, 1], [3, 0], [4, 2]]),
    '/srv/app/new.js': stmts('/srv/app/new.js', [[5, 0]]),
  };
  const mapping = { pathMap: {}, roots: ['/srv/app'] };

  it('counts changed lines per file and in total: coverable, covered, missed', () => {
    const rep = computeDiffCoverage(parseUnifiedDiff(GIT_DIFF), map, mapping);
    expect(rep.files.map((f) => [f.path, f.coveragePath, f.changed, f.coverable, f.covered, f.missed])).to.deep.equal([
      ['new.js', '/srv/app/new.js', 1, 1, 0, 1],
      ['x.js', '/srv/app/x.js', 2, 2, 1, 1],
    ]);
    expect(rep.files[1]!.lines).to.deep.equal([
      { line: 1, hits: 4, text: 'z' },
      { line: 3, hits: 0, text: 'B' },
    ]);
    expect(rep.files[0]!.oldPath).to.equal('old.js');
    expect(rep.totals).to.deep.equal({ changed: 3, coverable: 3, covered: 1, missed: 2, ratio: 1 / 3 });
    expect(rep.unmatched).to.deep.equal([]);
  });

  it('lists diff files that are not in the coverage, and fails with 404 naming them when none matches', () => {
    const diff = parseUnifiedDiff(`${GIT_DIFF}diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-a\n+b\n`);
    expect(computeDiffCoverage(diff, map, mapping).unmatched).to.deep.equal(['README.md']);
    expect(() => computeDiffCoverage(diff, { '/other/q.js': map['/srv/app/x.js']! }, mapping))
      .to.throw(/unmatched: new\.js, x\.js, README\.md.*Coverage paths look like: \/other\/q\.js.*path_map/)
      .with.property('status', 404);
  });

  it('a change of only files the coverage has no kind of (docs) changed no code: empty report, not an error', () => {
    const rep = computeDiffCoverage(parseUnifiedDiff('--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-a\n+b\n'), map, mapping);
    expect(rep.files).to.deep.equal([]);
    expect(rep.unmatched).to.deep.equal(['README.md']);
    expect(rep.totals).to.deep.equal({ changed: 0, coverable: 0, covered: 0, missed: 0, ratio: 1 });
    expect(() => computeDiffCoverage(parseUnifiedDiff('--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-a\n+b\n'), {}, mapping)).to.throw(/The selection has no coverage/);
  });

  it('Go: every line of a block is coverable, except blank and comment-only changed lines', async () => {
    const go = (await decodePayload('mode: count\nexample.com/m/a.go:3.20,6.2 2 5\nexample.com/m/a.go:7.20,9.2 1 0\n', { declaredFormat: 'gocover', contentType: 'text/plain' })).coverage!;
    const diff = parseUnifiedDiff('--- a/a.go\n+++ b/a.go\n@@ -3,0 +4,3 @@\n+\tx := 1\n+\n+\t// why\n@@ -7,0 +8,2 @@\n+\ty()\n+}\n');
    const rep = computeDiffCoverage(diff, go, { pathMap: { 'example.com/m/': '' }, roots: [] });
    expect(rep.files[0]!.lines.map((l) => [l.line, l.hits])).to.deep.equal([[4, 5], [5, null], [6, null], [8, 0], [9, 0]]);
  });
});

describe('diff/render', () => {
  it('escapes everything from the diff in HTML, and the text lists missed ranges', () => {
    const diff = parseUnifiedDiff('--- a/x.js\n+++ b/x.js\n@@ -1,0 +1,4 @@\n+<script>alert(1)</script>\n+b\n+c\n+d\n');
    const rep = computeDiffCoverage(diff, { '/srv/app/x.js': stmts('/srv/app/x.js', [[1, 1], [2, 0], [3, 0], [4, 0]]) }, { pathMap: {}, roots: ['/srv/app'] });
    const html = renderDiffHtml(rep, 'a<b');
    expect(html).to.not.include('<script>');
    expect(html).to.include('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).to.include('<title>Diff coverage: a&lt;b</title>');
    const text = renderDiffText(rep, 't');
    expect(text).to.include('missed in x.js: 2-4');
    expect(text).to.match(/TOTAL\s+4\s+4\s+1\s+3\s+25\.00%/);
  });
});

describe('diff/gitRefProblem', () => {
  for (const [ref, ok] of [
    ['main', true],
    ['v1.2.3', true],
    ['HEAD~2', true],
    ['feature/x-y_z', true],
    ['0123abcd', true],
    ['-', false],
    ['--output=/tmp/x', false],
    ['a..b', false],
    ['a b', false],
    ['HEAD@{1}', false],
    ['$(id)', false],
    ['', false],
  ] as const) {
    it(`${JSON.stringify(ref)} is ${ok ? 'accepted' : 'refused'}`, () => {
      expect(gitRefProblem(ref) === undefined).to.equal(ok);
    });
  }
});
