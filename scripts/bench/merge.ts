/**
 * Merge benchmark: covgate's counters-by-index merge versus what a user would
 * otherwise run, istanbul-lib-coverage's CoverageMap.merge (what `nyc merge`
 * does), on the same snapshots in the same run. Reports ratios, not absolute
 * times. Both sides go up to an answer: summary and the encoded body.
 * Usage: npx tsx scripts/bench/merge.ts [files=200] [snapshots=20]
 */
import libCoverage from 'istanbul-lib-coverage';
import { CounterSet, splitCoverageMap, summarize, type CoverageMapData, type FileStructure } from '../../gateway/model/index.ts';
import { encodeCoverage } from '../../gateway/formats/index.ts';
import { alternate, quick, reportRow } from './lib/harness.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const FILES = Number(args[0] ?? (quick ? 60 : 200));
const SNAPSHOTS = Number(args[1] ?? (quick ? 6 : 20));
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

const snaps = Array.from({ length: SNAPSHOTS }, (_, i) => snapshot(i));
const texts = snaps.map((s) => JSON.stringify(s));
const rounds = quick ? 3 : 5;

// Baseline: what nyc merge / a hand-rolled script does with each snapshot, up to an answer (summary + JSON body).
const baseline = () => {
  const cm = libCoverage.createCoverageMap({});
  for (const t of texts) cm.merge(JSON.parse(t));
  cm.getCoverageSummary();
  JSON.stringify(cm.toJSON());
};

// covgate ingest path: parse, split (hash structures), add counters; then the same answer (summary + encoded body).
const structures = new Map<string, FileStructure>();
const answer = (set: CounterSet) => {
  const { map } = set.toCoverageMap((h) => structures.get(h));
  summarize(map);
  encodeCoverage(map, 'istanbul');
};
const covgateIngest = () => {
  const set = new CounterSet();
  for (const t of texts) {
    const split = splitCoverageMap(JSON.parse(t));
    for (const [h, s] of split.structures) structures.set(h, s);
    set.addSnapshot(split.snapshot);
  }
  answer(set);
};

// covgate steady state: snapshots already stored as counters (what a query over stored lifetimes does).
const stored = texts.map((t) => splitCoverageMap(JSON.parse(t)).snapshot);
const covgateQuery = () => {
  const set = new CounterSet();
  for (const s of stored) set.addSnapshot(s);
  answer(set);
};

const what = `${SNAPSHOTS} snapshots × ${FILES} files (${STATEMENTS} statements each), up to summary + Istanbul JSON body`;
const ingest = await alternate(covgateIngest, baseline, rounds);
reportRow({
  item: 'merge: ingest + answer',
  covgate: `parse + split + add + merge + summary + encode (${what})`,
  baseline: 'JSON.parse + istanbul-lib-coverage merge + getCoverageSummary + JSON body',
  value: ingest.a,
  baselineValue: ingest.b,
  unit: 'ms',
  ratio: ingest.b / ingest.a,
  target: '≥1× baseline (no slower than nyc merge)',
  met: ingest.b >= ingest.a,
});
const query = await alternate(covgateQuery, baseline, rounds);
reportRow({
  item: 'merge: query over stored counters',
  covgate: `add stored counters + merge + summary + encode (${what})`,
  baseline: 'JSON.parse + istanbul-lib-coverage merge + getCoverageSummary + JSON body',
  value: query.a,
  baselineValue: query.b,
  unit: 'ms',
  ratio: query.b / query.a,
  target: '≥1× baseline',
  met: query.b >= query.a,
  notes: 'summary and encoding are included on both sides (the old figure of 155× left them out of covgate\'s side)',
});
