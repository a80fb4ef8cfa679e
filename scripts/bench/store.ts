/**
 * Store benchmark (issue 11 items 3, 6 and 8, the store side), on the real
 * LevelDB store and a real gateway process:
 * - bytes stored per repeat snapshot of a 4k-statement service at a realistic
 *   change rate (a few dozen hot counters per scrape, now and then a newly
 *   covered line), keyframes amortised, against the raw full Istanbul JSON the
 *   exporter would send and the JSON value older versions stored;
 * - disk before and after retention + compaction;
 * - `/-/ready` time and RSS of a real gateway start on a store of 100k
 *   snapshots, against the same start on an empty store in the same run.
 * Usage: npx tsx scripts/bench/store.ts [--quick]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Level } from 'level';
import type { CoverageMapData, FileStructure, Snapshot } from '../../gateway/model/index.ts';
import { createCoverageStore } from '../../gateway/store/index.ts';
import { alternate, median, quick, reportRow } from './lib/harness.ts';
import { rng } from './lib/rng.ts';

const FILES = 40;
const STATEMENTS = 100; // 4,000 statements per service
const FUNCTIONS = 10;
const BRANCHES = 10;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'covgate.js');


const loc = (l: number) => ({ start: { line: l, column: 2 }, end: { line: l, column: 42 } });
function structureOf(service: number, f: number): FileStructure {
  const path = `/srv/service-${service}/src/module-${f}.js`;
  const statementMap = Object.fromEntries(Array.from({ length: STATEMENTS }, (_, i) => [i, loc(i + 1)]));
  const fnMap = Object.fromEntries(
    Array.from({ length: FUNCTIONS }, (_, i) => [i, { name: `fn${i}`, decl: loc(i * 10 + 1), loc: loc(i * 10 + 1), line: i * 10 + 1 }]),
  );
  const branchMap = Object.fromEntries(
    Array.from({ length: BRANCHES }, (_, i) => [i, { type: 'if', loc: loc(i * 10 + 2), locations: [loc(i * 10 + 2), loc(i * 10 + 3)], line: i * 10 + 2 }]),
  );
  return { path, statementMap, fnMap, branchMap } as FileStructure;
}

/**
 * One process of a service under test: start-up covers about a third of the
 * code once; each scrape interval's requests run a few dozen hot counters
 * (tens of times each) and, one scrape in ten, cover a new line.
 */
class Process {
  readonly snapshot: Snapshot = {};
  private readonly hot: Array<[string, number]> = [];
  private readonly rand: () => number;
  constructor(
    readonly service: number,
    seed: number,
  ) {
    this.rand = rng(seed);
    for (let f = 0; f < FILES; f++) {
      const s = Array.from({ length: STATEMENTS }, () => (this.rand() < 0.33 ? 1 : 0));
      this.snapshot[structureOf(service, f).path] = {
        structure: `svc${service}-f${f}`,
        counters: { s, f: new Array(FUNCTIONS).fill(0).map(() => (this.rand() < 0.5 ? 1 : 0)), b: Array.from({ length: BRANCHES }, () => [0, 0]) },
      };
    }
    const paths = Object.keys(this.snapshot);
    for (let i = 0; i < 40; i++) this.hot.push([paths[Math.floor(this.rand() * 6)]!, Math.floor(this.rand() * STATEMENTS)]);
  }
  /** The cumulative snapshot after one more scrape interval of traffic (new counter arrays where they changed). */
  next(): Snapshot {
    const out: Snapshot = { ...this.snapshot };
    const touch = (path: string, i: number, by: number) => {
      const was = out[path]!;
      if (was === this.snapshot[path]) out[path] = { structure: was.structure, counters: { s: was.counters.s.slice(), f: was.counters.f.slice(), b: was.counters.b.map((a) => a.slice()) } };
      out[path]!.counters.s[i]! += by;
    };
    for (const [path, i] of this.hot) touch(path, i, 10 + Math.floor(this.rand() * 40));
    if (this.rand() < 0.1) {
      const paths = Object.keys(out);
      touch(paths[Math.floor(this.rand() * paths.length)]!, Math.floor(this.rand() * STATEMENTS), 1);
    }
    Object.assign(this.snapshot, out);
    return out;
  }
  /** The exporter's full Istanbul JSON of the process right now (what a scrape without the structure exchange carries). */
  istanbul(): CoverageMapData {
    const map: CoverageMapData = {};
    let f = 0;
    for (const [path, file] of Object.entries(this.snapshot)) {
      const st = structureOf(this.service, f++);
      map[path] = {
        ...st,
        s: Object.fromEntries(file.counters.s.map((v, i) => [i, v])),
        f: Object.fromEntries(file.counters.f.map((v, i) => [i, v])),
        b: Object.fromEntries(file.counters.b.map((v, i) => [i, v])),
      } as unknown as CoverageMapData[string];
    }
    return map;
  }
}

