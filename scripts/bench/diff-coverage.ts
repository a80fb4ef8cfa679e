/**
 * Diff-coverage benchmark (issue 14: "a 10,000-line diff over a 1,000-file
 * service answers in well under a second"). A git-style diff adding 10 lines
 * (in 2 hunks) to each of 1,000 files, against a 1,000-file coverage map of
 * 300 statements each. Measures covgate's whole computation
 * (parseUnifiedDiff + computeDiffCoverage + the JSON body) and, as the
 * baseline on the same input in the same run, jsdiff's parsePatch alone (the
 * least any diff-coverage tool must do). Reports the ratio and absolute
 * median times.
 * Usage: npx tsx scripts/bench/diff-coverage.ts [files=1000] [linesPerFile=10]
 */
import { parsePatch } from 'diff';
import { computeDiffCoverage, parseUnifiedDiff } from '../../gateway/diff/index.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';

const FILES = Number(process.argv[2] ?? 1000);
const PER_FILE = Number(process.argv[3] ?? 10);
const STATEMENTS = 300;

const loc = (l: number) => ({ start: { line: l, column: 2 }, end: { line: l, column: 40 } });
const map: CoverageMapData = {};
for (let f = 0; f < FILES; f++) {
  const path = `/srv/app/src/pkg${f % 20}/module-${f}.js`;
  const statementMap: Record<string, ReturnType<typeof loc>> = {};
  const s: Record<string, number> = {};
  for (let i = 0; i < STATEMENTS; i++) {
    statementMap[i] = loc(i + 1);
    s[i] = (i * 7 + f) % 4 === 0 ? 0 : (i % 9) + 1;
  }
  map[path] = { path, statementMap, s, fnMap: {}, f: {}, branchMap: {}, b: {} } as unknown as CoverageMapData[string];
}

const parts: string[] = [];
for (let f = 0; f < FILES; f++) {
  const name = `src/pkg${f % 20}/module-${f}.js`;
  parts.push(`diff --git a/${name} b/${name}\nindex 1111111..2222222 100644\n--- a/${name}\n+++ b/${name}\n`);
  const half = PER_FILE / 2;
  for (const start of [20, 150]) {
    parts.push(`@@ -${start},3 +${start},${3 + half} @@\n context a\n`);
    for (let i = 0; i < half; i++) parts.push(`+  const v${i} = compute(${i}); // changed\n`);
    parts.push(' context b\n context c\n');
  }
}
const diffText = parts.join('');
const addedLines = FILES * PER_FILE;

function time(fn: () => void, rounds = 7): number {
  fn(); // warm-up
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  return samples.sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
}

let checked = 0;
const baseline = time(() => {
  checked = parsePatch(diffText).length;
});
let totals = { changed: 0, coverable: 0, covered: 0 };
const covgate = time(() => {
  const report = computeDiffCoverage(parseUnifiedDiff(diffText), map, { pathMap: {}, roots: ['/srv/app'] });
  JSON.stringify(report);
  totals = report.totals;
});
const files = parseUnifiedDiff(diffText);
const parseOnly = time(() => {
  parseUnifiedDiff(diffText);
});
const countOnly = time(() => {
  computeDiffCoverage(files, map, { pathMap: {}, roots: ['/srv/app'] });
});
if (checked !== FILES || totals.changed !== addedLines) throw new Error(`bench input not as intended: ${checked} files, ${totals.changed} changed lines`);

console.log(`diff: ${addedLines} added lines over ${FILES} files (${(diffText.length / 1024).toFixed(0)} KiB); coverage: ${FILES} files × ${STATEMENTS} statements`);
console.log(`  jsdiff parsePatch alone (baseline): ${baseline.toFixed(1)} ms`);
console.log(`  covgate diff coverage (parse + match + count + JSON): ${covgate.toFixed(1)} ms (${totals.covered}/${totals.coverable} coverable changed lines covered)`);
console.log(`    of which parseUnifiedDiff ${parseOnly.toFixed(1)} ms, matching + counting ${countOnly.toFixed(1)} ms`);
console.log(`  ratio covgate / baseline: ${(covgate / baseline).toFixed(2)}×`);
