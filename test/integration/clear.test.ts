import { expect } from 'chai';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { SAMPLE_APP } from '../helpers/exporter-process.ts';
import { useProcesses } from '../helpers/processes.ts';

const AUTH = { headers: { Authorization: 'Bearer s3cret' } };
const statements = (map: CoverageMapData) => Object.values(map[SAMPLE_APP]?.s ?? {});

describe('POST /api/v1/clear (real gateway and exporter processes)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();

  it('needs the token, resets the target and starts a window; sessions keep what ran before', async () => {
    const a = await exporter();
    const g = await gateway(`server:
  auth:
    bearer_token: s3cret
scrape_configs:
  - job_name: orders
    scrape_interval: 1h
    static_configs:
      - targets: [${a.address}]
`);
    await a.hit('/add?a=1&b=2');
    expect((await g.api.post('/api/v1/scrape', {}, AUTH)).status).to.equal(200);

    expect((await g.api.post('/api/v1/clear', { job: 'orders' })).status).to.equal(401);

    const r0 = await a.raw();
    const started = await g.api.post('/test-started', { selector: { job: 'orders' } }, AUTH);
    expect(started.status).to.equal(201);
    await a.hit('/classify?n=-5');
    const r1 = await a.raw(); // the counters the clear's scrape reads, right before the reset

    const cleared = await g.api.post('/api/v1/clear', { job: 'orders' }, AUTH);
    expect(cleared.status, JSON.stringify(cleared.data)).to.equal(200);
    expect(cleared.data.data.results).to.have.length(1);
    expect(cleared.data.data.results[0]).to.include({ cleared: true, error: '' });
    expect((await g.api.post('/api/v1/clear', { job: 'nosuchjob' }, AUTH)).status).to.equal(404);

    await a.hit('/classify?n=500');
    const scraped = (await g.api.post('/api/v1/scrape', {}, AUTH)).data.data.results;
    expect(scraped[0].restarted, 'a clear is not a restart').to.equal(false);
    const r2 = await a.raw(); // the exporter's own counters since the reset

    // The window: exactly what the process counted since the reset.
    const windowMap = (await g.api.get('/api/v1/coverage?job=orders')).data as CoverageMapData;
    expect(statements(windowMap)).to.deep.equal(statements(r2));

    // The session spans the clear: what ran before the reset plus what ran after.
    const finished = await g.api.post('/test-finished', { session: started.data.session }, AUTH);
    expect(finished.status).to.be.oneOf([200, 202]);
    const session = (await g.api.get(`/api/v1/coverage?session=${encodeURIComponent(started.data.session)}`)).data as CoverageMapData;
    const s0 = statements(r0);
    const s1 = statements(r1);
    const s2 = statements(r2);
    expect(statements(session)).to.deep.equal(s1.map((v, i) => v - s0[i]! + s2[i]!));
  });
});