function structuresOf(service: number): Map<string, FileStructure> {
  return new Map(Array.from({ length: FILES }, (_, f) => [`svc${service}-f${f}`, structureOf(service, f)]));
}

function du(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) n += statSync(join(dir, f)).size;
  return n;
}

const openStore = (dir: string) => createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));

/** Sum of key and value bytes in the packed history sublevel, and how many values. */
async function packedBytes(dir: string): Promise<{ values: number; bytes: number; keyBytes: number }> {
  const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
  await db.open();
  const packed = db.sublevel<string, Buffer>('packed', { valueEncoding: 'buffer' });
  let values = 0;
  let bytes = 0;
  let keyBytes = 0;
  for await (const [k, v] of packed.iterator()) {
    values++;
    bytes += v.length;
    keyBytes += Buffer.byteLength(k);
  }
  await db.close();
  return { values, bytes, keyBytes };
}

/** Item 3: bytes per repeat snapshot, 4k statements, against the raw full JSON and the older JSON value. */
async function repeatSnapshotBytes(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'covgate-bench-store-'));
  const store = openStore(dir);
  await store.open();
  const p = new Process(0, 1);
  const target = { id: 'orders-0', job: 'orders', labels: { job: 'orders', service: 'orders' }, source: 'scrape' as const };
  const rounds = quick ? 200 : 600;
  const rawJson: number[] = [];
  const oldValue: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const snap = r === 0 ? { ...p.snapshot } : p.next();
    if (r % 50 === 1) {
      rawJson.push(Buffer.byteLength(JSON.stringify(p.istanbul())));
      oldValue.push(Buffer.byteLength(JSON.stringify(snap)));
    }
    await store.append({ target, instance: 'pod-1', counters: 'cumulative', structures: r === 0 ? structuresOf(0) : new Map(), snapshot: snap }, 1_000 + r * 15_000);
  }
  await store.close();
  const { values, bytes, keyBytes } = await packedBytes(dir);
  rmSync(dir, { recursive: true, force: true });
  // Keyframes that renew the chain included.
  const perRepeat = bytes / values;
  const raw = median(rawJson);
  const old = median(oldValue);
  reportRow({
    item: '11.3 storage per repeat snapshot',
    covgate: `packed value per snapshot (4k statements, ~40 hot counters + a new line every 10th scrape; ${values} values, periodic keyframes included)`,
    baseline: 'raw full Istanbul JSON of the same process',
    value: perRepeat,
    baselineValue: raw,
    unit: 'bytes',
    ratio: raw / perRepeat,
    target: '≥50× smaller and ≤3 kB',
    met: raw / perRepeat >= 50 && perRepeat <= 3072,
    notes: `older versions stored ${old.toFixed(0)} bytes of JSON per snapshot (${(old / perRepeat).toFixed(1)}× the packed value); the key adds ${(keyBytes / values).toFixed(0)} bytes`,
  });
}

