/**
 * Diff (patch) coverage on a real change and a real run:
 *   - a fixture git repository (test/fixtures/diff-repo/build-repo.ts): v1 → v2
 *     inserts lines above the code, changes a function, renames a file (with an
 *     edit) and deletes one;
 *   - v2 instrumented with `nyc instrument`, run under covgate's Node exporter
 *     (exporters/node/register.mjs), driven by HTTP requests, scraped by the
 *     real gateway process;
 *   - the oracle: the changed lines from git itself (`git diff -U0 v1...v2`
 *     hunk headers) and the line counts nyc reports (`nyc report
 *     --reporter=json` of `__coverage__` dumped in the same process at the
 *     scrape, as nyc writes it at exit; istanbul-lib-coverage getLineCoverage).
 * covgate's diff coverage (named diff, base/head, uploaded body; JSON, text,
 * HTML, /metrics) must equal that table line by line with counts, and a few
 * lines are also checked by hand through their `@mark:` comments.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import axios from 'axios';
import { expect } from 'chai';
import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData } from 'istanbul-lib-coverage';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { spawnProcess, type Spawned } from '../helpers/process.ts';
import { buildDiffRepo, V2 } from '../fixtures/diff-repo/build-repo.ts';
import { requireTools, run } from './formats-tools.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const REGISTER = join(REPO, 'exporters/node/register.mjs');
const NYC = join(REPO, 'node_modules/.bin/nyc');

interface DiffFileJson {
  path: string;
  oldPath?: string;
  status: string;
  coveragePath: string;
  changed: number;
  coverable: number;
  covered: number;
  missed: number;
  ratio: number;
  lines: Array<{ line: number; hits: number | null; text: string }>;
}
interface DiffJson {
  diff: Record<string, unknown>;
  totals: { changed: number; coverable: number; covered: number; missed: number; ratio: number };
  files: DiffFileJson[];
  unmatched: string[];
}

/** Added lines per new path, from git's own -U0 hunk headers. */
function changedLinesFromGit(repo: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  let file: string | undefined;
  for (const line of run('git', ['-C', repo, 'diff', '-U0', '-M', '--no-color', '--src-prefix=a/', '--dst-prefix=b/', 'v1...v2']).split('\n')) {
    const plus = /^\+\+\+ (?:b\/(.*)|\/dev\/null)$/.exec(line);
    if (plus) {
      file = plus[1];
      continue;
    }
    const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@/.exec(line);
    if (hunk && file) {
      const start = Number(hunk[1]);
      const count = hunk[2] === undefined ? 1 : Number(hunk[2]);
      const list = out.get(file) ?? [];
      for (let l = start; l < start + count; l++) list.push(l);
      out.set(file, list);
    }
  }
  return out;
}

/** Line number of a `@mark:<name>` in a v2 file. */
function mark(file: string, name: string): number {
  const re = new RegExp(`@mark:${name}(?![\\w-])`);
  const i = V2[file]!.split('\n').findIndex((l) => re.test(l));
  if (i < 0) throw new Error(`no @mark:${name} in ${file}`);
  return i + 1;
}

