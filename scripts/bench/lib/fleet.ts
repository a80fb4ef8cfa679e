/**
 * A fleet of simulated exporters in one process: one HTTP server on
 * 127.0.0.1:0 serves every target at its own path (`/t/<i>/coverage`),
 * speaking the real exporter protocol (contract section 1): a covgate
 * envelope with `structure`, counters only (`hits`) when the gateway sends
 * the matching `X-Covgate-Known-Structure`, an ETag and 304 to
 * `If-None-Match` while nothing ran, and `POST …/reset`. Targets of one
 * service share one build (one structure). It also records when each target
 * was scraped, so a benchmark can tell whether any target fell behind its
 * interval, and what it last served, so a test can check what the gateway
 * stored. Used by scripts/bench/fleet.ts and test/integration/fleet.test.ts.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rng } from './rng.ts';

export interface FleetOptions {
  targets: number;
  /** Statements per target (split into files of `statementsPerFile`). */
  statements: number;
  statementsPerFile?: number;
  /** Targets per service (they share a build); default 100. */
  targetsPerService?: number;
  /** Counters that run between two scrapes of a target when `autoRun` is on; default 1% of the statements. */
  runsPerScrape?: number;
  /** Whether each scrape first runs some code (a live app under test); default true. */
  autoRun?: boolean;
  seed?: number;
}

interface Build {
  hash: string;
  /** Istanbul maps without counters: path → statementMap/fnMap/branchMap. */
  files: Array<{ path: string; structure: Record<string, unknown>; nS: number; nF: number; arms: number[] }>;
}

interface SimTarget {
  index: number;
  service: string;
  build: Build;
  instance: string;
  startTime: string;
  s: Uint32Array[];
  f: Uint32Array[];
  b: Uint32Array[][];
  version: number;
  rand: () => number;
}

export interface FleetStats {
  requests: number;
  full: number;
  countersOnly: number;
  notModified: number;
}


const loc = (line: number, col: number) => ({ start: { line, column: col }, end: { line, column: col + 8 } });

function makeBuild(service: string, statements: number, perFile: number): Build {
  const files: Build['files'] = [];
  for (let start = 0, n = 0; start < statements; start += perFile, n++) {
    const nS = Math.min(perFile, statements - start);
    const nF = Math.max(1, Math.floor(nS / 10));
    const arms = Array.from({ length: Math.max(1, Math.floor(nS / 20)) }, (_, i) => 2 + (i % 2));
    const path = `/srv/${service}/src/file${n}.js`;
    files.push({
      path,
      nS,
      nF,
      arms,
      structure: {
        path,
        // Two statements per line, so lines and statements differ.
        statementMap: Object.fromEntries(Array.from({ length: nS }, (_, i) => [i, loc(1 + (i >> 1), (i & 1) * 20)])),
        fnMap: Object.fromEntries(Array.from({ length: nF }, (_, i) => [i, { name: `fn${i}`, decl: loc(1 + i * 5, 0), loc: loc(1 + i * 5, 0), line: 1 + i * 5 }])),
        branchMap: Object.fromEntries(
          arms.map((a, i) => [i, { type: a === 2 ? 'if' : 'switch', loc: loc(2 + i * 10, 2), locations: Array.from({ length: a }, (_, k) => loc(2 + i * 10, 4 + k * 10)), line: 2 + i * 10 }]),
        ),
      },
    });
  }
  const hash = createHash('sha256').update(JSON.stringify(files.map((f) => f.structure))).digest('hex').slice(0, 32);
  return { hash, files };
}

export class Fleet {
  readonly stats: FleetStats = { requests: 0, full: 0, countersOnly: 0, notModified: 0 };
  /** Per target, the wall-clock times (ms) at which its coverage was requested. */
  readonly scrapedAt: number[][];
  private readonly sims: SimTarget[] = [];
  private server: Server | undefined;
  private base = '';

  constructor(private readonly opts: FleetOptions) {
    const perService = opts.targetsPerService ?? 100;
    const builds = new Map<string, Build>();
    const seed = opts.seed ?? 1;
    for (let i = 0; i < opts.targets; i++) {
      const service = `svc${Math.floor(i / perService)}`;
      let build = builds.get(service);
      if (!build) builds.set(service, (build = makeBuild(service, opts.statements, opts.statementsPerFile ?? 100)));
      this.sims.push(this.fresh(i, service, build, rng(seed * 1_000_003 + i)));
    }
    this.scrapedAt = this.sims.map(() => []);
  }

  private fresh(index: number, service: string, build: Build, rand: () => number): SimTarget {
    return {
      index,
      service,
      build,
      instance: randomUUID(),
      startTime: new Date().toISOString(),
      s: build.files.map((f) => new Uint32Array(f.nS)),
      f: build.files.map((f) => new Uint32Array(f.nF)),
      b: build.files.map((f) => f.arms.map((a) => new Uint32Array(a))),
      version: 0,
      rand,
    };
  }

