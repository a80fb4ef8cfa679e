import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { createInstrumenter } from 'istanbul-lib-instrument';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { FIXTURES, http, lineHits, markLine, startApp, type RunningApp } from '../exporters/helpers.ts';

const SERVER = join(FIXTURES, 'orders', 'server.js');
const PRICING = join(FIXTURES, 'orders', 'pricing.js');
const CONFIG = `
registration:
  enabled: true
  allowed_targets: [127.0.0.0/8]
scrape_configs: []
`;

async function driveOrders(app: RunningApp): Promise<void> {
  expect((await http('GET', `${app.appUrl}/health`)).status).to.equal(200);
  const created = await http('POST', `${app.appUrl}/orders`, { 'Content-Type': 'application/json' }, JSON.stringify({ item: 'apple', qty: 2 }));
  expect(created.status).to.equal(201);
  expect((await http('GET', `${app.appUrl}/orders/1`)).status).to.equal(200);
}

function expectOrders(map: CoverageMapData, server: string, pricing: string): void {
  expect(map, 'files reported').to.include.keys(server, pricing);
  const s = lineHits(map[server]!);
  const p = lineHits(map[pricing]!);
  for (const mark of ['health', 'create-check', 'create-ok', 'get-order', 'get-found']) expect(s[markLine(SERVER, mark)], `${mark} covered`).to.be.greaterThan(0);
  for (const mark of ['create-invalid', 'get-missing', 'never', 'not-found']) expect(s[markLine(SERVER, mark)], `${mark} not covered`).to.equal(0);
  expect(p[markLine(PRICING, 'price-regular')]).to.be.greaterThan(0);
  expect(p[markLine(PRICING, 'price-bulk')]).to.equal(0);
}

