/**
 * Carry-over across builds (`carry=lines`) on real runs of two builds:
 *   - the fixture repository (test/fixtures/diff-repo/build-repo.ts), v1 and v2
 *     each instrumented with `nyc instrument` at the same path (as a redeploy
 *     would put them), each run under covgate's Node exporter with
 *     COVGATE_BUILD_COMMIT set; v1 gets the "old requests", v2 its own;
 *   - the oracle: the old requests run on the v2 build (nyc-instrumented, no
 *     exporter; `__coverage__` dumped and read by `nyc report`), plus the v2
 *     exporter process's own counts (dumped at the scrape), and the changed
 *     lines from git itself (`git diff -U0 v1 v2`).
 * Every unit (statement, function, branch arm) of v2 that no change touched
 * must show observed + the old requests' count on v2; every unit a change
 * touched (an added line inside it, or a deletion inside it) only the observed
 * count: old counts land on the right new lines and never on changed code.
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import axios from 'axios';
import { expect } from 'chai';
import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData } from 'istanbul-lib-coverage';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { spawnProcess, type Spawned } from '../helpers/process.ts';
import { buildDiffRepo, checkout } from '../fixtures/diff-repo/build-repo.ts';
import { hasTool, requireTools, run } from './formats-tools.ts';
import { parseExposition, valueOf } from '../metrics/exposition.ts';
import { spawnSync } from 'node:child_process';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const REGISTER = join(REPO, 'exporters/node/register.mjs');
const NYC = join(REPO, 'node_modules/.bin/nyc');

const OLD_REQUESTS = ['/price?kind=vip&n=100', '/price?kind=plain&n=3', '/price?kind=plain&n=50', '/nope'];
const NEW_REQUESTS = ['/health', '/price?kind=plain&n=30', '/price?kind=bulk&n=30'];

interface App {
  p: Spawned;
  base: string;
  exporter?: string;
}

async function startApp(script: string, cwd: string, env: NodeJS.ProcessEnv, exporter: boolean): Promise<App> {
  const p = spawnProcess(process.execPath, exporter ? ['--import', REGISTER, script] : [script], { cwd, env: { COVGATE_MODE: 'istanbul', COVGATE_LOG: 'info', ...env } });
  const port = (await p.waitForLine(/^listening (\d+)/))[1];
  const app: App = { p, base: `http://127.0.0.1:${port}` };
  if (exporter) {
    for (let i = 0; i < 500 && !app.exporter; i++) {
      app.exporter = /serving coverage on http:\/\/([^/\s]+)\/coverage/.exec(p.output())?.[1];
      if (!app.exporter) await new Promise((r) => setTimeout(r, 20));
    }
    if (!app.exporter) throw new Error(`exporter did not start:\n${p.output()}`);
  }
  return app;
}

async function drive(app: App, paths: string[]): Promise<void> {
  for (const path of paths) await axios.get(`${app.base}${path}`, { proxy: false, validateStatus: () => true });
}

describe('interop: carry=lines puts old builds’ counts on the right new lines (nyc oracle)', function () {
  let dir: string;
  let repo: string;
  const apps: App[] = [];
  let gw: GatewayProcess;
  /** A gateway whose job has no repository (nor sources): it carries through the diff the v2 exporter uploads (build.diff). */
  let gwUpload: GatewayProcess;
  let observedNew: CoverageMapData;
  let oldOnNew: CoverageMapData;
  let sha: { v1: string; v2: string };

  /** Dumps an app's __coverage__ (SIGUSR2) and reads it back through `nyc report`. */
  async function dump(app: App, name: string): Promise<CoverageMapData> {
    const seen = app.p.waitForLine(/^dumped 1/);
    app.p.proc.kill('SIGUSR2');
    await seen;
    const temp = join(dir, `nyc-${name}`);
    mkdirSync(temp);
    renameSync(join(dir, `dump-${name}-1.json`), join(temp, 'dump.json'));
    run(NYC, ['report', '--temp-dir', temp, '--reporter=json', '--report-dir', join(dir, `out-${name}`)], { cwd: repo });
    return JSON.parse(readFileSync(join(dir, `out-${name}`, 'coverage-final.json'), 'utf8')) as CoverageMapData;
  }

  before(async function () {
    requireTools(this, ['git'], 'git');
    dir = mkdtempSync(join(tmpdir(), 'covgate-carry-'));
    repo = join(dir, 'repo');
    buildDiffRepo(repo);
    sha = { v1: run('git', ['-C', repo, 'rev-parse', 'v1']).trim(), v2: run('git', ['-C', repo, 'rev-parse', 'v2']).trim() };
    // Both builds instrumented from the same path, as a redeploy puts them.
    checkout(repo, 'v1');
    run(NYC, ['instrument', '--complete-copy', 'src', join(dir, 'build1/src')], { cwd: repo });
    checkout(repo, 'v2');
    run(NYC, ['instrument', '--complete-copy', 'src', join(dir, 'build2/src')], { cwd: repo });

    const a = await startApp(join(dir, 'build1/src/server.js'), repo, { COVGATE_BUILD_COMMIT: sha.v1, ORACLE_DUMP: join(dir, 'dump-v1') }, true);
    apps.push(a);
    const config = (targets: string[]) => `global: { scrape_interval: 1h }
scrape_configs:
  - job_name: shop
    static_configs: [{ targets: ${JSON.stringify(targets)} }]
    repository: ${JSON.stringify(repo)}
diffs:
  - { name: release, job: shop, base: v1, head: v2 }
`;
    // A test campaign spans the redeploy: its session starts before v1 is scraped at all, so it measures everything.
    gw = await startGatewayProcess({ configYaml: config([]) });
    expect((await gw.api.post('/test-started', { session: 'campaign', selector: { job: 'shop' }, labels: { release: 'r1' } })).status).to.equal(201);
    gw.writeConfig(config([a.exporter!]));
    expect((await gw.api.post('/-/reload')).status).to.equal(200);
    const configNoRepo = (targets: string[]) => `global: { scrape_interval: 1h }
scrape_configs:
  - job_name: shop
    static_configs: [{ targets: ${JSON.stringify(targets)} }]
`;
    gwUpload = await startGatewayProcess({ configYaml: configNoRepo([a.exporter!]) });
    await drive(a, OLD_REQUESTS);
    // The oracle process runs its SIGUSR2 handler once to dump; so does the old build, to count the same code.
    const signalled = a.p.waitForLine(/^dumped 1/);
    a.p.proc.kill('SIGUSR2');
    await signalled;
    expect((await gw.api.post('/api/v1/scrape', {})).status).to.equal(200);
    expect((await gwUpload.api.post('/api/v1/scrape', {})).status).to.equal(200);

    // The redeploy: v2 comes up and joins the job, bringing the diff from v1 as its build.diff (as a CI job would: git diff v1 v2).
    const diffFile = join(dir, 'v1-v2.diff');
    writeFileSync(diffFile, run('git', ['-C', repo, 'diff', '-M', '--no-color', 'v1', 'v2']));
    const b = await startApp(
      join(dir, 'build2/src/server.js'),
      repo,
      { COVGATE_BUILD_COMMIT: sha.v2, COVGATE_BUILD_DIFF_FILE: diffFile, COVGATE_BUILD_DIFF_BASE: sha.v1, ORACLE_DUMP: join(dir, 'dump-new') },
      true,
    );
    apps.push(b);
    gw.writeConfig(config([a.exporter!, b.exporter!]));
    expect((await gw.api.post('/-/reload')).status).to.equal(200);
    gwUpload.writeConfig(configNoRepo([a.exporter!, b.exporter!]));
    expect((await gwUpload.api.post('/-/reload')).status).to.equal(200);
    await drive(b, NEW_REQUESTS);
    observedNew = await dump(b, 'new');
    expect((await gw.api.post('/api/v1/scrape', {})).status).to.equal(200);
    expect((await gwUpload.api.post('/api/v1/scrape', {})).status).to.equal(200);
    expect((await gw.api.post('/test-finished', { session: 'campaign' })).status).to.equal(202);

    // The oracle: the old requests on the new build.
    const o = await startApp(join(dir, 'build2/src/server.js'), repo, { ORACLE_DUMP: join(dir, 'dump-old') }, false);
    apps.push(o);
    await drive(o, OLD_REQUESTS);
    oldOnNew = await dump(o, 'old');
  });

  after(async () => {
    await gw?.stop();
    await gwUpload?.stop();
    for (const a of apps) await a.p.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Per new file: added lines and deletion points (a deletion between new lines c and c+1 is at c), from git -U0. */
  function changes(): Map<string, { added: Set<number>; deletedAfter: number[] }> {
    const out = new Map<string, { added: Set<number>; deletedAfter: number[] }>();
    let file: string | undefined;
    for (const line of run('git', ['-C', repo, 'diff', '-U0', '-M', '--no-color', '--src-prefix=a/', '--dst-prefix=b/', 'v1', 'v2']).split('\n')) {
      const plus = /^\+\+\+ (?:b\/(.*)|\/dev\/null)$/.exec(line);
      if (plus) {
        file = plus[1];
        if (file && !out.has(file)) out.set(file, { added: new Set(), deletedAfter: [] });
        continue;
      }
      const h = /^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(line);
      if (h && file) {
        const oldCount = h[1] === undefined ? 1 : Number(h[1]);
        const start = Number(h[2]);
        const count = h[3] === undefined ? 1 : Number(h[3]);
        for (let l = start; l < start + count; l++) out.get(file)!.added.add(l);
        if (oldCount > 0 && count === 0) out.get(file)!.deletedAfter.push(start);
        if (oldCount > 0 && count > 0) out.get(file)!.deletedAfter.push(start); // replaced lines: inside [start, start+count-1]
      }
    }
    return out;
  }

  type Loc = { start: { line: number }; end: { line: number } };
  function touched(ch: { added: Set<number>; deletedAfter: number[] } | undefined, ...ranges: Loc[]): boolean {
    if (!ch) return false;
    return ranges.some((r) => {
      for (let l = r.start.line; l <= r.end.line; l++) if (ch.added.has(l)) return true;
      return ch.deletedAfter.some((c) => r.start.line <= c && c < r.end.line);
    });
  }

  /** Every unit untouched by v1→v2 = observed + the old requests' count on v2; every touched unit = observed only. */
  async function expectCarried(g: GatewayProcess): Promise<void> {
    const r = await g.api.get('/api/v1/coverage?job=shop');
    expect(r.status).to.equal(200);
    expect(r.headers['x-covgate-carry']).to.equal('lines');
    expect(r.headers['x-covgate-carried-from']).to.equal(`${sha.v1} -> ${sha.v2}`);
    expect(r.headers['x-covgate-carried-last-seen']).to.match(new RegExp(`^${sha.v1}=\\d{4}-\\d\\d-\\d\\dT`));
    const got = r.data as CoverageMapData;
    expect(Object.keys(got).sort()).to.deep.equal(Object.keys(observedNew).sort());
    expect(Object.keys(got).some((p) => p.endsWith('legacy.js') || p.endsWith('fmt.js'))).to.equal(false);
    const ch = changes();
    let carriedUnits = 0;
    let touchedUnits = 0;
    for (const [path, obs] of Object.entries(observedNew)) {
      const c = ch.get(path.slice(repo.length + 1));
      const g = got[path]!;
      const old = oldOnNew[path]!;
      for (const [id, loc] of Object.entries(obs.statementMap)) {
        const t = touched(c, loc);
        const want = obs.s[id]! + (t ? 0 : old.s[id]!);
        expect(g.s[id], `${path} statement ${id} at ${loc.start.line}${t ? ' (touched)' : ''}`).to.equal(want);
        if (t) touchedUnits++;
        else if (old.s[id]! > 0) carriedUnits++;
      }
      for (const [id, fn] of Object.entries(obs.fnMap)) {
        const t = touched(c, fn.loc, fn.decl);
        expect(g.f[id], `${path} function ${fn.name}${t ? ' (touched)' : ''}`).to.equal(obs.f[id]! + (t ? 0 : old.f[id]!));
      }
      for (const [id, br] of Object.entries(obs.branchMap)) {
        const t = touched(c, br.loc, ...br.locations);
        expect(g.b[id], `${path} branch ${id} at ${br.loc.start.line}${t ? ' (touched)' : ''}`).to.deep.equal(obs.b[id]!.map((v, k) => v + (t ? 0 : old.b[id]![k]!)));
      }
    }
    // The check is not vacuous: old counts were carried, and some units were changed.
    expect(carriedUnits).to.be.greaterThan(10);
    expect(touchedUnits).to.be.greaterThan(3);

    // Observed versus carried, in lines.
    const obsLines = libCoverage.createCoverageMap(structuredClone(observedNew)).getCoverageSummary().lines;
    expect(r.headers['x-covgate-observed-lines']).to.equal(`${obsLines.covered}/${obsLines.total}`);
    const allLines = libCoverage.createCoverageMap(structuredClone(got)).getCoverageSummary().lines;
    expect(Number(r.headers['x-covgate-carried-lines'])).to.equal(allLines.covered - obsLines.covered);
  }

  /** What carrying put on each line of v2: the old requests' counts of untouched statements, by Istanbul's line rule. */
  function expectedCarriedLines(): Map<string, Map<number, number>> {
    const ch = changes();
    const out = new Map<string, Map<number, number>>();
    for (const [path, obs] of Object.entries(observedNew)) {
      const c = ch.get(path.slice(repo.length + 1));
      const old = oldOnNew[path]!;
      const s = Object.fromEntries(Object.entries(obs.statementMap).map(([id, loc]) => [id, touched(c, loc) ? 0 : old.s[id]!]));
      const lines = libCoverage.createFileCoverage({ ...structuredClone(obs), s }).getLineCoverage();
      const m = new Map(Object.entries(lines).filter(([, n]) => n > 0).map(([l, n]) => [Number(l), n]));
      if (m.size > 0) out.set(path, m);
    }
    return out;
  }

  it('every untouched unit = observed + the old requests’ count on v2; every touched unit = observed only', async () => {
    await expectCarried(gw);
  });

  it('a job without repository carries the same through the diff the new build uploaded (exporter build.diff); the path is matched by suffix', async () => {
    await expectCarried(gwUpload);
    const viaUpload = await gwUpload.api.get('/api/v1/carry?job=shop');
    expect(viaUpload.data.data.builds).to.deep.equal([{ commit: sha.v1, lastSeen: viaUpload.data.data.builds[0].lastSeen, diff: 'uploaded' }]);
    const viaGit = await gw.api.get('/api/v1/carry?job=shop');
    expect(viaGit.data.data.builds[0].diff).to.equal('git');
  });

  it('GET /api/v1/carry: every carried line with its carried hits, the new build’s own, and when it was last seen run (the old build’s last scrape)', async () => {
    const r = await gw.api.get('/api/v1/carry?job=shop');
    expect(r.status).to.equal(200);
    const d = r.data.data as {
      carry: string;
      newest: string;
      builds: Array<{ commit: string; lastSeen: string }>;
      lines: { observed: { covered: number; total: number }; carried: number };
      files: Array<{ path: string; lines: Array<{ line: number; hits: number; observed: number; lastSeen: string; from: string }> }>;
    };
    expect(d.carry).to.equal('lines');
    expect(d.newest).to.equal(sha.v2);
    const lastSeen = d.builds[0]!.lastSeen;
    expect(r.headers['x-covgate-carried-last-seen']).to.equal(`${sha.v1}=${lastSeen}`);
    const want = expectedCarriedLines();
    expect(d.files.map((f) => f.path).sort()).to.deep.equal([...want.keys()].sort());
    let n = 0;
    for (const f of d.files) {
      const own = libCoverage.createFileCoverage(structuredClone(observedNew[f.path]!)).getLineCoverage();
      expect(f.lines.map((l) => [l.line, l.hits]), f.path).to.deep.equal([...want.get(f.path)!].sort((x, y) => x[0] - y[0]));
      for (const l of f.lines) {
        expect(l.observed, `${f.path}:${l.line}`).to.equal(own[l.line] ?? 0);
        expect([l.from, l.lastSeen]).to.deep.equal([sha.v1, lastSeen]);
        n++;
      }
    }
    expect(n).to.be.greaterThan(10);
    // Observed versus carried as /api/v1/coverage reports them.
    const cov = await gw.api.get('/api/v1/coverage?job=shop');
    expect(`${d.lines.observed.covered}/${d.lines.observed.total}`).to.equal(cov.headers['x-covgate-observed-lines']);
    expect(String(d.lines.carried)).to.equal(cov.headers['x-covgate-carried-lines']);
  });

  it('diff coverage over both builds: carried (default) = the new build’s own counts on changed lines; a location merge puts old counts there', async () => {
    const r = await gw.api.get('/api/v1/diff-coverage?job=shop&base=v1&head=v2');
    expect(r.status, JSON.stringify(r.data)).to.equal(200);
    expect(r.headers['x-covgate-carry']).to.equal('lines');
    type F = { path: string; lines: Array<{ line: number; hits: number | null }> };
    const files = r.data.data.files as F[];
    expect(files.length).to.equal(3);
    for (const f of files) {
      const counts = libCoverage.createFileCoverage(observedNew[join(repo, f.path)]!).getLineCoverage();
      expect(f.lines.map((l) => [l.line, l.hits]), f.path).to.deep.equal(f.lines.map((l) => [l.line, counts[l.line] ?? null]));
      // Lines changed since the old build never receive its counts.
      expect(f.lines.filter((l) => (l as { carried?: unknown }).carried !== undefined), f.path).to.deep.equal([]);
    }
    expect(r.data.data.totals.carried).to.equal(0);
    expect(r.data.data.totals.observed).to.equal(r.data.data.totals.covered);
    // The old build ran `return n * 0.9` (vip) at the very place v2 has the changed `return n * 0.8`.
    const none = await gw.api.get('/api/v1/diff-coverage?job=shop&base=v1&head=v2&carry=none');
    const vip = (d: { files: F[] }) => d.files.find((f) => f.path === 'src/pricing.js')!.lines.find((l) => l.line === 4)!.hits;
    expect(vip(r.data.data)).to.equal(0);
    expect(vip(none.data.data)).to.equal(1);
  });

  it('/metrics shows the carried figures: covgate_coverage_* as /api/v1/coverage, covgate_coverage_carried_lines, covgate_diff_coverage_ratio of the named diff (promtool-clean)', async () => {
    const cov = await gw.api.get('/api/v1/coverage?job=shop');
    const lines = libCoverage.createCoverageMap(structuredClone(cov.data as CoverageMapData)).getCoverageSummary().lines;
    const text = String((await gw.api.get('/metrics', { transformResponse: (x) => x })).data);
    const exp = parseExposition(text);
    const sel = { job: 'shop', service: 'shop' };
    expect(valueOf(exp, 'covgate_coverage_covered', { ...sel, kind: 'lines' })).to.equal(lines.covered);
    expect(valueOf(exp, 'covgate_coverage_coverable', { ...sel, kind: 'lines' })).to.equal(lines.total);
    expect(valueOf(exp, 'covgate_coverage_carried_lines', sel)).to.equal(Number(cov.headers['x-covgate-carried-lines']));
    expect(valueOf(exp, 'covgate_coverage_carried_lines', sel)).to.be.greaterThan(0);
    const named = await gw.api.get('/api/v1/diff-coverage?diff=release');
    expect(named.status).to.equal(200);
    expect(valueOf(exp, 'covgate_diff_coverage_ratio', { ...sel, diff: 'release' })).to.be.closeTo(named.data.data.totals.ratio, 1e-12);
    if (hasTool('promtool') || process.env.CI === 'true') {
      // The families this change adds or feeds, linted as Prometheus would.
      const ours = text.split('\n').filter((l) => /^(# (HELP|TYPE) )?covgate_(coverage_carried_lines|diff_coverage_ratio)\b/.test(l)).join('\n');
      const r = spawnSync('promtool', ['check', 'metrics'], { input: `${ours}\n`, encoding: 'utf8' });
      expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
    }
    // One series: the only service, which spans two builds.
    expect(exp.samples.filter((x) => x.name === 'covgate_coverage_carried_lines').length).to.equal(1);
  });

  it('/reports/ carries by default and says from which build and when it last ran; carry=none merges by location', async () => {
    const open = async (q: string) => {
      const r = await gw.api.get(`/reports/?${q}`, { maxRedirects: 0, validateStatus: () => true });
      expect(r.status).to.equal(302);
      return String((await gw.api.get(r.headers.location as string, { transformResponse: (x) => x })).data);
    };
    const fraction = (html: string) => [...html.matchAll(/<span class="quiet">Lines<\/span>\s*<span class='fraction'>(\d+)\/(\d+)<\/span>/g)].map((m) => `${m[1]}/${m[2]}`)[0];
    const carried = await open('job=shop');
    const cov = libCoverage.createCoverageMap(structuredClone((await gw.api.get('/api/v1/coverage?job=shop')).data as CoverageMapData)).getCoverageSummary().lines;
    expect(fraction(carried), carried.slice(0, 3000)).to.equal(`${cov.covered}/${cov.total}`);
    expect(carried).to.include(`counts of ${sha.v1.slice(0, 12)} (last run `);
    expect(carried).to.include(`carried onto ${sha.v2.slice(0, 12)}`);
    const located = await open('job=shop&carry=none');
    const none = libCoverage.createCoverageMap(structuredClone((await gw.api.get('/api/v1/coverage?job=shop&carry=none')).data as CoverageMapData)).getCoverageSummary().lines;
    expect(fraction(located)).to.equal(`${none.covered}/${none.total}`);
    expect(located).to.not.include('carried onto');
    expect((await gw.api.get('/reports/?job=shop&carry=blocks', { maxRedirects: 0, validateStatus: () => true })).status).to.equal(400);
  });

  it('a session spanning the redeploy carries like the job: its coverage, its summary and its per-service summary', async () => {
    const job = await gw.api.get('/api/v1/coverage?job=shop');
    const session = await gw.api.get('/api/v1/coverage?session=campaign');
    expect(session.headers['x-covgate-carry']).to.equal('lines');
    expect(session.headers['x-covgate-carried-from']).to.equal(`${sha.v1} -> ${sha.v2}`);
    expect(session.data).to.deep.equal(job.data);
    const lines = libCoverage.createCoverageMap(structuredClone(job.data as CoverageMapData)).getCoverageSummary().lines;
    const view = (await gw.api.get('/api/v1/sessions/campaign')).data.data;
    expect([view.summary.lines.covered, view.summary.lines.total]).to.deep.equal([lines.covered, lines.total]);
    expect([view.services.shop.lines.covered, view.services.shop.lines.total]).to.deep.equal([lines.covered, lines.total]);
    // By release label (a session label) too, and carry=none is the location merge as for the job.
    expect((await gw.api.get('/api/v1/coverage?release=r1')).data).to.deep.equal(job.data);
    expect((await gw.api.get('/api/v1/coverage?session=campaign&carry=none')).data).to.deep.equal((await gw.api.get('/api/v1/coverage?job=shop&carry=none')).data);
  });

  it('carry=none merges builds by source location as before: old files stay, no carry headers', async () => {
    const r = await gw.api.get('/api/v1/coverage?job=shop&carry=none');
    expect(r.status).to.equal(200);
    expect(r.headers['x-covgate-carry']).to.equal(undefined);
    expect(Object.keys(r.data as object).some((p) => p.endsWith('src/legacy.js'))).to.equal(true);
    const bad = await gw.api.get('/api/v1/coverage?job=shop&carry=blocks');
    expect(bad.status).to.equal(400);
    expect(bad.data.error).to.match(/carry must be one of none, lines/);
  });
});
