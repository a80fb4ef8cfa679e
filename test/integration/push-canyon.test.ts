import { expect } from 'chai';
import { dirname } from 'node:path';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { SAMPLE_APP } from '../helpers/exporter-process.ts';
import { useProcesses } from '../helpers/processes.ts';
import { startCanyon } from '../fakes/canyon-server.ts';
import { until } from '../fakes/center-http.ts';

const SHA = 'fedcba9876543210fedcba9876543210fedcba98';
const cfg = (target: string, url: string) => `scrape_configs:
  - job_name: orders
    scrape_interval: 1h
    static_configs:
      - targets: [${target}]
push:
  upstreams:
    - name: canyon
      kind: canyon
      url: ${url}
      slug: acme/orders
      git_service: gitlab
      strip_prefix: ${dirname(SAMPLE_APP)}
      timeout: 5s
      min_backoff: 100ms
      max_backoff: 500ms
`;

describe('push kind canyon (real gateway and outbox, fake Canyon collect API)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();
  const fakes: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const f of fakes.splice(0)) await f.close();
  });

  it('initialises the map under the buildHash Canyon computes and reports the session counters with its scene', async () => {
    const cy = await startCanyon();
    fakes.push(cy);
    const a = await exporter();
    const g = await gateway(cfg(a.address, cy.url));
    await g.api.post('/test-started', { session: 'e2e-1', labels: { commit: SHA, test_type: 'E2E' } });
    await a.hit('/classify?n=-4');
    const fin = await g.api.post('/test-finished', { session: 'e2e-1', wait: true });
    expect(fin.data.push.status).to.equal('delivered');
    const buildHash = cy.buildHashOf({ sha: SHA, provider: 'gitlab', repoID: 'acme/orders', instrumentCwd: dirname(SAMPLE_APP), buildTarget: '' });
    expect([...cy.builds.keys()]).to.deep.equal([buildHash]);
    expect(cy.reports).to.have.length(1);
    const r = cy.reports[0]!;
    expect(r.scene).to.deep.equal({ session: 'e2e-1', test_type: 'E2E' });
    // The counters Canyon got are the session's as the gateway reports them.
    const gw = (await g.api.get('/api/v1/coverage?session=e2e-1')).data as CoverageMapData;
    const sent = r.coverage[SAMPLE_APP]!;
    expect({ s: sent.s, f: sent.f, b: sent.b }).to.deep.equal({ s: gw[SAMPLE_APP]!.s, f: gw[SAMPLE_APP]!.f, b: gw[SAMPLE_APP]!.b });
    const push = (await g.api.get('/api/v1/pushes')).data.data.pushes[0];
    expect(push.answer).to.deep.equal({ buildHash, sceneKey: r.sceneKey });
  });

  it('refuses a session without a commit at /test-finished', async () => {
    const cy = await startCanyon();
    fakes.push(cy);
    const a = await exporter();
    const g = await gateway(cfg(a.address, cy.url));
    const fin = await g.api.post('/test-finished', { session: 'x', labels: { commit: 'abc' } });
    expect(fin.status).to.equal(400);
    expect(fin.data.error).to.include('(kind canyon) needs the commit as a 40-hex SHA');
    expect(cy.log).to.have.length(0);
  });

  it('counts each session once across an outage and a gateway SIGKILL (Canyon dedupes a repeated payload)', async () => {
    const cy = await startCanyon();
    fakes.push(cy);
    const a = await exporter();
    const conf = cfg(a.address, cy.url);
    const g = await gateway(conf);
    cy.down(503);
    for (const [s, path] of [['k1', '/classify?n=0'], ['k2', '/add?a=2&b=2']] as const) {
      await g.api.post('/test-started', { session: s, labels: { commit: SHA } });
      await a.hit(path);
      await g.api.post('/test-finished', { session: s });
    }
    await until(() => cy.log.length > 0, 'a first attempt');
    await g.kill('SIGKILL');
    cy.down(undefined);
    cy.rateLimit(1);
    const g2 = await gateway(conf, g.dataDir);
    await until(async () => (await g2.api.get('/api/v1/pushes?status=delivered')).data.data.pushes.length === 2, 'both delivered');
    expect(cy.reports.map((r) => r.scene.session)).to.deep.equal(['k1', 'k2']);
  });
});