/** Re-checks a condition until it holds (bounded), for state that follows an event asynchronously. */
async function until(cond: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('self-registration end to end (real gateway, real Node services with the exporter preloaded)', function () {
  this.timeout(60_000);
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  });
  async function gateway(dataDir?: string): Promise<GatewayProcess> {
    const g = await startGatewayProcess({ configYaml: CONFIG, dataDir });
    cleanup.push(() => g.stop());
    return g;
  }
  async function app(entry: string, g: GatewayProcess, extra: Record<string, string> = {}): Promise<RunningApp> {
    const a = await startApp(entry, { COVGATE_GATEWAY: g.url, COVGATE_SERVICE: 'orders', COVGATE_LABELS: 'release=2026.11', ...extra });
    cleanup.push(() => a.kill());
    await a.waitStderr(/registered at .* as \w+/);
    return a;
  }
  const coverage = async (g: GatewayProcess, q = 'service=orders') => (await g.api.get(`/api/v1/coverage?${q}`)).data as CoverageMapData;

  it('finds a plain (V8) service by registration alone and measures exactly what the traffic ran', async () => {
    const g = await gateway();
    const a = await app(SERVER, g);
    const targets = (await g.api.get('/api/v1/targets')).data.data.activeTargets;
    expect(targets).to.have.length(1);
    expect(targets[0]).to.deep.include({ source: 'registered', scrapeUrl: `${a.exporterUrl}/coverage` });
    expect(targets[0].labels).to.include({ service: 'orders', release: '2026.11' });
    await driveOrders(a);
    const [r] = (await g.api.post('/api/v1/scrape')).data.data.results;
    expect(r).to.include({ health: 'up', result: 'success' });
    expectOrders(await coverage(g), SERVER, PRICING);
  });

  it('serves an Istanbul-instrumented build through the same path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'covgate-e2e-instr-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const instrumenter = createInstrumenter({ esModules: true, compact: false });
    for (const [src, name] of [[SERVER, 'server.js'], [PRICING, 'pricing.js']] as const) {
      writeFileSync(join(dir, name), instrumenter.instrumentSync(readFileSync(src, 'utf8'), join(dir, name)));
    }
    const g = await gateway();
    const a = await app(join(dir, 'server.js'), g);
    await driveOrders(a);
    await g.api.post('/api/v1/scrape');
    const map = await coverage(g);
    expectOrders(map, join(dir, 'server.js'), join(dir, 'pricing.js'));
    expect(map[join(dir, 'server.js')]!.fnMap['0']!.name).to.equal('createOrder'); // Istanbul's own maps
  });

  it('reports a TypeScript service on its .ts sources', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'covgate-e2e-ts-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const SERVER_TS = join(FIXTURES, 'ts-shop', 'server.ts');
    const DISCOUNT_TS = join(FIXTURES, 'ts-shop', 'discount.ts');
    await build({ entryPoints: [SERVER_TS], outfile: join(dir, 'dist', 'server.js'), bundle: true, platform: 'node', format: 'esm', sourcemap: 'linked', logLevel: 'silent' });
    const g = await gateway();
    const a = await app(join(dir, 'dist', 'server.js'), g);
    await http('GET', `${a.appUrl}/quote?kind=vip&amount=50`);
    await g.api.post('/api/v1/scrape');
    const map = await coverage(g);
    expect(map).to.have.keys(SERVER_TS, DISCOUNT_TS);
    expect(lineHits(map[DISCOUNT_TS]!)[markLine(DISCOUNT_TS, 'ts-vip')]).to.be.greaterThan(0);
    expect(lineHits(map[DISCOUNT_TS]!)[markLine(DISCOUNT_TS, 'ts-member')]).to.equal(0);
    expect(lineHits(map[SERVER_TS]!)[markLine(SERVER_TS, 'ts-never')]).to.equal(0);
  });

  it('on SIGTERM the service deregisters after a final scrape: nothing it ran is lost', async () => {
    const g = await gateway();
    const a = await app(SERVER, g);
    await driveOrders(a); // never scraped by a loop: only the final scrape can see this
    a.child.kill('SIGTERM');
    await new Promise((r) => a.child.once('exit', r));
    // The lease is gone once DELETE answered; the scrape pool follows on the next discovery notification.
    await until(async () => (await g.api.get('/api/v1/targets')).data.data.activeTargets.length === 0);
    expectOrders(await coverage(g), SERVER, PRICING);
  });

  it('keeps registrations across a gateway SIGKILL and restart', async () => {
    const g = await gateway();
    const reg = await g.api.post('/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:1', labels: { service: 'orders' }, ttl: '1h' });
    expect(reg.status).to.equal(201);
    expect(reg.data.id).to.be.a('string');
    const renewed = await g.api.post('/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:1', labels: { service: 'orders' }, ttl: '1h' });
    expect(renewed.status).to.equal(200);
    expect(renewed.data.id).to.equal(reg.data.id);
    await g.kill('SIGKILL');
    const g2 = await gateway(g.dataDir);
    const targets = (await g2.api.get('/api/v1/targets')).data.data.activeTargets;
    expect(targets.map((t: { scrapeUrl: string; source: string }) => [t.scrapeUrl, t.source])).to.deep.equal([['http://127.0.0.1:1/coverage', 'registered']]);
    expect((await g2.api.delete(`/api/v1/targets/${reg.data.id}`)).status).to.equal(200);
    await until(async () => (await g2.api.get('/api/v1/targets')).data.data.activeTargets.length === 0);
  });

  it('refuses registrations outside registration.allowed_targets with 403', async () => {
    const g = await gateway();
    for (const url of ['http://169.254.169.254/', 'http://10.1.2.3:8080', 'http://user@127.0.0.1:80']) {
      const r = await g.api.post('/api/v1/targets', { job: 'x', url });
      expect(r.status, url).to.equal(403);
      expect(r.data, url).to.include({ status: 'error', errorType: 'forbidden' });
    }
    const meta = await g.api.post('/api/v1/targets', { job: 'x', url: 'http://169.254.169.254/' });
    expect(meta.data.error).to.match(/169\.254\.169\.254 is not in registration\.allowed_targets/);
    const goc = await g.api.post('/v1/cover/register?name=legacy&address=http://10.0.0.1:7777');
    expect(goc.status).to.equal(403);
    expect((await g.api.get('/api/v1/targets')).data.data.activeTargets).to.have.length(0);
  });
});
