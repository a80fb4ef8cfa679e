import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { useProcesses } from '../helpers/processes.ts';

/** A loopback target that serves one fixed body at /coverage. */
async function fixedTarget(body: string): Promise<{ address: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { address: `127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/** Alive, and not only thanks to the last-resort handler: nothing reached it. */
const alive = (g: { process: { output(): string; proc: { exitCode: number | null; signalCode: string | null } } }) =>
  g.process.proc.exitCode === null && g.process.proc.signalCode === null && !/BUG: un(handled|caught)/.test(g.process.output());

/** Requests that used to terminate the gateway (issue 8, item 1): each is refused with a 4xx and the process keeps serving. */
describe('inputs that used to crash the gateway (issue 8 item 1)', function () {
  this.timeout(60_000);
  const { gateway, upstream } = useProcesses();
  const settle = () => new Promise((r) => setTimeout(r, 300)); // an unhandled rejection would exit within the same tick

  it('POST /test-finished with an invalid label name answers 400 and the gateway lives on', async () => {
    const g = await gateway('scrape_configs: []\n');
    const r = await g.api.post('/test-finished', { labels: { 'bad-name': 'x' } });
    expect(r.status).to.equal(400);
    expect(r.data.error).to.match(/bad-name/);
    await settle();
    expect(alive(g)).to.equal(true);
    expect((await g.api.get('/-/healthy')).status).to.equal(200);
  });

  it('a deeply nested selector answers 400 on /test-started and /test-finished', async () => {
    const g = await gateway('scrape_configs: []\n');
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    for (const path of ['/test-started', '/test-finished']) {
      const r = await g.api.post(path, `{"session":"deep","selector":{"job":${deep}}}`, { headers: { 'Content-Type': 'application/json' } });
      expect(r.status, path).to.equal(400);
      expect(r.data.error).to.match(/nests deeper than/);
      // Nested within the depth limit: refused by the selector schema, naming the field.
      const shallow = await g.api.post(path, { session: 'nested', selector: { job: [['x']] } });
      expect(shallow.status, path).to.equal(400);
      expect(shallow.data.error).to.match(/selector\.job/);
    }
    await settle();
    expect(alive(g)).to.equal(true);
    expect((await g.api.get('/-/healthy')).status).to.equal(200);
  });

  it('a scraped file with fnMap {"0": null} is refused at the scrape and /test-finished with an lcov upstream keeps working', async () => {
    const center = await upstream();
    const file = {
      path: '/app/a.js',
      statementMap: { 0: { start: { line: 1, column: 0 }, end: { line: 1, column: 5 } } },
      fnMap: { 0: null },
      branchMap: {},
      s: { 0: 1 },
      f: { 0: 1 },
      b: {},
    };
    const t = await fixedTarget(JSON.stringify({ '/app/a.js': file }));
    try {
      const g = await gateway(`scrape_configs:
  - job_name: poison
    scrape_interval: 1h
    static_configs:
      - targets: ['${t.address}']
push:
  on_test_finished: true
  upstreams:
    - name: center
      url: ${center.url}
      format: lcov
`);
      const scrape = await g.api.post('/api/v1/scrape', {});
      expect(scrape.status).to.be.lessThan(500);
      const targets = (await g.api.get('/api/v1/targets')).data.data.activeTargets as Array<{ health: string; lastError: string }>;
      expect(targets[0]!.health).to.equal('down');
      expect(targets[0]!.lastError).to.match(/fnMap/);
      for (let i = 0; i < 2; i++) {
        const r = await g.api.post('/test-finished', { session: `s${i}` });
        expect(r.status).to.equal(202);
      }
      await settle();
      expect(alive(g)).to.equal(true);
      expect((await g.api.get('/api/v1/coverage?format=lcov')).status).to.equal(200);
    } finally {
      await t.close();
    }
  });
});
