import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { createInstrumenter } from 'istanbul-lib-instrument';
import { FIXTURES, http, lineHits, markLine, scrape, startApp, type Envelope, type RunningApp } from './helpers.ts';

const ORDERS = join(FIXTURES, 'orders');
const SERVER = join(ORDERS, 'server.js');
const PRICING = join(ORDERS, 'pricing.js');

async function driveOrders(app: RunningApp): Promise<void> {
  expect((await http('GET', `${app.appUrl}/health`)).status).to.equal(200);
  const created = await http('POST', `${app.appUrl}/orders`, { 'Content-Type': 'application/json' },
    JSON.stringify({ item: 'apple', qty: 2 }));
  expect(created.status).to.equal(201);
  expect((await http('GET', `${app.appUrl}/orders/1`)).status).to.equal(200);
}

/** Asserts the orders app's covered and uncovered lines, given the paths its files are reported under. */
function expectOrdersCoverage(env: Envelope, server: string, pricing: string): void {
  const data = env.data!;
  expect(data, 'files reported').to.have.keys(server, pricing);
  const s = lineHits(data[server]!);
  const p = lineHits(data[pricing]!);
  for (const mark of ['health', 'create-check', 'create-ok', 'get-order', 'get-found']) {
    expect(s[markLine(SERVER, mark)], `${mark} covered`).to.be.greaterThan(0);
  }
  for (const mark of ['create-invalid', 'get-missing', 'never', 'not-found', 'graceful']) {
    expect(s[markLine(SERVER, mark)], `${mark} not covered`).to.equal(0);
  }
  expect(p[markLine(PRICING, 'price-regular')], 'price-regular covered').to.be.greaterThan(0);
  expect(p[markLine(PRICING, 'price-bulk')], 'price-bulk not covered').to.equal(0);
  expect(p[markLine(PRICING, 'price-unknown')], 'price-unknown not covered').to.equal(0);
}

/** Rebuilds full data from a structure (full scrape) and a counters-only reply. */
function applyHits(full: Envelope, hitsReply: Envelope): Record<string, { s: number[]; f: number[]; b: number[][] }> {
  const out: Record<string, { s: number[]; f: number[]; b: number[][] }> = {};
  for (const [path, file] of Object.entries(full.data!)) {
    const h = hitsReply.hits![path]!;
    expect(h.s).to.have.length(Object.keys(file.statementMap).length);
    expect(h.f).to.have.length(Object.keys(file.fnMap).length);
    expect(h.b).to.have.length(Object.keys(file.branchMap).length);
    out[path] = h;
  }
  return out;
}

function countersOf(env: Envelope): Record<string, { s: number[]; f: number[]; b: number[][] }> {
  const out: Record<string, { s: number[]; f: number[]; b: number[][] }> = {};
  for (const [path, file] of Object.entries(env.data!)) {
    out[path] = {
      s: Object.values(file.s as Record<string, number>),
      f: Object.values(file.f as Record<string, number>),
      b: Object.values(file.b as Record<string, number[]>),
    };
  }
  return out;
}

