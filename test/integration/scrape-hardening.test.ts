import { createServer, type Server } from 'node:http';
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
});