async function buildHistory(dir: string, targets: number, perLifetime: number, lifetimes: number, t0: number): Promise<number> {
  const store = openStore(dir);
  await store.open();
  let n = 0;
  const procs = Array.from({ length: targets }, (_, t) => new Process(t % 10, 100 + t));
  for (let life = 0; life < lifetimes; life++) {
    for (let r = 0; r < perLifetime; r++) {
      for (let t = 0; t < targets; t++) {
        const p = procs[t]!;
        const snap = r === 0 ? { ...p.snapshot } : p.next();
        const target = { id: `svc-${t}`, job: 'orders', labels: { job: 'orders', service: `service-${t % 10}` }, source: 'scrape' as const };
        const structures = life === 0 && r === 0 ? structuresOf(t % 10) : new Map<string, FileStructure>();
        await store.append({ target, instance: `pod-${t}-${life}`, counters: 'cumulative', structures, snapshot: snap }, t0 + (life * perLifetime + r) * 15_000 + t);
        n++;
      }
    }
  }
  await store.close();
  return n;
}

/** Item 3: retention followed by compaction gives the disk space back. */
async function retentionDisk(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'covgate-bench-retention-'));
  const perLifetime = quick ? 100 : 200;
  const lifetimes = 3;
  await buildHistory(dir, 20, perLifetime, lifetimes, 0);
  const before = du(dir);
  const store = openStore(dir);
  await store.open();
  // Keep the newest tenth of the history.
  const end = lifetimes * perLifetime * 15_000;
  const r = await store.retention(end, end / 10);
  await store.close();
  const after = du(dir);
  rmSync(dir, { recursive: true, force: true });
  reportRow({
    item: '11.3 disk after retention + compaction',
    covgate: `on-disk size after retention keeps the newest 10% (${r.deletedSnapshots} snapshots deleted, ${r.foldedLifetimes} lifetimes folded)`,
    baseline: 'on-disk size before retention',
    value: after / 1024,
    baselineValue: before / 1024,
    unit: 'kB',
    ratio: before / after,
    target: 'disk shrinks after retention',
    met: after < before / 2,
  });
}

interface Start {
  readyMs: number;
  rssMb: number;
}

/** Spawns the real gateway on `dataDir` and measures wall time until /-/ready answers 200, and its RSS then. */
async function startGateway(dataDir: string): Promise<Start> {
  const cfgDir = mkdtempSync(join(tmpdir(), 'covgate-bench-cfg-'));
  const config = join(cfgDir, 'gateway.yaml');
  writeFileSync(config, 'scrape_configs: []\n');
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, '--config', config, '--listen', '127.0.0.1:0', '--storage.path', dataDir, '--test.manual-scrapes'], {
    // dist/, what a production install runs (a checkout would compile the TypeScript sources with tsx first).
    env: { ...process.env, COVGATE_LOG_LEVEL: 'info', COVGATE_DIST: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = out.match(/"url":"(http:\/\/[^"]+)".*covgate listening/);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`gateway exited (${code}) before listening: ${out.slice(-2000)}`)));
    });
    for (;;) {
      const res = await fetch(`${url}/-/ready`);
      await res.arrayBuffer();
      if (res.status === 200) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const readyMs = performance.now() - t0;
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const rssKb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? NaN);
    return { readyMs, rssMb: rssKb / 1024 };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    rmSync(cfgDir, { recursive: true, force: true });
  }
}

