/**
 * Carry-over (`carry=lines`) for V8 coverage: the fixture repository's v1 and
 * v2 (test/fixtures/diff-repo/build-repo.ts) deployed one after the other at
 * the same path, each run under covgate's Node exporter in V8 mode with
 * COVGATE_BUILD_COMMIT; v1 gets the "old requests", v2 its own. The oracle:
 * the old requests run on the v2 build in a third process under the same
 * exporter in V8 mode (its own job), so both sides have the same structure
 * (the exporter's V8 conversion is checked against c8 in node-oracle.test.ts),
 * and the changed lines from git itself (`git diff -U0 v1 v2`). Every unit of
 * v2 no change touched must show observed + the old requests' count on v2;
 * every touched unit only the observed count.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import axios from 'axios';
import { expect } from 'chai';
import type { CoverageMapData } from 'istanbul-lib-coverage';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { spawnProcess, type Spawned } from '../helpers/process.ts';
import { buildDiffRepo, checkout } from '../fixtures/diff-repo/build-repo.ts';
import { requireTools, run } from './formats-tools.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const REGISTER = join(REPO, 'exporters/node/register.mjs');

const OLD_REQUESTS = ['/price?kind=vip&n=100', '/price?kind=plain&n=3', '/price?kind=plain&n=50', '/nope'];
const NEW_REQUESTS = ['/health', '/price?kind=plain&n=30', '/price?kind=bulk&n=30'];

interface App {
  p: Spawned;
  base: string;
  exporter: string;
}

async function startApp(cwd: string, env: NodeJS.ProcessEnv): Promise<App> {
  const p = spawnProcess(process.execPath, ['--import', REGISTER, join(cwd, 'src/server.js')], { cwd, env: { COVGATE_MODE: 'v8', COVGATE_LOG: 'info', ...env } });
  const port = (await p.waitForLine(/^listening (\d+)/))[1];
  let exporter: string | undefined;
  for (let i = 0; i < 500 && !exporter; i++) {
    exporter = /serving coverage on http:\/\/([^/\s]+)\/coverage/.exec(p.output())?.[1];
    if (!exporter) await new Promise((r) => setTimeout(r, 20));
  }
  if (!exporter) throw new Error(`exporter did not start:\n${p.output()}`);
  return { p, base: `http://127.0.0.1:${port}`, exporter };
}

async function drive(app: App, paths: string[]): Promise<void> {
  for (const path of paths) await axios.get(`${app.base}${path}`, { proxy: false, validateStatus: () => true });
}

describe('interop: carry=lines for V8 coverage (Node exporter in V8 mode, the old requests on v2 as oracle)', function () {
  let dir: string;
  let repo: string;
  let app: string;
  const apps: App[] = [];
  let gw: GatewayProcess;
  let sha: { v1: string; v2: string };

  /** Deploys a version's sources at the one app path, as a redeploy does. */
  function deploy(version: 'v1' | 'v2'): void {
    checkout(repo, version);
    rmSync(join(app, 'src'), { recursive: true, force: true });
    cpSync(join(repo, 'src'), join(app, 'src'), { recursive: true });
  }

  before(async function () {
    requireTools(this, ['git'], 'git');
    dir = mkdtempSync(join(tmpdir(), 'covgate-carry-v8-'));
    repo = join(dir, 'repo');
    app = join(dir, 'app');
    buildDiffRepo(repo);
    sha = { v1: run('git', ['-C', repo, 'rev-parse', 'v1']).trim(), v2: run('git', ['-C', repo, 'rev-parse', 'v2']).trim() };
    const config = (shop: string[], oracle: string[]) => `global: { scrape_interval: 1h }
scrape_configs:
  - job_name: shop
    static_configs: [{ targets: ${JSON.stringify(shop)} }]
    repository: ${JSON.stringify(repo)}
    sources: [${JSON.stringify(app)}]
  - job_name: oracle
    static_configs: [{ targets: ${JSON.stringify(oracle)} }]
`;
    deploy('v1');
    const a = await startApp(app, { COVGATE_BUILD_COMMIT: sha.v1 });
    apps.push(a);
    gw = await startGatewayProcess({ configYaml: config([a.exporter], []) });
    await drive(a, OLD_REQUESTS);
    expect((await gw.api.post('/api/v1/scrape', {})).status).to.equal(200);
    // The redeploy: v1 stops, v2 takes its place at the same path (the store keeps v1's coverage).
    await a.p.kill('SIGTERM');
    deploy('v2');
    const b = await startApp(app, { COVGATE_BUILD_COMMIT: sha.v2 });
    apps.push(b);
    await drive(b, NEW_REQUESTS);
    // The oracle: the old requests on v2, its own job.
    const o = await startApp(app, {});
    apps.push(o);
    await drive(o, OLD_REQUESTS);
    gw.writeConfig(config([b.exporter], [o.exporter]));
    expect((await gw.api.post('/-/reload')).status).to.equal(200);
    expect((await gw.api.post('/api/v1/scrape', {})).status).to.equal(200);
  });

  after(async () => {
    await gw?.stop();
    for (const a of apps) await a.p.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Per new file: added lines and deletion points, from git -U0 (as test/interop/carry.test.ts). */
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
        if (oldCount > 0) out.get(file)!.deletedAfter.push(start);
      }
    }
    return out;
  }

  type Loc = { start: { line: number }; end: { line: number } };
  function touched(ch: { added: Set<number>; deletedAfter: number[] } | undefined, ...ranges: Array<Loc | undefined>): boolean {
    if (!ch) return false;
    return ranges.some((r) => {
      if (!r || typeof r.start?.line !== 'number') return false;
      for (let l = r.start.line; l <= r.end.line; l++) if (ch.added.has(l)) return true;
      return ch.deletedAfter.some((c) => r.start.line <= c && c < r.end.line);
    });
  }

  it('every untouched unit = observed + the old requests’ count on v2; every touched unit = observed only', async () => {
    const r = await gw.api.get('/api/v1/coverage?job=shop');
    expect(r.status).to.equal(200);
    expect(r.headers['x-covgate-carry']).to.equal('lines');
    expect(r.headers['x-covgate-carried-from']).to.equal(`${sha.v1} -> ${sha.v2}`);
    const got = r.data as CoverageMapData;
    const observed = (await gw.api.get(`/api/v1/coverage?job=shop&instance=${apps[1]!.exporter}`)).data as CoverageMapData;
    const oldOnNew = (await gw.api.get('/api/v1/coverage?job=oracle')).data as CoverageMapData;
    expect(Object.keys(got).sort()).to.deep.equal(Object.keys(observed).sort());
    expect(Object.keys(oldOnNew).sort()).to.deep.equal(Object.keys(observed).sort());
    const ch = changes();
    let carriedUnits = 0;
    let touchedUnits = 0;
    for (const [path, obs] of Object.entries(observed)) {
      const c = ch.get(path.slice(app.length + 1));
      const g = got[path]!;
      const old = oldOnNew[path]!;
      expect(g.statementMap, path).to.deep.equal(obs.statementMap);
      for (const [id, loc] of Object.entries(obs.statementMap)) {
        const t = touched(c, loc);
        expect(g.s[id], `${path} statement ${id} at ${loc.start.line}${t ? ' (touched)' : ''}`).to.equal(obs.s[id]! + (t ? 0 : old.s[id]!));
        if (t) touchedUnits++;
        else if (old.s[id]! > 0) carriedUnits++;
      }
      for (const [id, fn] of Object.entries(obs.fnMap)) {
        const t = touched(c, fn.loc, fn.decl);
        expect(g.f[id], `${path} function ${fn.name}${t ? ' (touched)' : ''}`).to.equal(obs.f[id]! + (t ? 0 : old.f[id]!));
      }
      for (const [id, br] of Object.entries(obs.branchMap)) {
        const t = touched(c, br.loc, ...br.locations);
        expect(g.b[id], `${path} branch ${id} at ${br.loc?.start.line}${t ? ' (touched)' : ''}`).to.deep.equal(obs.b[id]!.map((v, k) => v + (t ? 0 : old.b[id]![k]!)));
      }
    }
    expect(carriedUnits).to.be.greaterThan(5);
    expect(touchedUnits).to.be.greaterThan(2);
  });

  it('diff coverage of v1...v2 on V8 data: changed lines carry nothing from v1', async () => {
    const r = await gw.api.get('/api/v1/diff-coverage?job=shop&base=v1&head=v2');
    expect(r.status, JSON.stringify(r.data)).to.equal(200);
    expect(r.data.data.totals.carried).to.equal(0);
    const none = await gw.api.get('/api/v1/diff-coverage?job=shop&base=v1&head=v2&carry=none');
    expect(none.data.data.totals.covered).to.be.greaterThan(r.data.data.totals.covered);
  });
});
