/**
 * Merge benchmark: covgate's counters-by-index merge versus what a user would
 * otherwise run, istanbul-lib-coverage's CoverageMap.merge (what `nyc merge`
 * does), on the same snapshots in the same run. Reports ratios, not absolute
 * times. Both sides go up to an answer: summary and the encoded body.
 * covgate's ingest side is the gateway's own decode (decodePayload: each
 * build's first payload parsed, validated and learnt; the next ones read by
 * the byte scanner), on builds it has not seen before.
 * Usage: npx tsx scripts/bench/merge.ts [files=200] [snapshots=20]
 */
import libCoverage from 'istanbul-lib-coverage';
import { CounterSet, splitCoverageMap, summarize, type CoverageMapData, type FileStructure } from '../../gateway/model/index.ts';
import { decodePayload, encodeCoverage } from '../../gateway/formats/index.ts';
import { toAppendInput } from '../../gateway/ingest/index.ts';
import { alternate, quick, reportRow } from './lib/harness.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const FILES = Number(args[0] ?? (quick ? 60 : 200));
const SNAPSHOTS = Number(args[1] ?? (quick ? 6 : 20));
const STATEMENTS = 120;

const loc = (l: number) => ({ start: { line: l, column: 0 }, end: { line: l, column: 40 } });
function snapshot(seed: number, build = 0): CoverageMapData {
  const map: CoverageMapData = {};
  for (let f = 0; f < FILES; f++) {
    const path = `/srv/app-build${build}/src/module-${f}.js`;
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

const rounds = quick ? 3 : 5;
// One build per call (the warm-up call and each round): the gateway has never seen the first
// payload of a build (it is parsed in full, validated and learnt), as on a first scrape of a new release.
const builds = Array.from({ length: rounds + 1 }, (_, build) => Array.from({ length: SNAPSHOTS }, (_, i) => Buffer.from(JSON.stringify(snapshot(i, build)))));
const nextBuild = () => {
  let n = 0;
  return () => builds[n++ % builds.length]!;
};
// Baseline: what nyc merge / a hand-rolled script does with each snapshot, up to an answer (summary + JSON body).
const baselineBuild = nextBuild();
const baseline = () => {
  const cm = libCoverage.createCoverageMap({});
  for (const t of baselineBuild()) cm.merge(JSON.parse(t.toString('utf8')));
  cm.getCoverageSummary();
  JSON.stringify(cm.toJSON());
};
// covgate's ingest path as a scrape or push takes it (decodePayload: the first payload of a build
// parsed, validated and learnt, the next ones read by the byte scanner), the counters added up;
// then the same answer (summary + encoded body).
const structures = new Map<string, FileStructure>();
const answer = (set: CounterSet) => {
  const { map } = set.toCoverageMap((h) => structures.get(h));
  summarize(map);
  encodeCoverage(map, 'istanbul');
};
const target = { id: 'bench', job: 'bench', labels: {} };
const noStore = { envelopeFiles: () => undefined, structure: () => undefined };
const covgateBuild = nextBuild();
const covgateIngest = async () => {
  const set = new CounterSet();
  for (const body of covgateBuild()) {
    const input = toAppendInput(await decodePayload(body, { declaredFormat: 'auto', contentType: 'application/json' }), target, noStore);
    for (const [h, st] of input.structures) structures.set(h, st);
    set.addSnapshot(input.snapshot);
  }
  answer(set);
};
// covgate steady state: snapshots already stored as counters (what a query over stored lifetimes does).
const stored = builds[0]!.map((t) => splitCoverageMap(JSON.parse(t.toString('utf8'))).snapshot);
for (const t of builds[0]!) for (const [h, st] of splitCoverageMap(JSON.parse(t.toString('utf8'))).structures) structures.set(h, st);
const covgateQuery = () => {
  const set = new CounterSet();
  for (const s of stored) set.addSnapshot(s);
  answer(set);
};
const what = `${SNAPSHOTS} snapshots × ${FILES} files (${STATEMENTS} statements each), up to summary + Istanbul JSON body`;
const ingest = await alternate(covgateIngest, baseline, rounds);
reportRow({
  item: 'merge: ingest + answer',
  covgate: `decode (first payload of the build parsed + validated, the rest byte-scanned) + add + merge + summary + encode (${what})`,
  baseline: 'JSON.parse + istanbul-lib-coverage merge + getCoverageSummary + JSON body',
  value: ingest.a,
  baselineValue: ingest.b,
  unit: 'ms',
  ratio: ingest.b / ingest.a,
  target: '≥1× baseline (no slower than nyc merge)',
  met: ingest.b >= ingest.a,
  notes: 'each call is a build the gateway has not seen (its first payload takes the full parse and validation); before, this row timed JSON.parse + split, which the gateway does only for a first payload',
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
