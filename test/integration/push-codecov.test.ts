import { expect } from 'chai';
import { dirname } from 'node:path';
import { SAMPLE_APP } from '../helpers/exporter-process.ts';
import { useProcesses } from '../helpers/processes.ts';
import { startCodecov } from '../fakes/codecov-server.ts';
import { until } from '../fakes/center-http.ts';
import { lcovLines } from '../helpers/lcov-lines.ts';

const SHA = 'a3c1f0e5b2d4968712345678901234567890abcd';
const job = (targets: string[]) => `
  - job_name: orders
    scrape_interval: 1h
    static_configs:
      - targets: [${targets.join(', ')}]`;
const codecovCfg = (url: string) => `
push:
  upstreams:
    - name: codecov
      kind: codecov
      url: ${url}
      token: cc-secret-token
      slug: acme/platform/orders
      flag_labels: [test_type]
      strip_prefix: ${dirname(SAMPLE_APP)}/
      timeout: 5s
      min_backoff: 100ms
      max_backoff: 500ms
`;

describe('push kind codecov (real gateway, real outbox, fake Codecov from codecov-cli)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();
  const centers: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const c of centers.splice(0)) await c.close();
  });
  async function codecov() {
    const c = await startCodecov({ token: 'cc-secret-token', slug: 'acme/platform/orders' });
    centers.push(c);
    return c;
  }

  it('creates commit, report and one upload with the session flags, and PUTs the session coverage line by line', async () => {
    const cc = await codecov();
    const a = await exporter();
    const g = await gateway(`scrape_configs:${job([a.address])}${codecovCfg(cc.url)}`);
    await g.api.post('/test-started', { session: 'at-1', labels: { test_type: 'AT', commit: SHA, branch: 'main', release: '2026.11' } });
    await a.hit('/classify?n=-4');
    const fin = await g.api.post('/test-finished', { session: 'at-1', wait: true });
    expect(fin.status).to.equal(200);
    expect(fin.data.push.status).to.equal('delivered');
    expect([...cc.commits.keys()]).to.deep.equal([SHA]);
    expect(cc.uploads).to.have.length(1);
    const up = cc.uploads[0]!;
    expect(up).to.include({ commit: SHA, code: 'default', name: 'at-1', puts: 1 });
    expect(up.flags).to.deep.equal(['AT']);
    // The uploaded file is the session's coverage as the gateway reports it (its lcov: DA and BRDA).
    const lcov = (await g.api.get('/api/v1/coverage?session=at-1&format=lcov')).data as string;
    const expected = lcovLines(lcov)[SAMPLE_APP]!;
    const uploaded = up.coverage!['app.cjs']!;
    expect(Object.keys(up.coverage!)).to.deep.equal(['app.cjs']);
    const want: Record<string, number | string> = {};
    for (const [line, l] of Object.entries(expected)) want[line] = l.branches ? `${l.branches.covered}/${l.branches.total}` : l.hits!;
    expect(uploaded).to.deep.equal(want);
    const push = (await g.api.get('/api/v1/pushes?session=at-1')).data.data.pushes[0];
    expect(push).to.include({ kind: 'codecov', format: 'codecov-json', status: 'delivered', lastStatus: 200 });
    expect(push.answer).to.deep.include({ url: `${cc.url}/github/acme/platform/orders/commit/${SHA}`, commit: SHA, flags: 'AT', upload: up.id });
    // every API call carried the token and the encoded slug; the storage PUT did not carry the token
    for (const r of cc.log) {
      if (r.method === 'POST') expect(r.url.pathname).to.match(/^\/upload\/github\/acme:::platform::::orders\/commits/);
      expect(r.headers.authorization).to.equal(r.method === 'POST' ? 'token cc-secret-token' : undefined);
    }
  });

  it('refuses at /test-finished a session without a commit, naming what is missing, and queues nothing', async () => {
    const cc = await codecov();
    const a = await exporter();
    const g = await gateway(`scrape_configs:${job([a.address])}${codecovCfg(cc.url)}`);
    await g.api.post('/test-started', { session: 'no-commit', labels: { test_type: 'AT' } });
    const fin = await g.api.post('/test-finished', { session: 'no-commit', wait: true });
    expect(fin.status).to.equal(400);
    expect(fin.data.errorType).to.equal('bad_data');
    expect(fin.data.error).to.include('upstream "codecov" (kind codecov) needs the commit: set the session label "commit"');
    expect((await g.api.get('/api/v1/pushes')).data.data.pushes).to.deep.equal([]);
    const bad = await g.api.post('/test-finished', { session: 'bad-flag', labels: { test_type: 'A T', commit: SHA } });
    expect(bad.status).to.equal(400);
    expect(bad.data.error).to.include('label test_type="A T" is not a valid Codecov flag');
    expect(cc.log).to.have.length(0);
  });

  it('ends a push refused by Codecov (401) as failed with the reason, without retrying', async () => {
    const cc = await codecov();
    const a = await exporter();
    const g = await gateway(`scrape_configs:${job([a.address])}${codecovCfg(cc.url).replace('token: cc-secret-token', 'token: wrong-token')}`);
    const fin = await g.api.post('/test-finished', { session: 'denied', labels: { commit: SHA }, wait: true });
    expect(fin.data.push.status).to.equal('failed');
    const push = (await g.api.get('/api/v1/pushes')).data.data.pushes[0];
    expect(push).to.include({ status: 'failed', attempts: 1, lastStatus: 401 });
    expect(push.lastError).to.equal('create commit: upstream answered HTTP 401 Unauthorized: {"detail":"Not valid tokenless upload"}');
    expect(cc.log).to.have.length(1);
  });

  it('retries 429 and a failed storage PUT on the same upload: one upload, one file', async () => {
    const cc = await codecov();
    const a = await exporter();
    const g = await gateway(`scrape_configs:${job([a.address])}${codecovCfg(cc.url)}`);
    cc.rateLimit(2);
    cc.failPuts(1);
    const fin = await g.api.post('/test-finished', { session: 'bumpy', labels: { commit: SHA, test_type: 'UT' }, wait: true });
    expect(fin.data.push.status).to.equal('delivered');
    expect(cc.log.filter((r) => r.status === 429)).to.have.length(2);
    expect(cc.log.filter((r) => r.method === 'PUT').map((r) => r.status)).to.deep.equal([503, 200]);
    expect(cc.uploads).to.have.length(1);
    expect(cc.uploads[0]!.puts).to.equal(1);
    const push = (await g.api.get('/api/v1/pushes')).data.data.pushes[0];
    expect(push.attempts).to.equal(4);
  });

  it('delivers exactly once per session across a Codecov outage and a gateway SIGKILL', async () => {
    const cc = await codecov();
    const a = await exporter();
    const cfg = `scrape_configs:${job([a.address])}${codecovCfg(cc.url)}`;
    const g = await gateway(cfg);
    cc.down(503);
    for (const [session, path, type] of [['s1', '/classify?n=0', 'AT'], ['s2', '/add?a=1&b=2', 'UT']] as const) {
      await g.api.post('/test-started', { session, labels: { commit: SHA, test_type: type } });
      await a.hit(path);
      expect((await g.api.post('/test-finished', { session })).status).to.equal(202);
    }
    await until(() => cc.log.length > 0, 'a first attempt to reach the center');
    const lcov1 = (await g.api.get('/api/v1/coverage?session=s1&format=lcov')).data as string;
    const lcov2 = (await g.api.get('/api/v1/coverage?session=s2&format=lcov')).data as string;
    await g.kill('SIGKILL');
    cc.down(undefined);
    const g2 = await gateway(cfg, g.dataDir);
    await until(async () => (await g2.api.get('/api/v1/pushes?status=delivered')).data.data.pushes.length === 2, 'both pushes delivered after restart');
    expect(cc.uploads.map((u) => [u.name, u.flags, u.puts])).to.deep.equal([
      ['s1', ['AT'], 1],
      ['s2', ['UT'], 1],
    ]);
    for (const [i, lcov] of [lcov1, lcov2].entries()) {
      const expected = lcovLines(lcov)[SAMPLE_APP]!;
      const hits = Object.fromEntries(Object.entries(expected).map(([l, v]) => [l, v.branches ? `${v.branches.covered}/${v.branches.total}` : v.hits]));
      expect(cc.uploads[i]!.coverage!['app.cjs']).to.deep.equal(hits);
    }
  });

  it('continues the same upload after a SIGKILL between "create upload" and the storage PUT (checkpointed progress)', async () => {
    const cc = await codecov();
    const a = await exporter();
    const cfg = `scrape_configs:${job([a.address])}${codecovCfg(cc.url)}`;
    const g = await gateway(cfg);
    cc.failPuts(1_000); // storage is down: the upload exists, its file never arrives
    await g.api.post('/test-started', { session: 'mid', labels: { commit: SHA, test_type: 'AT' } });
    await a.hit('/classify?n=3');
    expect((await g.api.post('/test-finished', { session: 'mid' })).status).to.equal(202);
    await until(() => cc.log.some((r) => r.method === 'PUT'), 'a storage PUT');
    await g.kill('SIGKILL');
    cc.failPuts(0);
    const g2 = await gateway(cfg, g.dataDir);
    await until(async () => (await g2.api.get('/api/v1/pushes?status=delivered')).data.data.pushes.length === 1, 'the push delivered');
    expect(cc.uploads).to.have.length(1); // no second upload was created after the restart
    expect(cc.uploads[0]!.puts).to.equal(1);
    const puts = cc.log.filter((r) => r.method === 'PUT');
    expect(new Set(puts.map((r) => r.url.pathname)).size).to.equal(1);
  });

  it('takes commit and branch from the exporters\' envelope build fields when the session labels have none', async () => {
    const cc = await codecov();
    const a = await exporter({ envelope: true, commit: SHA, branch: 'release/2026.11' });
    const g = await gateway(`scrape_configs:${job([a.address])}${codecovCfg(cc.url)}`);
    await g.api.post('/test-started', { session: 'env', labels: { test_type: 'MT' } });
    await a.hit('/classify?n=1');
    const fin = await g.api.post('/test-finished', { session: 'env', wait: true });
    expect(fin.data.push.status).to.equal('delivered');
    expect([...cc.commits.entries()]).to.deep.equal([[SHA, { branch: 'release/2026.11' }]]);
    expect(cc.uploads.map((u) => [u.commit, u.flags])).to.deep.equal([[SHA, ['MT']]]);
  });
});