/** Protocol behaviour shared by both collection modes. */
function protocolSuite(getApp: () => RunningApp, paths: () => { server: string }): void {
  it('answers a known structure with counters only, which together with the structure equal the full data', async () => {
    const app = getApp();
    const first = await scrape(app.exporterUrl);
    expect(first.structure).to.be.a('string').and.not.empty;
    const countersOnly = await scrape(app.exporterUrl, { 'X-Covgate-Known-Structure': first.structure });
    expect(countersOnly).to.not.have.property('data');
    expect(countersOnly.structure).to.equal(first.structure);
    expect(countersOnly.instance).to.equal(first.instance);
    expect(countersOnly.format).to.equal('istanbul');
    const full = await scrape(app.exporterUrl);
    expect(applyHits(first, countersOnly)).to.deep.equal(countersOf(full));
  });

  it('sends the full data again when the known structure is stale', async () => {
    const reply = await scrape(getApp().exporterUrl, { 'X-Covgate-Known-Structure': 'stale' });
    expect(reply.data).to.be.an('object');
    expect(reply).to.not.have.property('hits');
  });

  it('answers 304 to If-None-Match while nothing ran, 200 once something did', async () => {
    const app = getApp();
    const r1 = await http('GET', `${app.exporterUrl}/coverage`);
    const etag = r1.headers.etag as string;
    expect(etag).to.match(/^".+"$/);
    const r2 = await http('GET', `${app.exporterUrl}/coverage`, { 'If-None-Match': etag });
    expect(r2.status).to.equal(304);
    expect(r2.body).to.have.length(0);
    await http('GET', `${app.appUrl}/health`);
    const r3 = await http('GET', `${app.exporterUrl}/coverage`, { 'If-None-Match': etag });
    expect(r3.status).to.equal(200);
    expect(r3.headers.etag).to.not.equal(etag);
  });

  it('gzips when the scraper accepts gzip', async () => {
    const res = await http('GET', `${getApp().exporterUrl}/coverage`, { 'Accept-Encoding': 'gzip' });
    expect(res.status).to.equal(200);
    expect(res.headers['content-encoding']).to.equal('gzip');
    expect(res.body.length).to.be.lessThan(Buffer.byteLength(res.text));
    expect(res.json<Envelope>().data).to.be.an('object');
  });

  it('zeroes the counters on POST /coverage/reset, keeping the files', async () => {
    const app = getApp();
    const server = paths().server;
    const reset = await http('POST', `${app.exporterUrl}/coverage/reset`);
    expect(reset.status).to.equal(204);
    const after = await scrape(app.exporterUrl);
    expect(after.data).to.have.property(server);
    for (const file of Object.values(after.data!)) {
      expect(Object.values(file.s as Record<string, number>).every((n) => n === 0), `${file.path} zeroed`).to.equal(true);
    }
    await http('GET', `${app.appUrl}/health`);
    const again = await scrape(app.exporterUrl);
    expect(lineHits(again.data![server]!)[markLine(SERVER, 'health')]).to.equal(1);
    expect(lineHits(again.data![server]!)[markLine(SERVER, 'create-ok')]).to.equal(0);
  });

  it('answers unknown paths with a JSON 404', async () => {
    const res = await http('GET', `${getApp().exporterUrl}/nope`);
    expect(res.status).to.equal(404);
    expect(res.json()).to.include({ status: 'error', errorType: 'not_found' });
  });
}

describe('node exporter: --import register, V8 precise coverage', function () {
  let app: RunningApp;
  before(async () => {
    app = await startApp(SERVER, { COVGATE_BUILD_VERSION: '9.9.9', COVGATE_BUILD_COMMIT: 'abc123' });
    await driveOrders(app);
  });
  after(async () => app?.kill());

  it('serves the covgate envelope with instance, start time and build', async () => {
    const res = await http('GET', `${app.exporterUrl}/coverage`);
    expect(res.headers['content-type']).to.equal('application/vnd.covgate.v1+json');
    const env = res.json<Envelope>();
    expect(env).to.include({ format: 'istanbul', counters: 'cumulative' });
    expect(env.instance).to.match(/^[0-9a-f-]{36}$/);
    expect(res.headers['x-coverage-instance']).to.equal(env.instance);
    expect(Date.parse(env.startTime)).to.be.closeTo(Date.now(), 60_000);
    expect(env.build).to.deep.equal({ version: '9.9.9', commit: 'abc123' });
  });

  it('reports the lines the traffic ran as covered and the others as not, app files only', async () => {
    expectOrdersCoverage(await scrape(app.exporterUrl), SERVER, PRICING);
  });

  it('serves running totals although V8 resets its counters on every take', async () => {
    const line = markLine(SERVER, 'health');
    const before = lineHits((await scrape(app.exporterUrl)).data![SERVER]!)[line]!;
    await http('GET', `${app.appUrl}/health`);
    await http('GET', `${app.appUrl}/health`);
    const after = lineHits((await scrape(app.exporterUrl)).data![SERVER]!)[line]!;
    expect(after).to.equal(before + 2);
  });

  protocolSuite(() => app, () => ({ server: SERVER }));
});

