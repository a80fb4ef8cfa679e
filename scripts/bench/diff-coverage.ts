/**
 * Diff-coverage benchmark (issue 14: "a 10,000-line diff over a 1,000-file
 * service answers in well under a second"). A git-style diff adding 10 lines
 * (in 2 hunks) to each of 1,000 files, against a 1,000-file coverage map of
 * 300 statements each. Measures covgate's whole computation
 * (parseUnifiedDiff + computeDiffCoverage + the JSON body) and, as the
 * baseline on the same input in the same run (alternately, CPU time),
 * jsdiff's parsePatch alone (the least any diff-coverage tool must do).
 * Reports one row (scripts/bench/lib/harness.ts) with the ratio.
 * Usage: npx tsx scripts/bench/diff-coverage.ts [files=1000] [linesPerFile=10]
 */
import { parsePatch } from 'diff';
import { computeDiffCoverage, parseUnifiedDiff } from '../../gateway/diff/index.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { alternate, fmt, quick, reportRow } from './lib/harness.ts';

// Positional sizes only (the runner adds --quick, which is not a size).
const sizes = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const FILES = Number(sizes[0] ?? 1000);
const PER_FILE = Number(sizes[1] ?? 10);
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

const rounds = quick ? 3 : 7;
let checked = 0;
let totals = { changed: 0, coverable: 0, covered: 0 };
// covgate's whole computation and the baseline, alternately on the same input, so both see the same load.
const { a: covgate, b: baseline } = await alternate(
  () => {
    const report = computeDiffCoverage(parseUnifiedDiff(diffText), map, { pathMap: {}, roots: ['/srv/app'] });
    JSON.stringify(report);
    totals = report.totals;
  },
  () => {
    checked = parsePatch(diffText).length;
  },
  rounds,
);
const files = parseUnifiedDiff(diffText);
const { a: parseOnly, b: countOnly } = await alternate(
  () => parseUnifiedDiff(diffText),
  () => computeDiffCoverage(files, map, { pathMap: {}, roots: ['/srv/app'] }),
  rounds,
);
if (checked !== FILES || totals.changed !== addedLines) throw new Error(`bench input not as intended: ${checked} files, ${totals.changed} changed lines`);

console.log(`diff: ${addedLines} added lines over ${FILES} files (${(diffText.length / 1024).toFixed(0)} KiB); coverage: ${FILES} files × ${STATEMENTS} statements`);
console.log(`  of which parseUnifiedDiff ${fmt(parseOnly)} ms, matching + counting ${fmt(countOnly)} ms (CPU medians)`);
reportRow({
  item: `14 diff coverage, ${addedLines}-line diff over ${FILES} files`,
  covgate: 'parseUnifiedDiff + computeDiffCoverage + JSON body (CPU ms, median)',
  baseline: "jsdiff parsePatch alone (the least any diff-coverage tool must do)",
  value: covgate,
  baselineValue: baseline,
  unit: 'ms',
  ratio: baseline / covgate,
  target: 'well under a second (≤ 500 ms)',
  met: covgate <= 500,
  notes: `${totals.covered}/${totals.coverable} coverable changed lines covered; covgate takes ${fmt(covgate / baseline)}× the baseline's time`,
});
