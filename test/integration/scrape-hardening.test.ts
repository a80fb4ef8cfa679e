import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { useProcesses } from '../helpers/processes.ts';

const SECRET = 'sk-live-7f3a9c1e5b2d4f6a8c0e';

/** A hostile target on loopback: redirects, and error or garbage bodies holding a secret. */
async function hostile(redirectTo: () => string): Promise<{ address: string; hits: string[]; close: () => Promise<void> }> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url?.startsWith('/redirect')) {
      res.writeHead(302, { location: redirectTo() });
      res.end();
    } else if (req.url?.startsWith('/garbage')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${SECRET} is not coverage`);
    } else if (req.url?.startsWith('/lcov')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`TOKEN=${SECRET}\n`);
    } else {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`internal error, token ${SECRET}`);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { address: `127.0.0.1:${port}`, hits, close: () => new Promise((r) => server.close(() => r())) };
}

const job = (name: string, address: string, path: string, extra = '') => `
  - job_name: ${name}
    scrape_interval: 1h
    scrape_timeout: 5s
    coverage_path: ${path}${extra}
    static_configs:
      - targets: [${address}]`;

describe('scrape hardening: redirects and lastError (real gateway and loopback servers)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();

  it('does not follow a redirect from an allowed target, and ingests nothing from where it points', async () => {
    const real = await exporter();
    await real.hit('/add?a=1&b=2');
    // the evil target sends the gateway to a real exporter, and to itself
    let n = 0;
    const evil = await hostile(() => (n++ === 0 ? `http://${real.address}/coverage` : '/redirect-again'));
    try {
      const g = await gateway(`scrape_configs:${job('redirected', evil.address, '/redirect')}`);
      const res = await g.api.post('/api/v1/scrape', {});
      const [r] = res.data.data.results;
      expect(r).to.include({ health: 'down' });
      expect(r.error).to.match(/redirect not followed \(HTTP 302\)/);
      const cov = (await g.api.get('/api/v1/coverage')).data;
      expect(Object.keys(cov), 'nothing of the redirect target was ingested').to.deep.equal([]);
      await g.api.post('/api/v1/scrape', {});
      expect(evil.hits, 'one request per scrape, no hop').to.deep.equal(['/redirect', '/redirect']);
    } finally {
      await evil.close();
    }
  });

  it('never echoes a response body in lastError: status, content-type and size only', async () => {
    const evil = await hostile(() => 'http://127.0.0.1:9/');
    try {
      const g = await gateway(
        `scrape_configs:${job('err500', evil.address, '/fail')}${job('garbage', evil.address, '/garbage')}${job('lcov', evil.address, '/lcov', '\n    format: lcov')}`,
      );
      const results = (await g.api.post('/api/v1/scrape', {})).data.data.results as Array<{ job: string; error: string; health: string }>;
      expect(results).to.have.length(3);
      const targets = (await g.api.get('/api/v1/targets')).data.data.activeTargets as Array<{ scrapePool: string; lastError: string }>;
      for (const t of targets) {
        expect(t.lastError, t.scrapePool).to.not.equal('');
        expect(t.lastError, t.scrapePool).to.not.include(SECRET);
        expect(t.lastError, t.scrapePool).to.not.match(/sk-live|TOKEN=|7f3a9c/);
      }
      for (const r of results) expect(r.error).to.not.include(SECRET);
      const byJob = Object.fromEntries(targets.map((t) => [t.scrapePool, t.lastError]));
      expect(byJob.err500).to.match(/HTTP status 500 \(text\/plain, \d+ bytes\)/);
      expect(byJob.garbage).to.match(/JSON/i);
      expect(byJob.garbage).to.match(/application\/json, \d+ bytes/);
      expect(JSON.stringify((await g.api.get('/metrics')).data)).to.not.include(SECRET);
    } finally {
      await evil.close();
    }
  });

  it('scrapes every registered target on one address: one lease per scrape URL, path included', async () => {
    const loc = (l: number) => ({ start: { line: l, column: 0 }, end: { line: l, column: 9 } });
    const payload = (name: string) => ({
      [`/srv/${name}.js`]: { path: `/srv/${name}.js`, statementMap: { 0: loc(1) }, fnMap: {}, branchMap: {}, s: { 0: 1 }, f: {}, b: {} },
    });
    const server = createServer((req, res) => {
      const m = /^\/(a|b|c)\/coverage$/.exec(req.url ?? '');
      if (!m) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload(m[1]!)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const g = await gateway(`registration:\n  enabled: true\n  allowed_targets: [127.0.0.0/8]\nscrape_configs: []\n`);
      const ids = new Set<string>();
      for (const p of ['a', 'b', 'c']) {
        const r = await g.api.post('/api/v1/targets', { job: 'multi', url: `http://127.0.0.1:${port}/${p}/coverage`, ttl: '1h' });
        expect(r.status, JSON.stringify(r.data)).to.equal(201);
        ids.add(r.data.data.id);
      }
      expect(ids.size).to.equal(3);
      const again = await g.api.post('/api/v1/targets', { job: 'multi', url: `http://127.0.0.1:${port}/a/coverage`, ttl: '1h' });
      expect(ids.has(again.data.data.id), 'the same URL renews its lease').to.equal(true);
      let results: Array<{ health: string; scrapeUrl?: string }> = [];
      for (let i = 0; i < 100; i++) {
        results = (await g.api.post('/api/v1/scrape', {})).data.data.results;
        if (results.length === 3) break;
        await new Promise((r) => setTimeout(r, 20)); // the registry publishes to the scrape pool asynchronously
      }
      expect(results.map((r) => r.health)).to.deep.equal(['up', 'up', 'up']);
      const cov = (await g.api.get('/api/v1/coverage?job=multi')).data;
      expect(Object.keys(cov).sort()).to.deep.equal(['/srv/a.js', '/srv/b.js', '/srv/c.js']);
      const targets = (await g.api.get('/api/v1/targets')).data.data.activeTargets as Array<{ scrapeUrl: string }>;
      expect(targets.map((t) => new URL(t.scrapeUrl).pathname).sort()).to.deep.equal(['/a/coverage', '/b/coverage', '/c/coverage']);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('reads the V8 sources a loopback target names only under the job\'s sources: roots', async () => {
    const work = mkdtempSync(join(tmpdir(), 'covgate-v8-sources-'));
    const root = join(work, 'app');
    mkdirSync(root);
    const inside = join(root, 'inside.js');
    const outside = join(work, 'secret.js');
    writeFileSync(inside, 'function f() { return 1; }\nf();\n');
    writeFileSync(outside, 'const token = "sk";\nmodule.exports = token;\n');
    const linked = join(root, 'linked.js');
    symlinkSync(outside, linked);
    const script = (id: string, file: string, len: number) => ({
      scriptId: id,
      url: pathToFileURL(file).href,
      functions: [{ functionName: '', isBlockCoverage: true, ranges: [{ startOffset: 0, endOffset: len, count: 1 }] }],
    });
    const body = JSON.stringify({
      result: [script('1', inside, 30), script('2', outside, 40), script('3', linked, 40), script('4', `${root}/../secret.js`, 40)],
    });
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const g = await gateway(`scrape_configs:${job('v8raw', `127.0.0.1:${port}`, '/coverage', `\n    format: v8\n    sources: [${JSON.stringify(root)}]`)}`);
      const [r] = (await g.api.post('/api/v1/scrape', {})).data.data.results;
      expect(r.health, JSON.stringify(r)).to.equal('up');
      const cov = (await g.api.get('/api/v1/coverage?job=v8raw')).data;
      expect(Object.keys(cov)).to.deep.equal([inside]);
    } finally {
      await new Promise((r) => server.close(r));
      rmSync(work, { recursive: true, force: true });
    }
  });
});
