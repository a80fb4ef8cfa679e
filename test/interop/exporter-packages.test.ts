import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { useProcesses } from '../helpers/processes.ts';
import { spawnProcess } from '../helpers/process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** What a service under test must never get from installing an exporter. */
const GATEWAY_ONLY = ['koa', '@koa/router', 'level', 'prom-client', 'tsx', 'typescript', 'node-cron', 'pino', 'zod', 'axios', 'mocha'];

function sh(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 170_000, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** Packs an exporter (its prepack compiles it) and installs the tarball into a fresh app folder. */
function installPacked(pkgDir: string, app: string): string[] {
  const tarballs = mkdtempSync(join(tmpdir(), 'covgate-pack-'));
  try {
    sh('npm', ['pack', '--pack-destination', tarballs], pkgDir);
    const [tgz] = readdirSync(tarballs).filter((f) => f.endsWith('.tgz'));
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app-under-test', version: '1.0.0', private: true, type: 'module' }));
    sh('npm', ['install', '--no-save', join(tarballs, tgz!)], app);
    return sh('npm', ['ls', '--all', '--parseable'], app)
      .split('\n')
      .filter(Boolean)
      .map((p) => p.split('node_modules/').slice(1).join('node_modules/'));
  } finally {
    rmSync(tarballs, { recursive: true, force: true });
  }
}

describe('exporters as their own packages (npm pack, installed into a fresh app)', function () {
  this.timeout(360_000);
  const { gateway } = useProcesses();
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'covgate-app-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('the Node exporter installs without the gateway\'s dependencies and covers an app started with node --import, no tsx', async () => {
    const installed = installPacked(join(ROOT, 'exporters', 'node'), work);
    expect(installed).to.include('@covgate/node-exporter');
    for (const dep of GATEWAY_ONLY) expect(installed, dep).to.not.include(dep);
    cpSync(join(ROOT, 'test', 'fixtures', 'apps', 'orders'), work, { recursive: true });
    const g = await gateway(`registration: { enabled: true, allowed_targets: [127.0.0.0/8] }\nscrape_configs: []\n`);
    const app = spawnProcess(process.execPath, ['--import', '@covgate/node-exporter/register', 'server.js'], {
      cwd: work,
      env: { ...process.env, NODE_OPTIONS: '', APP_PORT: '0', COVGATE_GATEWAY: g.url, COVGATE_JOB: 'orders', COVGATE_SERVICE: 'orders' },
    });
    try {
      const [, port] = await app.waitForLine(/listening (\d+)/, 30_000);
      await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.text());
      let files: string[] = [];
      for (let i = 0; i < 100 && !files.length; i++) {
        await g.api.post('/api/v1/scrape', {});
        files = Object.keys((await g.api.get('/api/v1/coverage?job=orders')).data);
        if (!files.length) await new Promise((r) => setTimeout(r, 50));
      }
      expect(files.map((f) => f.slice(work.length + 1)).sort()).to.deep.equal(['pricing.js', 'server.js']);
    } finally {
      await app.kill();
    }
  });

  it('the browser exporter installs without the gateway\'s dependencies and its bin runs without tsx', () => {
    const installed = installPacked(join(ROOT, 'exporters', 'browser'), work);
    expect(installed).to.include('@covgate/browser-exporter');
    expect(installed).to.include('chrome-remote-interface');
    for (const dep of GATEWAY_ONLY) expect(installed, dep).to.not.include(dep);
    const r = spawnSync(join(work, 'node_modules', '.bin', 'covgate-browser-exporter'), ['--help'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/usage: .*--cdp/);
  });
});
