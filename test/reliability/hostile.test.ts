import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { expect } from 'chai';
import { useProcesses } from '../helpers/processes.ts';

/** One request of the corpus (test/fixtures/hostile/cases.json, written by generate.ts there). */
interface HostileCase {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  json?: unknown;
  body?: string;
  base64?: string;
  status?: number;
}

const cases = JSON.parse(readFileSync(new URL('../fixtures/hostile/cases.json', import.meta.url), 'utf8')) as HostileCase[];

/** Raw HTTP, so a dropped connection is seen as such (axios would retry nothing but hides less). */
function send(base: string, c: HostileCase): Promise<{ status: number; body: string }> {
  const body = c.json !== undefined ? Buffer.from(JSON.stringify(c.json)) : c.base64 !== undefined ? Buffer.from(c.base64, 'base64') : c.body !== undefined ? Buffer.from(c.body) : undefined;
  const headers: Record<string, string> = { ...(c.json !== undefined ? { 'Content-Type': 'application/json' } : {}), ...c.headers };
  if (body) headers['Content-Length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const req = request(`${base}${c.path}`, { method: c.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** sha256 of every file under the LevelDB directory, by relative path. */
function hashTree(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) Object.assign(out, hashTree(p, `${prefix}${name}/`));
    else out[`${prefix}${name}`] = createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return out;
}

const R = (line: number) => ({ start: { line, column: 0 }, end: { line, column: 10 } });
const validFile = (path: string, hit: number) => ({
  path,
  statementMap: { 0: R(1), 1: R(2) },
  fnMap: { 0: { name: 'f', decl: R(1), loc: R(1), line: 1 } },
  branchMap: { 0: { type: 'if', loc: R(2), locations: [R(2), R(3)], line: 2 } },
  s: { 0: hit, 1: 0 },
  f: { 0: hit },
  b: { 0: [hit, 0] },
});

/** Coverage series of /metrics (process and scrape-timing series change on their own). */
const coverageSeries = (metrics: string) =>
  metrics
    .split('\n')
    .filter((l) => /^covgate_(coverage_|file_coverage_|target_up)/.test(l))
    .sort();

/**
 * Issue 8: the hostile-input corpus against the real gateway. Every request
 * must be refused with a 4xx (never a 5xx, never a dropped connection), the
 * store must stay byte-for-byte as it was, and the gateway must keep
 * serving the same coverage.
 */
describe('hostile inputs (test/fixtures/hostile): refused with a 4xx, store unchanged, gateway serving', function () {
  this.timeout(180_000);
  const { gateway } = useProcesses();
  let target: Server;

  before(async () => {
    target = createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ '/srv/app/a.js': validFile('/srv/app/a.js', 3) }));
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  });
  after(() => new Promise<void>((r) => target.close(() => r())));

  it(`refuses all ${cases.length} cases`, async () => {
    expect(cases.length).to.be.at.least(100);
    const { port } = target.address() as AddressInfo;
    const g = await gateway(`registration:
  enabled: true
  allowed_targets: [127.0.0.0/8]
scrape_configs:
  - job_name: app
    scrape_interval: 1h
    static_configs:
      - targets: ['127.0.0.1:${port}']
`);
    // Some coverage to protect: one scraped target and one pushed file.
    expect((await g.api.post('/api/v1/scrape', {})).status).to.equal(200);
    const pushed = await g.api.post('/api/v1/coverage?job=batch', { 'src/b.js': validFile('src/b.js', 1) });
    expect(pushed.status).to.equal(202);

    const reads = async () => ({
      summary: (await g.api.get('/api/v1/coverage?format=json-summary', { responseType: 'text' })),
      lcov: (await g.api.get('/api/v1/coverage?format=lcov', { responseType: 'text' })),
      status: (await g.api.get('/', { responseType: 'text' })).status,
      metrics: await g.api.get('/metrics', { responseType: 'text' }),
    });
    const before = await reads();
    expect([before.summary.status, before.lcov.status, before.status, before.metrics.status]).to.deep.equal([200, 200, 200, 200]);
    expect(before.lcov.data).to.match(/SF:.*a\.js/).and.match(/SF:.*b\.js/);
    const storeBefore = hashTree(g.dataDir);

    const failures: string[] = [];
    let refused = 0;
    for (const c of cases) {
      let r: { status: number; body: string };
      try {
        r = await send(g.url, c);
      } catch (err) {
        failures.push(`${c.name}: connection failed (${(err as Error).message})`);
        continue;
      }
      const ok = c.status !== undefined ? r.status === c.status : r.status >= 400 && r.status < 500;
      if (!ok) failures.push(`${c.name}: ${c.method} ${c.path.slice(0, 80)} answered ${r.status} ${r.body.slice(0, 200)}`);
      else refused++;
      if (r.status >= 400 && r.status < 500 && c.method !== 'HEAD') {
        // Every refusal is the contract's JSON error naming what was wrong.
        const parsed = JSON.parse(r.body) as { status: string; error: string };
        if (parsed.status !== 'error' || typeof parsed.error !== 'string' || parsed.error === '') failures.push(`${c.name}: refusal without an error message: ${r.body.slice(0, 200)}`);
      }
    }
    console.log(`      hostile inputs: ${cases.length} tried, ${refused} refused with the expected 4xx`);
    expect(failures, failures.join('\n')).to.deep.equal([]);

    const alive = g.process.proc.exitCode === null && g.process.proc.signalCode === null;
    expect(alive, 'the gateway is still running').to.equal(true);
    expect(g.process.output()).not.to.match(/BUG: un(handled|caught)/);
    expect(g.process.output()).not.to.match(/"msg":"unhandled error"/);
    expect(hashTree(g.dataDir), 'LevelDB files byte-for-byte unchanged').to.deep.equal(storeBefore);
    const after = await reads();
    expect([after.summary.status, after.lcov.status, after.status, after.metrics.status]).to.deep.equal([200, 200, 200, 200]);
    expect(after.summary.data).to.equal(before.summary.data);
    expect(after.lcov.data).to.equal(before.lcov.data);
    expect(coverageSeries(after.metrics.data)).to.deep.equal(coverageSeries(before.metrics.data));
  });

  it('answers a wrong method with 405 and Allow, an unknown route with 404', async () => {
    const g = await gateway('scrape_configs: []\n');
    const r = await g.api.get('/test-started');
    expect(r.status).to.equal(405);
    expect(r.headers.allow).to.match(/POST/);
    expect(r.data).to.include({ status: 'error', code: 'COVGATE_METHOD_NOT_ALLOWED' });
    const odd = await g.api.request({ method: 'PROPFIND', url: '/api/v1/coverage' });
    expect(odd.status).to.equal(405);
    expect(odd.headers.allow).to.match(/GET/).and.match(/POST/);
    expect((await g.api.get('/no/such/route')).status).to.equal(404);
  });

  it('saturates huge counters: 1e308 pushed twice sums to a finite number everywhere', async () => {
    const g = await gateway('scrape_configs: []\n');
    for (let i = 0; i < 2; i++) {
      const f = validFile('src/big.js', 1);
      const r = await g.api.post('/api/v1/coverage?job=big', { 'src/big.js': { ...f, s: { 0: 1e308, 1: 0 }, b: { 0: [1e308, 1e308] } } });
      expect(r.status).to.equal(202);
    }
    const istanbul = (await g.api.get('/api/v1/coverage?job=big')).data as Record<string, { s: Record<string, number>; b: Record<string, number[]> }>;
    const s0 = Object.values(istanbul)[0]!.s[0]!;
    expect(Number.isFinite(s0)).to.equal(true);
    expect(s0).to.be.at.least(Number.MAX_SAFE_INTEGER);
    const lcov = (await g.api.get('/api/v1/coverage?job=big&format=lcov', { responseType: 'text' })).data as string;
    expect(lcov).not.to.match(/Infinity|NaN|null/);
    const summary = (await g.api.get('/api/v1/coverage?job=big&format=json-summary')).data as { total: { statements: { covered: number; pct: number } } };
    expect(summary.total.statements).to.include({ covered: 1, pct: 50 });
    expect(coverageSeries((await g.api.get('/metrics', { responseType: 'text' })).data as string).join('\n')).not.to.match(/Inf|NaN/);
  });
});
