/**
 * Issue 11 items 4, 5 and 8: a real gateway (bin/covgate.js, its own process)
 * scraping a fleet of simulated exporters (scripts/bench/lib/fleet.ts, this
 * process) that speak the exporter protocol with counters-only exchange.
 *
 * Reads (item 5): 1,000 targets × 4k statements, scrapes triggered explicitly
 * (--test.manual-scrapes); after each scrape round (so every cache is cold)
 * GET /metrics, GET /api/v1/targets and a one-service json-summary query are
 * timed from the client. The same is done, alternately, against the baseline
 * gateway: the sources of COVGATE_BENCH_BASELINE_REF (default `main`) checked
 * out into a temporary directory with this checkout's node_modules.
 *
 * Scale (items 4 and 8): the gateway's own scrape loops at a given interval;
 * over a few intervals after the first (full-payload) round, its CPU time from
 * /proc (as % of 2 cores), its RSS, and how late scrapes came (p99 of the gap
 * between two scrapes of a target beyond the interval, seen by the exporters).
 * The targets × interval of the issue are scaled down by SCALE_DIVISOR with the
 * interval divided by the same factor, so the scrape rate (scrapes/s, the load)
 * is the issue's while the run stays within minutes; the row says which.
 *
 * Every gateway runs as deployed (deploy/Dockerfile): compiled dist/
 * (COVGATE_DIST=1), built from the sources first. COVGATE_BENCH_GATEWAY_NODE_FLAGS
 * gives its node flags (default --max-old-space-size=4096, Node's own limit
 * on this machine made explicit); the server's own defaults apply, among them
 * --runtime.heap-growth 100 (node's --heap-growing-percent=0 in those flags
 * measures V8's own heap policy instead).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Fleet, percentile, scrapeLateness } from './lib/fleet.ts';
import { median, quick, reportRow } from './lib/harness.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const gatewayNodeFlags = (process.env.COVGATE_BENCH_GATEWAY_NODE_FLAGS ?? '--max-old-space-size=4096').split(' ').filter(Boolean);
const CLK_TCK = 100;

interface Gw {
  url: string;
  child: ChildProcess;
  dir: string;
}

async function startGateway(bin: string, yaml: string, manual: boolean): Promise<Gw> {
  const dir = mkdtempSync(join(tmpdir(), 'covgate-bench-gw-'));
  writeFileSync(join(dir, 'gateway.yaml'), yaml);
  const args = [bin, '--config', join(dir, 'gateway.yaml'), '--listen', '127.0.0.1:0', '--storage.path', join(dir, 'data')];
  if (manual) args.push('--test.manual-scrapes');
  // The gateway as it is deployed (deploy/Dockerfile): compiled dist/, not the sources through tsx
  // (whose in-process transpiler and source maps are not what runs in production).
  const child = spawn(process.execPath, [...gatewayNodeFlags, ...args], { env: { ...process.env, COVGATE_LOG_LEVEL: 'info', COVGATE_DIST: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = /"url":"(http:\/\/[^"]+)".*covgate listening/.exec(buf);
      if (m) resolve(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${buf.slice(-2000)}`)));
  });
  // Keep draining its output so the pipe never blocks it.
  child.stdout!.resume();
  child.stderr!.resume();
  return { url, child, dir };
}

async function stopGateway(g: Gw): Promise<void> {
  if (g.child.exitCode === null) {
    const exited = new Promise((r) => g.child.once('exit', r));
    g.child.kill('SIGTERM');
    await exited;
  }
  rmSync(g.dir, { recursive: true, force: true });
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const fleetYaml = (sd: string, interval: string, timeout: string) => `scrape_configs:
  - job_name: fleet
    scrape_interval: ${interval}
    scrape_timeout: ${timeout}
    file_sd_configs:
      - files: [${JSON.stringify(sd)}]
`;

async function get(url: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return performance.now() - t0;
}

async function post(url: string): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
}

async function waitForTargets(url: string, n: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`${url}/api/v1/targets?state=active`);
    const body = (await res.json()) as { data: { activeTargets: unknown[] } };
    if (body.data.activeTargets.length >= n) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`gateway did not list ${n} targets`);
}

/** A checkout of the baseline's sources that runs on this checkout's node_modules, or undefined when it is this very tree. */
function baselineCheckout(): { bin: string; dir: string; ref: string } | undefined {
  const ref = process.env.COVGATE_BENCH_BASELINE_REF ?? 'main';
  try {
    const base = execFileSync('git', ['-C', root, 'rev-parse', `${ref}^{tree}`], { encoding: 'utf8' }).trim();
    const head = execFileSync('git', ['-C', root, 'rev-parse', 'HEAD^{tree}'], { encoding: 'utf8' }).trim();
    if (base === head) return undefined;
    const dir = mkdtempSync(join(tmpdir(), 'covgate-bench-base-'));
    execFileSync('sh', ['-c', `git -C "${root}" archive ${ref} bin gateway exporters/types package.json tsconfig.json tsconfig.build.json | tar -x -C "${dir}"`]);
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    // Its dist/, as for this checkout (the gateways run as deployed).
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.build.json')], { cwd: dir, stdio: 'inherit' });
    return { bin: join(dir, 'bin', 'covgate.js'), dir, ref };
  } catch {
    return undefined;
  }
}

