import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { createCoverageStore, type AppendInput, type CoverageStore } from '../../gateway/store/index.ts';
import { createCoverageQuery } from '../../gateway/merge/index.ts';
import { CoverageCounts, Summarizer, SummaryAccumulator, combineFileSummaries, indexStructure, summarizeCounters } from '../../gateway/merge/fast-summary.ts';
import { CounterSet, splitCoverageMap, summarize, summarizeFiles, type CoverageMapData } from '../../gateway/model/index.ts';
import { summarizeOne, type FileSummary } from '../../gateway/model/summary.ts';
import { joinFile } from '../../gateway/model/split.ts';
import { rng } from '../../scripts/bench/lib/rng.ts';


type Shape = { path: string; lines: number[]; fns: number; arms: number[]; go?: boolean };

/** Shapes of files: statements share lines, two builds of b.js differ, one Go file weights its blocks. */
const SHAPES: Shape[][] = [
  [
    { path: '/srv/a.js', lines: [1, 1, 2, 3, 3, 3, 5], fns: 2, arms: [2, 3] },
    { path: '/srv/b.js', lines: [1, 2, 4], fns: 1, arms: [2] },
    { path: '/srv/pkg/c.go', lines: [3, 7, 9], fns: 0, arms: [], go: true },
  ],
  [
    { path: '/srv/a.js', lines: [1, 1, 2, 3, 3, 3, 5], fns: 2, arms: [2, 3] },
    { path: '/srv/b.js', lines: [1, 2, 4, 6, 6], fns: 2, arms: [2, 2] },
    { path: '/srv/d.js', lines: [10], fns: 0, arms: [] },
  ],
];

const loc = (line: number, col = 0) => ({ start: { line, column: col }, end: { line, column: col + 5 } });

function coverageMap(build: number, r: () => number, scale: number): CoverageMapData {
  const map: Record<string, unknown> = {};
  const hit = () => (r() < 0.5 ? 0 : Math.floor(r() * scale) + 1);
  for (const sh of SHAPES[build]!) {
    map[sh.path] = {
      path: sh.path,
      statementMap: Object.fromEntries(
        sh.lines.map((l, i) => [i, sh.go ? { ...loc(l), end: { line: l + 1, column: 2 }, numStmts: (i % 3) + 1 } : loc(l, i * 7)]),
      ),
      fnMap: Object.fromEntries(Array.from({ length: sh.fns }, (_, i) => [i, { name: `f${i}`, decl: loc(i + 1), loc: loc(i + 1), line: i + 1 }])),
      branchMap: Object.fromEntries(
        sh.arms.map((n, i) => [i, { type: 'if', loc: loc(i + 2), locations: Array.from({ length: n }, (_, k) => loc(i + 2, k)), line: i + 2 }]),
      ),
      s: Object.fromEntries(sh.lines.map((_, i) => [i, hit()])),
      f: Object.fromEntries(Array.from({ length: sh.fns }, (_, i) => [i, hit()])),
      b: Object.fromEntries(sh.arms.map((n, i) => [i, Array.from({ length: n }, hit)])),
    };
  }
  return map as CoverageMapData;
}

/** Element-wise max of two maps of the same build: a cumulative exporter's counters never go down. */
function grow(prev: CoverageMapData, next: CoverageMapData): CoverageMapData {
  const out = structuredClone(next) as unknown as Record<string, { s: Record<string, number>; f: Record<string, number>; b: Record<string, number[]> }>;
  for (const [path, fc] of Object.entries(prev)) {
    const o = out[path]!;
    for (const k of Object.keys(o.s)) o.s[k] = Math.max(o.s[k]!, fc.s[k] ?? 0);
    for (const k of Object.keys(o.f)) o.f[k] = Math.max(o.f[k]!, fc.f[k] ?? 0);
    for (const k of Object.keys(o.b)) o.b[k] = o.b[k]!.map((v, a) => Math.max(v, fc.b[k]?.[a] ?? 0));
  }
  return out as unknown as CoverageMapData;
}

const TARGETS: Array<{ id: string; job: string; labels: Record<string, string> }> = [
  { id: 't1', job: 'orders', labels: { job: 'orders', instance: 'h:1', service: 'orders' } },
  { id: 't2', job: 'orders', labels: { job: 'orders', instance: 'h:2', service: 'orders' } },
  { id: 't3', job: 'orders', labels: { job: 'orders', instance: 'h:3', service: 'billing' } },
  { id: 't4', job: 'web', labels: { job: 'web', instance: 'h:4' } },
];

