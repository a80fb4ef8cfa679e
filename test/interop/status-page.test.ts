import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { useProcesses } from '../helpers/processes.ts';
import { requireTools } from './formats-tools.ts';

const CHROMIUM = process.env.CHROMIUM ?? 'chromium';
/** Screenshots are kept as test artefacts (CI can upload the folder). */
const ARTIFACTS = process.env.COVGATE_ARTIFACTS ?? fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const XSS = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>';

/** Headless Chromium, as the machine's probe runs it; returns stdout. */
function chromium(profile: string, args: string[]): string {
  const r = spawnSync(
    CHROMIUM,
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', `--user-data-dir=${profile}`, '--virtual-time-budget=3000', ...args],
    { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 },
  );
  if (r.status !== 0) throw new Error(`chromium ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

describe('status page in headless Chromium', function () {
  this.timeout(120_000);
  const { exporter, gateway } = useProcesses();

  it('shows targets, the matrix and a plot with one point per history entry; injected labels never run', async function () {
    requireTools(this, [CHROMIUM], 'chromium');
    const a = await exporter();
    const g = await gateway(`scrape_configs:
  - job_name: shop
    scrape_interval: 1h
    static_configs:
      - targets: [${a.address}]
        labels: { service: shop, release: "2026.11", owner: ${JSON.stringify(XSS)} }
`);
    await g.api.post('/test-started', { session: 'at-1', labels: { test_type: 'AT', note: XSS } });
    await a.hit('/add?a=1&b=2');
    await g.api.post('/test-finished', { session: 'at-1' });
    await g.api.post('/test-started', { session: 'mt-1', labels: { test_type: 'MT' } });
    await a.hit('/classify?n=-5');
    await a.hit('/classify?n=7');
    await g.api.post('/test-finished', { session: 'mt-1' });
    const history = (await g.api.get('/api/v1/history?job=shop&service=shop')).data.data as unknown[];

    const profile = mkdtempSync(join(tmpdir(), 'covgate-status-chromium-'));
    mkdirSync(ARTIFACTS, { recursive: true });
    try {
      const home = chromium(profile, ['--dump-dom', `${g.url}/`]);
      expect(home).to.include('<title>status · covgate</title>'); // no script changed it
      expect(home).to.not.match(/<title>pwned/);
      expect(home).to.match(/<td class="up">up<\/td>/); // the target and its health
      expect(home).to.include(`127.0.0.1:${a.address.split(':')[1]}`);
      expect(home).to.match(/<table class="matrix">[\s\S]*?<th>2026\.11<\/th>/);
      expect(home).to.match(/<th class="num">AT<\/th><th class="num">MT<\/th>/);
      expect(home).to.match(new RegExp(`class="spark"[^>]*data-points="${history.length}"`));
      expect(home).to.include('at-1</a>');

      const svc = chromium(profile, ['--dump-dom', `${g.url}/status/service?job=shop&service=shop`]);
      expect((svc.match(/<circle class="point"/g) ?? []).length).to.equal(history.length);
      expect(svc).to.not.match(/<title>pwned/);

      const session = chromium(profile, ['--dump-dom', `${g.url}/status/session?id=at-1`]);
      expect(session).to.include('<title>session at-1 · covgate</title>');

      for (const [name, url] of [
        ['status-home', `${g.url}/`],
        ['status-service', `${g.url}/status/service?job=shop&service=shop`],
        ['status-session', `${g.url}/status/session?id=mt-1`],
        ['report-mt', `${g.url}/reports/?release=2026.11&test_type=MT`],
      ] as const) {
        const file = join(ARTIFACTS, `${name}.png`);
        chromium(profile, ['--window-size=1280,1400', '--hide-scrollbars', `--screenshot=${file}`, url]);
        expect(statSync(file).size, file).to.be.greaterThan(10_000);
      }
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