/** Item 6/8: a real gateway start on 100k snapshots against one on an empty store, alternately. */
async function startUp(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'covgate-bench-startup-'));
  const empty = mkdtempSync(join(tmpdir(), 'covgate-bench-empty-'));
  // 500 targets (10 services × 50 replicas), two lifetimes each (a restart halfway): 100k snapshots.
  const targets = quick ? 200 : 500;
  const perLifetime = quick ? 50 : 100;
  // The gateway starts from dist/: compile what is checked out (what `npm ci` does in `prepare`).
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  const t = performance.now();
  const n = await buildHistory(dir, targets, perLifetime, 2, Date.now() - 2 * perLifetime * 15_000);
  const buildS = (performance.now() - t) / 1000;
  const full: Start[] = [];
  const base: Start[] = [];
  for (let i = 0; i < 3; i++) {
    for (const which of i % 2 === 0 ? ['full', 'empty'] : ['empty', 'full']) {
      if (which === 'full') full.push(await startGateway(dir));
      else base.push(await startGateway(empty));
    }
  }
  const diskMb = du(dir) / 1024 / 1024;
  await againstMain(dir, n);
  rmSync(dir, { recursive: true, force: true });
  rmSync(empty, { recursive: true, force: true });
  const ready = median(full.map((s) => s.readyMs));
  const readyEmpty = median(base.map((s) => s.readyMs));
  const rss = median(full.map((s) => s.rssMb));
  const rssEmpty = median(base.map((s) => s.rssMb));
  reportRow({
    item: '11.6 start-up',
    covgate: `/-/ready (wall time from spawn, dist/) of a real gateway on ${n.toLocaleString('en')} snapshots (${targets} targets × 2 lifetimes, ${diskMb.toFixed(0)} MB on disk, built in ${buildS.toFixed(0)} s)`,
    baseline: 'the same start on an empty store',
    value: ready / 1000,
    baselineValue: readyEmpty / 1000,
    unit: 's',
    ratio: readyEmpty / ready,
    target: '≤2 s',
    met: ready <= 2000,
    notes: `the store's own share is ${((ready - readyEmpty) / 1000).toFixed(2)} s`,
  });
  reportRow({
    item: '11.6/11.8 start-up memory',
    covgate: `RSS at ready with ${n.toLocaleString('en')} snapshots of ${targets} targets`,
    baseline: 'RSS at ready on an empty store',
    value: rss,
    baselineValue: rssEmpty,
    unit: 'MB',
    target: 'proportional to live targets, not history',
    met: rss - rssEmpty < targets * 2 * 0.5 /* MB: 2 lifetimes' newest counters, well under 0.5 MB each */,
    notes: `${(((rss - rssEmpty) * 1024) / (targets * 2)).toFixed(0)} kB per lifetime held (its newest counters); history stays on disk`,
  });
}

/**
 * The store's open (what start-up waits for) on the same 100k snapshots: this
 * checkout against the store of its merge-base with `main`, side by side in
 * this process (CPU time, alternately). Skipped when the checkout is main.
 */
async function againstMain(dir: string, n: number): Promise<void> {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  let base: string;
  try {
    base = git('merge-base', 'HEAD', 'main');
  } catch {
    return; // no main branch here
  }
  if (base === git('rev-parse', 'HEAD') && git('status', '--porcelain', '--', 'gateway/store').length === 0) return;
  const tree = mkdtempSync(join(tmpdir(), 'covgate-bench-main-'));
  try {
    execFileSync('sh', ['-c', `git archive ${base} gateway | tar -x -C ${JSON.stringify(tree)}`], { cwd: ROOT });
    symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
    const mainStore = (await import(pathToFileURL(join(tree, 'gateway', 'store', 'index.ts')).href)) as { createCoverageStore: typeof createCoverageStore };
    const openClose = async (create: typeof createCoverageStore) => {
      const store = create(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
      await store.open();
      await store.close();
    };
    const { a, b } = await alternate(
      () => openClose(createCoverageStore),
      () => openClose(mainStore.createCoverageStore),
      3,
    );
    reportRow({
      item: '11.6 start-up: store open',
      covgate: `CPU of the store's open on ${n.toLocaleString('en')} snapshots (this checkout)`,
      baseline: `the same open by main's store (${base.slice(0, 8)})`,
      value: a,
      baselineValue: b,
      unit: 'ms',
      ratio: b / a,
      target: 'faster than main',
      met: a < b,
    });
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}

await repeatSnapshotBytes();
await retentionDisk();
await startUp();
