/**
 * Merge benchmark: covgate's counters-by-index merge versus what a user would
 * otherwise run, istanbul-lib-coverage's CoverageMap.merge (what `nyc merge`
 * does), on the same snapshots in the same run. Reports ratios, not absolute
 * times. Usage: npx tsx scripts/bench/merge.ts [files=200] [snapshots=20]
 */
import libCoverage from 'istanbul-lib-coverage';
import { CounterSet, splitCoverageMap, type CoverageMapData, type FileStructure } from '../../gateway/model/index.ts';

const FILES = Number(process.argv[2] ?? 200);
const SNAPSHOTS = Number(process.argv[3] ?? 20);
const STATEMENTS = 120;

const loc = (l: number) => ({ start: { line: l, column: 0 }, end: { line: l, column: 40 } });
function snapshot(seed: number): CoverageMapData {
  const map: CoverageMapData = {};
  for (let f = 0; f < FILES; f++) {
    const path = `/srv/app/src/module-${f}.js`;
    const s: Record<string, number> = {};
    const statementMap: Record<string, ReturnType<typeof loc>> = {};
    for (let i = 0; i < STATEMENTS; i++) {
      statementMap[i] = loc(i + 1);
      s[i] = (i * 7 + f + seed) % 5 === 0 ? 0 : (i + seed) % 13;
    }
    const fnMap: Record<string, unknown> = {};
    const fs: Record<string, number> = {};
    const branchMap: Record<string, unknown> = {};
    const b: Record<string, number[]> = {};
    for (let i = 0; i < STATEMENTS / 10; i++) {
      fnMap[i] = { name: `fn${i}`, decl: loc(i * 10 + 1), loc: loc(i * 10 + 1), line: i * 10 + 1 };
      fs[i] = (i + seed) % 3;
      branchMap[i] = { type: 'if', loc: loc(i * 10 + 2), locations: [loc(i * 10 + 2), loc(i * 10 + 3)], line: i * 10 + 2 };
      b[i] = [(i + seed) % 2, (i + seed + 1) % 2];
    }
    map[path] = { path, statementMap, fnMap, branchMap, s, f: fs, b } as unknown as CoverageMapData[string];
  }
  return map;
}

function time(fn: () => void, rounds = 5): number {
  fn(); // warm-up
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  return samples.sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
}

const snaps = Array.from({ length: SNAPSHOTS }, (_, i) => snapshot(i));
const texts = snaps.map((s) => JSON.stringify(s));

// Baseline: what nyc merge / a hand-rolled script does with each snapshot.
const baseline = time(() => {
  const cm = libCoverage.createCoverageMap({});
  for (const t of texts) cm.merge(JSON.parse(t));
  cm.getCoverageSummary();
});

// covgate ingest path: parse, split (hash structures), add counters; merge once for the answer.
const structures = new Map<string, FileStructure>();
const covgateIngest = time(() => {
  const set = new CounterSet();
  for (const t of texts) {
    const split = splitCoverageMap(JSON.parse(t));
    for (const [h, s] of split.structures) structures.set(h, s);
    set.addSnapshot(split.snapshot);
  }
  set.toCoverageMap((h) => structures.get(h));
});

// covgate steady state: snapshots already stored as counters (what a query over stored lifetimes does).
const stored = texts.map((t) => splitCoverageMap(JSON.parse(t)).snapshot);
const covgateQuery = time(() => {
  const set = new CounterSet();
  for (const s of stored) set.addSnapshot(s);
  set.toCoverageMap((h) => structures.get(h));
});

console.log(`merge of ${SNAPSHOTS} snapshots × ${FILES} files (${STATEMENTS} statements each)`);
console.log(`istanbul-lib-coverage merge (baseline)      1.00`);
console.log(`covgate ingest (parse+split+add+merge)      ${(covgateIngest / baseline).toFixed(2)}  (${(baseline / covgateIngest).toFixed(1)}× faster)`);
console.log(`covgate query over stored counters          ${(covgateQuery / baseline).toFixed(2)}  (${(baseline / covgateQuery).toFixed(1)}× faster)`);