async function readLatencies(): Promise<void> {
  const targets = quick ? 200 : 1000;
  const rounds = quick ? 3 : 5;
  const fleet = new Fleet({ targets, statements: 4000, targetsPerService: 100, autoRun: false, seed: 3 });
  await fleet.start();
  const dir = mkdtempSync(join(tmpdir(), 'covgate-bench-fleet-'));
  const sd = join(dir, 'fleet.json');
  writeFileSync(sd, JSON.stringify(fleet.targetGroups()));
  const base = baselineCheckout();
  const sides: Array<{ name: string; bin: string }> = [{ name: 'covgate', bin: join(root, 'bin', 'covgate.js') }];
  if (base) sides.push({ name: 'baseline', bin: base.bin });
  const results = new Map<string, { metrics: number[]; targets: number[]; query: number[]; rss: number }>();
  const gws = new Map<string, Gw>();
  try {
    for (const s of sides) {
      const g = await startGateway(s.bin, fleetYaml(sd, '1h', '60s'), true);
      gws.set(s.name, g);
      await waitForTargets(g.url, targets);
      results.set(s.name, { metrics: [], targets: [], query: [], rss: 0 });
    }
    let round = 0;
    const scrapeRound = async (g: Gw) => {
      for (let i = 0; i < targets; i++) fleet.run(i);
      await post(`${g.url}/api/v1/scrape`);
    };
    // First rounds: full payloads, then counters only.
    for (const g of gws.values()) await scrapeRound(g);
    for (const g of gws.values()) await scrapeRound(g);
    for (; round < rounds; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const s of order) {
        const g = gws.get(s.name)!;
        const r = results.get(s.name)!;
        await scrapeRound(g);
        r.metrics.push(await get(`${g.url}/metrics`));
        await scrapeRound(g);
        r.targets.push(await get(`${g.url}/api/v1/targets`));
        await scrapeRound(g);
        r.query.push(await get(`${g.url}/api/v1/coverage?service=svc0&format=json-summary`));
        r.rss = rssMB(g.child.pid!);
      }
    }
    const c = results.get('covgate')!;
    const b = results.get('baseline');
    const row = (item: string, what: string, xs: number[], bx: number[] | undefined, target: string, limit: number) => {
      const value = median(xs);
      const baselineValue = bx ? median(bx) : undefined;
      reportRow({
        item,
        covgate: what,
        ...(base ? { baseline: `the same request to ${base.ref} (sources at ${base.ref}), alternating` } : {}),
        value,
        ...(baselineValue !== undefined ? { baselineValue, ratio: baselineValue / value } : {}),
        unit: 'ms',
        target,
        met: value <= limit,
        notes: `${targets} simulated targets × 4,000 statements in ${targets / 100} services; wall time of the request right after a scrape round changed every target (cold caches); median of ${rounds}.`,
      });
    };
    row(`11.5 /metrics at ${targets} targets`, `GET /metrics, ${targets} targets`, c.metrics, b?.metrics, '≤50 ms', 50);
    row(`11.5 /api/v1/targets at ${targets} targets`, `GET /api/v1/targets, ${targets} targets`, c.targets, b?.targets, '≤100 ms', 100);
    row('11.5 one-service query, cold', 'GET /api/v1/coverage?service=svc0&format=json-summary (100 targets × 4k statements)', c.query, b?.query, '≤20 ms', 20);
    reportRow({
      item: `11.8 RSS at ${targets} targets`,
      covgate: `gateway RSS after the read rounds, ${targets} targets × 4k statements`,
      ...(b ? { baseline: `${base!.ref}`, baselineValue: b.rss } : {}),
      value: c.rss,
      unit: 'MB',
      target: '<500 MB',
      met: c.rss < 500,
    });
  } finally {
    for (const g of gws.values()) await stopGateway(g);
    await fleet.stop();
    rmSync(dir, { recursive: true, force: true });
    if (base) rmSync(base.dir, { recursive: true, force: true });
  }
}