function fromScratch(store: CoverageStore, ids: string[]) {
  return store.counterSet({ ids }).toCoverageMap((h) => store.structure(h)).map;
}

describe('merge: incremental service totals and summaries from counters', () => {
  let dir: string;
  let db: Level<string, unknown>;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'covgate-totals-'));
    db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
  });
  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('summarises counters by structure index exactly as Istanbul summarises the joined file', () => {
    const r = rng(7);
    for (let round = 0; round < 50; round++) {
      const { structures, snapshot } = splitCoverageMap(coverageMap(round % 2, r, round % 5 === 0 ? 1 : 1000));
      for (const file of Object.values(snapshot)) {
        const st = structures.get(file.structure)!;
        expect(summarizeCounters(indexStructure(st), file.counters)).to.deep.equal(summarizeOne(joinFile(st, file.counters)));
      }
    }
  });

  it('keeps per-flip coverage counts equal to a full summary while counters cross zero both ways (property)', () => {
    const r = rng(23);
    for (let round = 0; round < 40; round++) {
      const { structures, snapshot } = splitCoverageMap(coverageMap(round % 2, r, 3));
      for (const file of Object.values(snapshot)) {
        const ix = indexStructure(structures.get(file.structure)!);
        const c = structuredClone(file.counters);
        const counts = new CoverageCounts(ix, c);
        for (let step = 0; step < 30; step++) {
          // Set a random counter to 0 or to a count, telling the counts when it crossed zero.
          const kind = (['s', 'f', 'b'] as const)[Math.floor(r() * 3)]!;
          const v = r() < 0.5 ? 0 : 1 + Math.floor(r() * 4);
          const vec = kind === 'b' ? c.b[Math.floor(r() * c.b.length)] : c[kind];
          if (!vec || vec.length === 0) continue;
          const i = Math.floor(r() * vec.length);
          const was = vec[i]!;
          vec[i] = v;
          if ((was === 0) !== (v === 0)) {
            if (kind === 'b') counts.flip('b', c.b.indexOf(vec), v === 0 ? -1 : 1, i);
            else counts.flip(kind, i, v === 0 ? -1 : 1);
          }
          expect(counts.summary(), `round ${round} step ${step}`).to.deep.equal(summarizeCounters(ix, c));
        }
      }
    }
  });

  it('adds file summaries up as numbers exactly as combineFileSummaries does (Go, mixed, unavailable kinds, skipped)', () => {
    const r = rng(31);
    const kind = () => {
      const total = Math.floor(r() * 20);
      return { total, covered: Math.floor(r() * (total + 1)), skipped: Math.floor(r() * 3), pct: 0 };
    };
    for (let round = 0; round < 200; round++) {
      const files: FileSummary[] = Array.from({ length: Math.floor(r() * 5) }, () => ({
        summary: { lines: kind(), statements: kind(), functions: kind(), branches: kind(), semantics: 'istanbul' as const },
        facts: { go: r() < 0.3, functionsAvailable: r() < 0.7, branchesAvailable: r() < 0.7 },
      }));
      const acc = new SummaryAccumulator();
      for (const f of files) acc.addFile(f);
      expect(acc.summary(), `round ${round}`).to.deep.equal(combineFileSummaries(files));
    }
  });

  it('summarises a counter set with several builds of a path as a merge by location does', () => {
    const r = rng(11);
    const structures = new Map();
    const set = new CounterSet();
    for (let i = 0; i < 6; i++) {
      const split = splitCoverageMap(coverageMap(i % 2, r, 10));
      for (const [h, s] of split.structures) structures.set(h, s);
      set.addSnapshot(split.snapshot);
    }
    // One structure is unknown: its file is left out, as toCoverageMap leaves it out.
    const lookup = (h: string) => (h === [...structures.keys()][0] ? undefined : structures.get(h));
    expect(new Summarizer(lookup).summary(set)).to.deep.equal(summarize(set.toCoverageMap(lookup).map));
  });

  for (const seed of process.env.COVGATE_PROPERTY_SEEDS ? Array.from({ length: Number(process.env.COVGATE_PROPERTY_SEEDS) }, (_, i) => i + 1) : [1, 2, 3, 4, 5]) {
    it(`keeps per-service and per-target totals equal to a merge from scratch over a random append sequence (seed ${seed})`, async () => {
      const store = createCoverageStore(db);
      await store.open();
      const query = createCoverageQuery(store);
      const r = rng(seed);
      const state = new Map<string, { instance: number; build: number; last?: CoverageMapData }>();
      let now = 1_000;
      for (let step = 0; step < 120; step++) {
        now += 1_000 + Math.floor(r() * 60_000);
        const roll = r();
        const t = TARGETS[Math.floor(r() * TARGETS.length)]!;
        const st = state.get(t.id) ?? { instance: 0, build: 0 };
        state.set(t.id, st);
        if (roll < 0.08) {
          await store.clearWindow([t.id], now);
        } else if (roll < 0.12) {
          await store.retention(now, 120_000);
        } else {
          if (roll < 0.25) {
            // A restart, sometimes into the other build.
            st.instance++;
            if (r() < 0.5) st.build = 1 - st.build;
            st.last = undefined;
          }
          const delta = roll > 0.9;
          const fresh = coverageMap(st.build, r, 50);
          const map = delta || !st.last ? fresh : grow(st.last, fresh);
          if (!delta) st.last = map;
          const { structures, snapshot } = splitCoverageMap(map);
          // Stored counters are shared by reference (sums of one part, repeat scrapes): frozen here,
          // a write into any of them anywhere in the store or the totals throws.
          for (const f of Object.values(snapshot)) {
            Object.freeze(f.counters.s);
            Object.freeze(f.counters.f);
            for (const arms of f.counters.b) Object.freeze(arms);
            Object.freeze(f.counters.b);
          }
          const input: AppendInput = {
            target: t,
            instance: `${t.id}-${st.instance}${delta ? '-d' : ''}`,
            counters: delta ? 'delta' : 'cumulative',
            structures,
            snapshot,
          };
          await store.append(input, now);
        }
        // Read at random moments (not after every step), so several changes are folded at once.
        if (r() < 0.4 || step === 119) {
          const services = query.services(true);
          const byService = new Map<string, string[]>();
          for (const tt of store.targets()) {
            const key = `${tt.job}\0${tt.labels.service ?? tt.job}`;
            byService.set(key, [...(byService.get(key) ?? []), tt.id]);
          }
          expect(services.map((s) => `${s.job}\0${s.service}`).sort()).to.deep.equal([...byService.keys()].sort());
          for (const s of services) {
            const map = fromScratch(store, byService.get(`${s.job}\0${s.service}`)!);
            expect(s.summary, `service ${s.service} at step ${step}`).to.deep.equal(summarize(map));
            expect(s.files, `files of ${s.service} at step ${step}`).to.deep.equal(summarizeFiles(map));
            // The one-service query is served from the same sums: the map equals a merge from scratch.
            const labelled = store.targets().some((t) => t.job === s.job && t.labels.service === s.service);
            expect(query.coverage(labelled ? { job: [s.job], service: [s.service] } : { job: [s.job] }).map, `query of ${s.service} at step ${step}`).to.deep.equal(map);
          }
          expect(query.coverage({ job: ['orders'] }).map, `two services at step ${step}`).to.deep.equal(fromScratch(store, store.targets().filter((t) => t.job === 'orders').map((t) => t.id)));
          for (const tt of store.targets()) {
            expect(query.targetSummary(tt.id), `target ${tt.id} at step ${step}`).to.deep.equal(summarize(fromScratch(store, [tt.id])));
          }
        }
      }
    });
  }

  it('gives a service back when it leaves the selection, and counts it again from scratch when it returns', async () => {
    const store = createCoverageStore(db);
    await store.open();
    const query = createCoverageQuery(store);
    const r = rng(99);
    for (const t of TARGETS) {
      const { structures, snapshot } = splitCoverageMap(coverageMap(0, r, 5));
      await store.append({ target: t, instance: 'i', counters: 'cumulative', structures, snapshot }, 1000);
    }
    expect(query.services(false, (_job, service) => service !== 'billing').map((s) => s.service).sort()).to.deep.equal(['orders', 'web']);
    query.bump();
    const all = query.services(false);
    const billing = all.find((s) => s.service === 'billing')!;
    expect(billing.summary).to.deep.equal(summarize(fromScratch(store, ['t3'])));
  });
});