describe('interop: diff coverage of a real change equals git + nyc on the same run', function () {
  let dir: string;
  let repo: string;
  let app: Spawned;
  let gw: GatewayProcess;
  let oracle: CoverageMapData;

  before(async function () {
    requireTools(this, ['git'], 'git');
    dir = mkdtempSync(join(tmpdir(), 'covgate-diffcov-'));
    repo = join(dir, 'repo');
    buildDiffRepo(repo);
    const build = join(dir, 'build');
    run(NYC, ['instrument', '--complete-copy', 'src', join(build, 'src')], { cwd: repo });

    app = spawnProcess(process.execPath, ['--import', REGISTER, join(build, 'src/server.js')], {
      cwd: repo,
      env: { COVGATE_MODE: 'istanbul', COVGATE_LOG: 'info', ORACLE_DUMP: join(dir, 'dump') },
    });
    const port = (await app.waitForLine(/^listening (\d+)/))[1];
    let exporter: string | undefined;
    for (let i = 0; i < 500 && !exporter; i++) {
      exporter = /serving coverage on http:\/\/([^/\s]+)\/coverage/.exec(app.output())?.[1];
      if (!exporter) await new Promise((r) => setTimeout(r, 20));
    }
    if (!exporter) throw new Error(`exporter did not start:\n${app.output()}`);

    gw = await startGatewayProcess({
      configYaml: `global: { scrape_interval: 1h }
scrape_configs:
  - job_name: shop
    static_configs: [{ targets: ["${exporter}"] }]
    repository: ${JSON.stringify(repo)}
diffs:
  - { name: release, job: shop, base: v1, head: v2 }
`,
    });

    // The workload on v2: never the bulk price, never the clock-went-backwards branch.
    for (const path of ['/price?kind=vip&n=100', '/price?kind=plain&n=3', '/price?kind=plain&n=30', '/health', '/nope']) {
      await axios.get(`http://127.0.0.1:${port}${path}`, { proxy: false, validateStatus: () => true });
    }
    // Oracle dump and scrape at the same point (no app code runs in between).
    const dumped = app.waitForLine(/^dumped 1/);
    app.proc.kill('SIGUSR2');
    await dumped;
    const scraped = await gw.api.post('/api/v1/scrape', {});
    expect(scraped.status, JSON.stringify(scraped.data)).to.equal(200);

    const temp = join(dir, 'nyc-temp');
    mkdirSync(temp);
    renameSync(join(dir, 'dump-1.json'), join(temp, 'dump.json'));
    run(NYC, ['report', '--temp-dir', temp, '--reporter=json', '--report-dir', join(dir, 'nyc-out')], { cwd: repo });
    oracle = JSON.parse(readFileSync(join(dir, 'nyc-out', 'coverage-final.json'), 'utf8')) as CoverageMapData;
  });

  after(async () => {
    await gw?.stop();
    await app?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The oracle table: git's changed lines of files nyc measured, with nyc's line counts (null: not a line Istanbul counts). */
  function oracleTable(): Record<string, Array<[number, number | null]>> {
    const out: Record<string, Array<[number, number | null]>> = {};
    for (const [file, lines] of changedLinesFromGit(repo)) {
      const data = oracle[join(repo, file)];
      if (!data) continue;
      const counts = libCoverage.createFileCoverage(data).getLineCoverage();
      out[file] = lines.map((l) => [l, counts[l] ?? null]);
    }
    return out;
  }
  const tableOf = (d: DiffJson) => Object.fromEntries(d.files.map((f) => [f.path, f.lines.map((l) => [l.line, l.hits] as [number, number | null])]));

  it('the named diff equals git + nyc line by line with counts; renamed file found, deleted file and README not counted', async () => {
    const r = await gw.api.get('/api/v1/diff-coverage?diff=release');
    expect(r.status, JSON.stringify(r.data)).to.equal(200);
    const d = r.data.data as DiffJson;
    const want = oracleTable();
    expect(Object.keys(want).sort()).to.deep.equal(['src/format.js', 'src/pricing.js', 'src/server.js']);
    expect(tableOf(d)).to.deep.equal(want);
    const flat = Object.values(want).flat();
    const coverable = flat.filter(([, h]) => h !== null);
    expect(d.totals).to.deep.equal({
      changed: flat.length,
      coverable: coverable.length,
      covered: coverable.filter(([, h]) => h! > 0).length,
      missed: coverable.filter(([, h]) => h === 0).length,
      ratio: coverable.filter(([, h]) => h! > 0).length / coverable.length,
    });
    const format = d.files.find((f) => f.path === 'src/format.js')!;
    expect(format).to.include({ status: 'renamed', oldPath: 'src/fmt.js', coveragePath: join(repo, 'src/format.js') });
    expect(d.unmatched).to.deep.equal(['README.md']);
    expect(d.diff).to.include({ kind: 'git', name: 'release', job: 'shop' });

    // By hand, from the workload: vip once; the bulk check for both plain prices; bulk never; a lone "}" is no line.
    const hits = (file: string, name: string) => d.files.find((f) => f.path === file)!.lines.find((l) => l.line === mark(file, name))?.hits;
    expect(hits('src/pricing.js', 'vip')).to.equal(1);
    expect(hits('src/pricing.js', 'bulk-check')).to.equal(2);
    expect(hits('src/pricing.js', 'bulk')).to.equal(0);
    expect(hits('src/pricing.js', 'close')).to.equal(null);
    expect(hits('src/server.js', 'started')).to.equal(1);
    expect(hits('src/server.js', 'route-health')).to.equal(5);
    expect(hits('src/server.js', 'health-ok')).to.equal(1);
    expect(hits('src/server.js', 'health-never')).to.equal(0);
    expect(hits('src/format.js', 'fmt-check')).to.equal(4);
  });

  it('base/head and an uploaded diff give the same report; text and HTML show it', async () => {
    const named = (await gw.api.get('/api/v1/diff-coverage?diff=release')).data.data as DiffJson;
    const byRefs = await gw.api.get('/api/v1/diff-coverage?job=shop&base=v1&head=v2');
    expect(byRefs.status, JSON.stringify(byRefs.data)).to.equal(200);
    expect(tableOf(byRefs.data.data as DiffJson)).to.deep.equal(tableOf(named));
    const body = run('git', ['-C', repo, 'diff', 'v1...v2']);
    const uploaded = await gw.api.post('/api/v1/diff-coverage?job=shop', body, { headers: { 'Content-Type': 'text/x-diff' }, transformRequest: (x) => x });
    expect(uploaded.status, JSON.stringify(uploaded.data)).to.equal(200);
    expect(tableOf(uploaded.data.data as DiffJson)).to.deep.equal(tableOf(named));
    expect((uploaded.data.data as DiffJson).totals).to.deep.equal(named.totals);

    const t = named.totals;
    const text = String((await gw.api.get('/api/v1/diff-coverage?diff=release&format=text', { transformResponse: (x) => x })).data);
    expect(text).to.match(new RegExp(`TOTAL\\s+${t.changed}\\s+${t.coverable}\\s+${t.covered}\\s+${t.missed}\\s`));
    expect(text).to.include(`missed in src/pricing.js: ${mark('src/pricing.js', 'bulk')}`);
    const html = await gw.api.get('/api/v1/diff-coverage?diff=release&format=html', { transformResponse: (x) => x });
    expect(html.headers['content-type']).to.match(/text\/html/);
    expect(String(html.data)).to.include(`${t.covered} of ${t.coverable} coverable changed lines covered`);
    expect(String(html.data)).to.include('return n - 5; // @mark:bulk');
    expect(String(html.data)).to.include('&#39;NaN&#39;');
  });

  it('/metrics exposes covgate_diff_coverage_ratio{job,service,diff} equal to the report', async () => {
    const named = (await gw.api.get('/api/v1/diff-coverage?diff=release')).data.data as DiffJson;
    const metrics = String((await gw.api.get('/metrics', { transformResponse: (x) => x })).data);
    const m = /^covgate_diff_coverage_ratio\{job="shop",service="shop",diff="release"\} (\S+)$/m.exec(metrics);
    expect(m, metrics.split('\n').filter((l) => l.includes('diff')).join('\n')).to.not.equal(null);
    expect(Number(m![1])).to.be.closeTo(named.totals.ratio, 1e-12);
  });

  it('refuses option-like, unknown and range refs, garbage bodies, and names unmatched files (4xx, never a crash)', async () => {
    for (const [q, status, re] of [
      ['job=shop&base=--output=/tmp/x&head=v2', 400, /must not start with "-"/],
      ['job=shop&base=v1&head=nope', 400, /head "nope" is not a commit/],
      ['job=shop&base=v1..v2&head=v2', 400, /not a range/],
      ['job=shop&base=v1', 400, /both base and head/],
      ['diff=nosuch', 404, /no diff named "nosuch"/],
      ['job=shop', 400, /needs a unified diff/],
    ] as const) {
      const r = await gw.api.get(`/api/v1/diff-coverage?${q}`);
      expect(r.status, q).to.equal(status);
      expect(r.data.error, q).to.match(re);
    }
    const garbage = await gw.api.post('/api/v1/diff-coverage?job=shop', 'hello, not a diff', { headers: { 'Content-Type': 'text/plain' } });
    expect(garbage.status).to.equal(400);
    expect(garbage.data.error).to.match(/not a unified diff/);
    const elsewhere = await gw.api.post('/api/v1/diff-coverage?job=shop', '--- a/lib/other.js\n+++ b/lib/other.js\n@@ -1 +1 @@\n-a\n+b\n', { headers: { 'Content-Type': 'text/plain' } });
    expect(elsewhere.status).to.equal(404);
    expect(elsewhere.data.error).to.match(/unmatched: lib\/other\.js.*path_map/);
    // The store is intact: the named diff still answers.
    expect((await gw.api.get('/api/v1/diff-coverage?diff=release')).status).to.equal(200);
    expect(readdirSync(repo)).to.include('src');
  });
});