async function scale(label: string, targets: number, statements: number, intervalS: number, divisor: number): Promise<void> {
  const n = Math.round(targets / divisor);
  const interval = intervalS / divisor;
  const fleet = new Fleet({ targets: n, statements, targetsPerService: 100, seed: 9 });
  await fleet.start();
  const dir = mkdtempSync(join(tmpdir(), 'covgate-bench-scale-'));
  const sd = join(dir, 'fleet.json');
  writeFileSync(sd, JSON.stringify(fleet.targetGroups()));
  const intervalMs = Math.round(interval * 1000);
  const g = await startGateway(join(root, 'bin', 'covgate.js'), fleetYaml(sd, `${intervalMs}ms`, `${intervalMs}ms`), false);
  try {
    await waitForTargets(g.url, n);
    // Warm-up: every target's first scrape (full payloads), then one more interval.
    const warm = Date.now();
    while (fleet.stats.countersOnly < n && Date.now() - warm < 600_000) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, intervalMs));
    for (const times of fleet.scrapedAt) times.length = 0;
    const measureIntervals = quick ? 2 : 3;
    const t0 = Date.now();
    const c0 = cpuTicks(g.child.pid!);
    let rss = 0;
    for (let k = 0; k < measureIntervals * 4; k++) {
      await new Promise((r) => setTimeout(r, intervalMs / 4));
      rss = Math.max(rss, rssMB(g.child.pid!));
    }
    const cpuPct = ((cpuTicks(g.child.pid!) - c0) / CLK_TCK / ((Date.now() - t0) / 1000) / 2) * 100;
    const late = scrapeLateness(fleet.scrapedAt, intervalMs);
    const p99 = percentile(late, 99);
    const scraped = fleet.scrapedAt.filter((t) => t.length > 0).length;
    const notes = `${n} targets × ${statements} statements every ${interval} s (the issue's ${targets} every ${intervalS} s divided by ${divisor}: the same ${(targets / intervalS).toFixed(0)} scrapes/s); the simulator runs in the bench process on the same 2 cores; ${scraped}/${n} targets scraped in the ${measureIntervals}-interval window; ${fleet.stats.countersOnly} counters-only, ${fleet.stats.full} full, ${fleet.stats.notModified} 304 answers in all.`;
    reportRow({ item: `11.4 scale ${label}: gateway CPU`, covgate: 'gateway process CPU time / wall time / 2 cores', value: cpuPct, unit: '%', target: '<60%', met: cpuPct < 60, notes });
    reportRow({ item: `11.4 scale ${label}: scrape lag p99`, covgate: 'p99 of (gap between two scrapes of a target − interval), at the exporters', value: p99, unit: 'ms', target: `no target behind its interval (p99 lag < interval ${intervalMs} ms)`, met: p99 < intervalMs && scraped === n });
    reportRow({ item: `11.8 scale ${label}: gateway RSS`, covgate: 'peak VmRSS while scraping', value: rss, unit: 'MB', target: '<500 MB at 1,000 targets', met: n > 1000 || rss < 500 });
  } finally {
    await stopGateway(g);
    await fleet.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// dist/ from this checkout's sources (npm ci builds it; rebuilt here so it is never stale).
execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
if (!process.env.COVGATE_BENCH_SKIP_READS) await readLatencies();
const divisor = Number(process.env.COVGATE_BENCH_SCALE_DIVISOR ?? (quick ? 40 : 10));
await scale('10,000 × 4k / 15 s', 10_000, 4_000, 15, divisor);
if (!process.env.COVGATE_BENCH_ONLY_FIRST_SCALE) await scale('1,000 × 16k / 15 s', 1_000, 16_000, 15, Math.max(1, divisor / 2.5));
