import { expect } from 'chai';
import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { coveredLines } from '../helpers/coverage.ts';
import { useProcesses } from '../helpers/processes.ts';


const job = (name: string, targets: string[]) => `
  - job_name: ${name}
    scrape_interval: 1h
    static_configs:
      - targets: [${targets.join(', ')}]`;

const upstreamCfg = (name: string, url: string, format = 'istanbul') => `
push:
  on_test_finished: true
  upstreams:
    - name: ${name}
      url: ${url}
      format: ${format}
      timeout: 5s
      min_backoff: 100ms
      max_backoff: 500ms
`;

describe('push to the upstream coverage center (real gateway, exporters and upstream)', function () {
  this.timeout(60_000);
  const { exporter, gateway, upstream } = useProcesses();

  it('delivers one push per session whose coverage is what the traffic ran', async () => {
    const center = await upstream();
    const a = await exporter();
    const g = await gateway(`scrape_configs:${job('orders', [a.address])}${upstreamCfg('center', `${center.url}/api/coverage`)}`);
    await a.hit('/add?a=1&b=1'); // before the session
    await g.api.post('/test-started', { session: 'run-1', labels: { release: '2026.11', test_type: 'AT' } });
    await a.hit('/classify?n=-4');
    const fin = await g.api.post('/test-finished', { session: 'run-1', wait: true });
    expect(fin.status).to.equal(200);
    expect(fin.data.push.status).to.equal('delivered');
    expect(center.received).to.have.length(1);
    const push = center.received[0]!;
    expect(push.method).to.equal('POST');
    expect(push.url).to.equal('/api/coverage');
    expect(push.headers['idempotency-key']).to.be.a('string').and.not.empty;
    expect(push.headers['x-covgate-session']).to.equal('run-1');
    expect(JSON.parse(String(push.headers['x-covgate-labels']))).to.deep.equal({ release: '2026.11', test_type: 'AT' });
    expect(JSON.parse(String(push.headers['x-covgate-summary'])).lines).to.be.a('number');
    const pushed = JSON.parse(push.body) as CoverageMapData;
    expect(coveredLines(pushed)).to.deep.equal([8, 9, 21, 25]);
    // Calling /test-finished again pushes nothing more.
    await g.api.post('/test-finished', { session: 'run-1', wait: true });
    expect(center.received).to.have.length(1);
    const pushes = (await g.api.get('/api/v1/pushes?session=run-1')).data.data.pushes;
    expect(pushes).to.have.length(1);
    expect(pushes[0]).to.include({ status: 'delivered', attempts: 1, upstream: 'center' });
    const metrics = (await g.api.get('/metrics')).data as string;
    expect(metrics).to.match(/covgate_pushes_total\{upstream="center",result="success"\} 1/);
    expect(metrics).to.match(/covgate_push_queue_length\{upstream="center"\} 0/);
    expect(metrics).to.match(/covgate_last_session_coverage_ratio\{service="orders",kind="lines"\} 0\.\d+/);
  });

  it('delivers a pending push exactly once after the gateway is SIGKILLed', async () => {
    const center = await upstream();
    center.answer(503); // the center is down: the push stays pending
    const a = await exporter();
    const cfg = `scrape_configs:${job('orders', [a.address])}${upstreamCfg('center', center.url)}`;
    const g = await gateway(cfg);
    await g.api.post('/test-started', { session: 'killed' });
    await a.hit('/classify?n=0');
    const fin = await g.api.post('/test-finished', { session: 'killed' });
    expect(fin.status).to.equal(202);
    while (center.received.length === 0) await new Promise((r) => setTimeout(r, 20)); // the first attempt reached the center
    const pending = (await g.api.get('/api/v1/pushes')).data.data.pushes;
    expect(pending[0]).to.include({ status: 'pending' });
    expect(pending[0].lastError).to.match(/503/);
    await g.kill('SIGKILL');

    center.answer(200);
    const delivered = center.nextDelivered();
    const g2 = await gateway(cfg, g.dataDir);
    const push = await delivered;
    const keys = new Set(center.received.map((r) => r.headers['idempotency-key']));
    expect(keys.size).to.equal(1); // every attempt, before and after the restart, carried one key
    expect(center.received.filter((r) => r.status === 200)).to.have.length(1);
    expect(coveredLines(JSON.parse(push.body))).to.include.members([10, 11]);
    // the center answered; the gateway records the delivery right after
    let after = (await g2.api.get('/api/v1/pushes')).data.data.pushes;
    for (let i = 0; i < 100 && after[0].status !== 'delivered'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      after = (await g2.api.get('/api/v1/pushes')).data.data.pushes;
    }
    expect(after[0]).to.include({ status: 'delivered' });
    expect((await g2.api.get('/api/v1/sessions/killed')).data.data.push.status).to.equal('delivered');
  });

  it('chains gateways: shards push with format covgate, the central gateway holds the union', async () => {
    const central = await gateway('scrape_configs: []');
    const a = await exporter();
    const b = await exporter();
    const shardA = await gateway(`scrape_configs:${job('orders', [a.address])}${upstreamCfg('central', `${central.url}/api/v1/coverage?job=orders`, 'covgate')}`);
    const shardB = await gateway(`scrape_configs:${job('orders', [b.address])}${upstreamCfg('central', `${central.url}/api/v1/coverage?job=orders`, 'covgate')}`);
    for (const [shard, exp, path, session] of [
      [shardA, a, '/classify?n=-1', 'sa'],
      [shardB, b, '/add?a=2&b=2', 'sb'],
    ] as const) {
      await shard.api.post('/test-started', { session, labels: { release: '2026.11' } });
      await exp.hit(path);
      const fin = await shard.api.post('/test-finished', { session, wait: true });
      expect(fin.data.push.status, session).to.equal('delivered');
    }
    const union = (await central.api.get('/api/v1/coverage?job=orders')).data as CoverageMapData;
    const sa = (await shardA.api.get('/api/v1/coverage?session=sa')).data as CoverageMapData;
    const sb = (await shardB.api.get('/api/v1/coverage?session=sb')).data as CoverageMapData;
    const expected = libCoverage.createCoverageMap(structuredClone(sa));
    expected.merge(structuredClone(sb));
    expect(union).to.deep.equal(JSON.parse(JSON.stringify(expected.toJSON())));
    expect(coveredLines(union)).to.include.members([4, 9, 23, 25]);
    // The central gateway can select by what the shards labelled.
    expect(coveredLines((await central.api.get('/api/v1/coverage?release=2026.11')).data)).to.deep.equal(coveredLines(union));
  });
});
