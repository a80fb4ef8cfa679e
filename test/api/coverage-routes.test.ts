import { expect } from 'chai';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiApp } from '../../gateway/api/app.ts';
import { coverageRoutes } from '../../gateway/api/routes/coverage.ts';
import { parseConfig } from '../../gateway/config/index.ts';
import { createIngester } from '../../gateway/ingest/index.ts';
import { pushIngestRoutes } from '../../gateway/ingest/routes.ts';
import { silentLogger } from '../../gateway/log/index.ts';
import { createCoverageQuery } from '../../gateway/merge/index.ts';
import { FakeClock } from '../fakes/clock.ts';
import { createFakeStore, type FakeStore } from '../fakes/store.ts';
import { fileCoverage } from '../fakes/coverage-data.ts';

/** The coverage and push-ingest routes in a koa app over the fake store (reader for queries, ingester for pushes). */
describe('api: coverage and push ingest routes over the fake store', () => {
  let store: FakeStore;
  let server: Server;
  let base: string;

  beforeEach(async () => {
    store = createFakeStore();
    const clock = new FakeClock();
    const config = parseConfig('global:\n  scrape_interval: 15s\n');
    const app = createApiApp({ logger: silentLogger, version: 'test', config: () => config, isReady: () => true }, [
      coverageRoutes({ query: createCoverageQuery(store) }),
      pushIngestRoutes({ ingester: createIngester({ store, clock }), bodyLimit: () => 1024 * 1024 }),
    ]);
    server = createServer(app.callback()).listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const push = (query: string, body: unknown) =>
    fetch(`${base}/api/v1/coverage?${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('POST /api/v1/coverage hands the body to the ingester as a push and answers 202', async () => {
    const res = await push('job=batch&test_type=AT', { '/srv/a.js': fileCoverage('/srv/a.js', [1, 0, 2]) });
    expect(res.status).to.equal(202);
    const body = (await res.json()) as { data: { target: string; labels: Record<string, string>; files: number } };
    expect(body.data.labels).to.deep.equal({ job: 'batch', test_type: 'AT', service: 'batch', instance: 'push' });
    expect(body.data.files).to.equal(1);
    expect(store.appends).to.have.length(1);
    expect(store.appends[0]!.input.target).to.include({ id: body.data.target, job: 'batch', source: 'push' });
  });

  it('GET /api/v1/coverage answers from the reader: the selection merged, as json-summary', async () => {
    await push('job=batch', { '/srv/a.js': fileCoverage('/srv/a.js', [1, 0, 2]) });
    await push('job=other', { '/srv/b.js': fileCoverage('/srv/b.js', [0]) });
    const res = await fetch(`${base}/api/v1/coverage?job=batch&format=json-summary`);
    expect(res.status).to.equal(200);
    const summary = (await res.json()) as Record<string, { statements: { covered: number; total: number } }>;
    expect(summary.total!.statements).to.include({ covered: 2, total: 3 });
    expect(Object.keys(summary).sort()).to.deep.equal(['/srv/a.js', 'total']);
  });

  it('refuses a bad label name with 400 naming it, and writes nothing', async () => {
    const res = await push('job=batch&bad-label=x', { '/srv/a.js': fileCoverage('/srv/a.js', [1]) });
    expect(res.status).to.equal(400);
    const body = (await res.json()) as { errorType: string; error: string; code: string };
    expect(body).to.include({ errorType: 'bad_data', code: 'COVGATE_BAD_DATA' });
    expect(body.error).to.contain('"bad-label"');
    expect(store.writes).to.deep.equal([]);
  });

  it('answers a refused write with 503 COVGATE_UNAVAILABLE, acknowledging nothing', async () => {
    store.failWrites('ENOSPC');
    const res = await push('job=batch', { '/srv/a.js': fileCoverage('/srv/a.js', [1]) });
    expect(res.status).to.equal(503);
    expect(((await res.json()) as { code: string }).code).to.equal('COVGATE_UNAVAILABLE');
    expect(store.targets()).to.deep.equal([]);
  });

  it('answers a wrong method on a known path with 405, Allow and the catalogue code', async () => {
    const res = await fetch(`${base}/api/v1/coverage`, { method: 'DELETE' });
    expect(res.status).to.equal(405);
    expect(res.headers.get('allow')).to.contain('GET');
    expect(((await res.json()) as { code: string }).code).to.equal('COVGATE_METHOD_NOT_ALLOWED');
  });
});
