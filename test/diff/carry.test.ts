import { expect } from 'chai';
import { carryCoverage, carryFile, lineMapOf, parseUnifiedDiff } from '../../gateway/diff/index.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';

const r = (l1: number, c1: number, l2: number, c2: number) => ({ start: { line: l1, column: c1 }, end: { line: l2, column: c2 } });

/** Old file: 8 lines; new file: 2 lines inserted above line 1, old line 4 changed, old line 6 removed. */
const DIFF = `--- a/x.js
+++ b/x.js
@@ -0,0 +1,2 @@
+// new 1
+// new 2
@@ -4 +6 @@
-old four
+new four
@@ -6 +7,0 @@
-old six
`;

describe('diff/lineMapOf', () => {
  it('moves unchanged lines by what the hunks above added or removed; changed and removed lines have no place', () => {
    const map = lineMapOf(parseUnifiedDiff(DIFF)[0]!.hunks);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(map)).to.deep.equal([3, 4, 5, undefined, 7, undefined, 8, 9]);
  });

  it('maps context lines inside hunks (git default -U3)', () => {
    const map = lineMapOf(parseUnifiedDiff('--- a/x\n+++ b/x\n@@ -1,4 +1,4 @@\n a\n-b\n+B\n+B2\n c\n-d\n')[0]!.hunks);
    expect([1, 2, 3, 4, 5].map(map)).to.deep.equal([1, undefined, 4, undefined, 5]);
  });
});

describe('diff/carryFile', () => {
  const old = {
    path: '/a/x.js',
    statementMap: { 0: r(1, 0, 1, 9), 1: r(4, 2, 4, 9), 2: r(5, 2, 5, 9), 3: r(7, 0, 8, 1) },
    s: { 0: 3, 1: 5, 2: 7, 3: 2 },
    fnMap: {
      0: { name: 'f', decl: r(3, 9, 3, 10), loc: r(3, 12, 5, 1), line: 3 },
      1: { name: 'g', decl: r(7, 9, 7, 10), loc: r(7, 12, 8, 1), line: 7 },
    },
    f: { 0: 4, 1: 1 },
    branchMap: { 0: { type: 'if', loc: r(7, 0, 8, 1), locations: [r(7, 0, 8, 1), r(7, 0, 8, 1)], line: 7 } },
    b: { 0: [1, 1] },
  } as unknown as CoverageMapData[string];
  // The new build of the same file after DIFF: everything unchanged moved, line 4 → a new statement at 6.
  const neu = {
    path: '/a/x.js',
    statementMap: { 0: r(3, 0, 3, 9), 1: r(6, 2, 6, 9), 2: r(7, 2, 7, 9), 3: r(8, 0, 9, 1) },
    s: { 0: 1, 1: 1, 2: 1, 3: 1 },
    fnMap: {
      0: { name: 'f', decl: r(5, 9, 5, 10), loc: r(5, 12, 7, 1), line: 5 },
      1: { name: 'g', decl: r(8, 9, 8, 10), loc: r(8, 12, 9, 1), line: 8 },
    },
    f: { 0: 1, 1: 1 },
    branchMap: { 0: { type: 'if', loc: r(8, 0, 9, 1), locations: [r(8, 0, 9, 1), r(8, 0, 9, 1)], line: 8 } },
    b: { 0: [1, 1] },
  } as unknown as CoverageMapData[string];

  it('unchanged statements, functions and branches keep their counts at their new place; changed ones start at zero', () => {
    const carried = carryFile(old, neu, lineMapOf(parseUnifiedDiff(DIFF)[0]!.hunks));
    expect(carried.s).to.deep.equal({ 0: 3, 1: 0, 2: 7, 3: 2 });
    // f's body contains the changed line 4: not carried. g is untouched.
    expect(carried.f).to.deep.equal({ 0: 0, 1: 1 });
    expect(carried.b).to.deep.equal({ 0: [1, 1] });
    expect(carried.statementMap).to.equal(neu.statementMap);
  });

  it('carryCoverage finds renamed files under their old name and carries nothing into added files', () => {
    const diff = parseUnifiedDiff('diff --git a/old.js b/new.js\nsimilarity index 100%\nrename from old.js\nrename to new.js\ndiff --git a/add.js b/add.js\nnew file mode 100644\n--- /dev/null\n+++ b/add.js\n@@ -0,0 +1 @@\n+x\n');
    const file = (path: string, hits: number) => ({ ...old, path, s: { 0: hits, 1: hits, 2: hits, 3: hits } });
    const out = carryCoverage({ '/a/old.js': file('/a/old.js', 9), '/a/add.js': file('/a/add.js', 9) }, { '/a/new.js': file('/a/new.js', 0), '/a/add.js': file('/a/add.js', 0) }, diff, (p) => p.slice(3));
    expect(Object.keys(out)).to.deep.equal(['/a/new.js']);
    expect(out['/a/new.js']!.s).to.deep.equal({ 0: 9, 1: 9, 2: 9, 3: 9 });
  });
});