  get url(): string {
    return this.base;
  }

  get size(): number {
    return this.sims.length;
  }

  path(i: number): string {
    return `/t/${i}/coverage`;
  }

  serviceOf(i: number): string {
    return this.sims[i]!.service;
  }

  /** file_sd groups for the gateway: one group per target with its path, instance and service. */
  targetGroups(): Array<{ targets: string[]; labels: Record<string, string> }> {
    const address = new URL(this.base).host;
    return this.sims.map((t) => ({
      targets: [address],
      labels: { __coverage_path__: this.path(t.index), instance: `sim-${t.index}`, service: t.service },
    }));
  }

  /** Runs `n` random counters of target `i` (statements, and a function and branch arm now and then). */
  run(i: number, n = this.opts.runsPerScrape ?? Math.max(1, Math.floor(this.opts.statements / 100))): void {
    const t = this.sims[i]!;
    for (let k = 0; k < n; k++) {
      const fi = Math.floor(t.rand() * t.s.length);
      const s = t.s[fi]!;
      s[Math.floor(t.rand() * s.length)]! += 1;
      if (k % 5 === 0) {
        const f = t.f[fi]!;
        f[Math.floor(t.rand() * f.length)]! += 1;
        const b = t.b[fi]!;
        const arm = b[Math.floor(t.rand() * b.length)]!;
        arm[Math.floor(t.rand() * arm.length)]! += 1;
      }
    }
    t.version++;
  }

  /** Target `i` restarts: a new instance with zeroed counters. */
  restart(i: number): void {
    const t = this.sims[i]!;
    this.sims[i] = this.fresh(i, t.service, t.build, t.rand);
  }

  /** The Istanbul map target `i` would serve now (what the gateway should hold for its current lifetime). */
  coverageMap(i: number): Record<string, Record<string, unknown>> {
    const t = this.sims[i]!;
    const out: Record<string, Record<string, unknown>> = {};
    t.build.files.forEach((f, fi) => {
      out[f.path] = {
        ...f.structure,
        s: Object.fromEntries([...t.s[fi]!].map((v, k) => [k, v])),
        f: Object.fromEntries([...t.f[fi]!].map((v, k) => [k, v])),
        b: Object.fromEntries(t.b[fi]!.map((arm, k) => [k, [...arm]])),
      };
    });
    return out;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 120_000;
    this.server.maxHeadersCount = 0;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', () => resolve());
    });
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const m = /^\/t\/(\d+)\/coverage(\/reset)?$/.exec((req.url ?? '').split('?')[0]!);
    const t = m ? this.sims[Number(m[1])] : undefined;
    if (!m || !t) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such target\n');
      return;
    }
    req.resume();
    if (m[2]) {
      if (req.method !== 'POST') {
        res.writeHead(405).end();
        return;
      }
      for (const a of [...t.s, ...t.f, ...t.b.flat()]) a.fill(0);
      t.version++;
      res.writeHead(204).end();
      return;
    }
    this.stats.requests++;
    this.scrapedAt[t.index]!.push(Date.now());
    if (this.opts.autoRun ?? true) this.run(t.index);
    const etag = `"${t.instance}-${t.version}"`;
    if (req.headers['if-none-match'] === etag) {
      this.stats.notModified++;
      res.writeHead(304, { etag }).end();
      return;
    }
    const known = req.headers['x-covgate-known-structure'] === t.build.hash;
    const envelope: Record<string, unknown> = {
      format: 'istanbul',
      instance: t.instance,
      startTime: t.startTime,
      structure: t.build.hash,
      counters: 'cumulative',
    };
    if (known) {
      this.stats.countersOnly++;
      envelope.hits = Object.fromEntries(t.build.files.map((f, fi) => [f.path, { s: [...t.s[fi]!], f: [...t.f[fi]!], b: t.b[fi]!.map((a) => [...a]) }]));
    } else {
      this.stats.full++;
      envelope.data = this.coverageMap(t.index);
    }
    res.writeHead(200, { 'content-type': 'application/vnd.covgate.v1+json', etag }).end(JSON.stringify(envelope));
  }
}

/** Percentile (0–100) of a list of numbers, nearest rank. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/**
 * How late scrapes came: for every target, each gap between two consecutive
 * scrapes beyond the interval (ms; 0 when on time). A target that keeps its
 * interval has gaps of the interval, so lateness is what the scheduler or a
 * busy gateway added.
 */
export function scrapeLateness(scrapedAt: number[][], intervalMs: number): number[] {
  const out: number[] = [];
  for (const times of scrapedAt) for (let k = 1; k < times.length; k++) out.push(Math.max(0, times[k]! - times[k - 1]! - intervalMs));
  return out;
}