describe('node exporter: app pre-instrumented with istanbul-lib-instrument (__coverage__)', function () {
  let app: RunningApp;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'covgate-instrumented-'));
    const instrumenter = createInstrumenter({ esModules: true, compact: false });
    for (const [src, name] of [[SERVER, 'server.js'], [PRICING, 'pricing.js']] as const) {
      writeFileSync(join(dir, name), instrumenter.instrumentSync(readFileSync(src, 'utf8'), join(dir, name)));
    }
    app = await startApp(join(dir, 'server.js'));
    await driveOrders(app);
  });
  after(async () => {
    await app?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves __coverage__ itself, with the lines the traffic ran covered', async () => {
    const env = await scrape(app.exporterUrl);
    expect(env).to.include({ format: 'istanbul', counters: 'cumulative' });
    expectOrdersCoverage(env, join(dir, 'server.js'), join(dir, 'pricing.js'));
    // Istanbul's own maps, not line-granular V8 conversions: statements are finer than lines.
    const file = env.data![join(dir, 'server.js')]!;
    expect(file.fnMap['0']!.name).to.equal('createOrder');
    expect(app.stderr()).to.include('globalThis.__coverage__ found');
  });

  protocolSuite(() => app, () => ({ server: join(dir, 'server.js') }));
});

describe('node exporter: TypeScript bundled with esbuild source maps', function () {
  let app: RunningApp;
  let dir: string;
  const SERVER_TS = join(FIXTURES, 'ts-shop', 'server.ts');
  const DISCOUNT_TS = join(FIXTURES, 'ts-shop', 'discount.ts');
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'covgate-ts-'));
    await build({
      entryPoints: [SERVER_TS],
      outfile: join(dir, 'dist', 'server.js'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      sourcemap: 'linked',
      logLevel: 'silent',
    });
    app = await startApp(join(dir, 'dist', 'server.js'));
    expect((await http('GET', `${app.appUrl}/quote?kind=vip&amount=50`)).json()).to.deep.equal({ total: 40, discounted: true });
    expect((await http('GET', `${app.appUrl}/quote?kind=guest`)).json()).to.deep.equal({ total: 100, discounted: false });
  });
  after(async () => {
    await app?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports coverage on the original .ts files, not on the bundle', async () => {
    const env = await scrape(app.exporterUrl);
    expect(env.data).to.have.keys(SERVER_TS, DISCOUNT_TS);
    const server = lineHits(env.data![SERVER_TS]!);
    const discount = lineHits(env.data![DISCOUNT_TS]!);
    expect(server[markLine(SERVER_TS, 'ts-discounted')]).to.be.greaterThan(0);
    expect(server[markLine(SERVER_TS, 'ts-full-price')]).to.be.greaterThan(0);
    expect(server[markLine(SERVER_TS, 'ts-never')]).to.equal(0);
    expect(discount[markLine(DISCOUNT_TS, 'ts-vip')]).to.be.greaterThan(0);
    expect(discount[markLine(DISCOUNT_TS, 'ts-guest')]).to.be.greaterThan(0);
    expect(discount[markLine(DISCOUNT_TS, 'ts-member')]).to.equal(0);
  });
});

describe('node exporter: never its own code nor its dependencies', function () {
  this.timeout(30_000);
  let app: RunningApp | undefined;
  after(async () => app?.kill());

  it('with COVGATE_INCLUDE_NODE_MODULES=1 reports the app only, not tsx, acorn, ast-v8-to-istanbul…', async () => {
    app = await startApp(SERVER, { COVGATE_INCLUDE_NODE_MODULES: '1' });
    await driveOrders(app);
    const env = await scrape(app.exporterUrl);
    expect(Object.keys(env.data!).sort()).to.deep.equal([PRICING, SERVER].sort());
  });
});
