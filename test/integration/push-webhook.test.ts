import { expect } from 'chai';
import { gunzipSync } from 'node:zlib';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { signBody } from '../../gateway/push/index.ts';
import { coveredLines } from '../helpers/coverage.ts';
import { useProcesses } from '../helpers/processes.ts';
import { startWebhook } from '../fakes/webhook-server.ts';

const cfg = (target: string, url: string, secret: string) => `scrape_configs:
  - job_name: orders
    scrape_interval: 1h
    static_configs:
      - targets: [${target}]
push:
  upstreams:
    - name: hook
      kind: http
      url: ${url}/hook
      secret: ${secret}
      min_backoff: 100ms
      max_backoff: 500ms
`;

describe('signBody (kind http signature)', () => {
  it("matches GitHub's documented X-Hub-Signature-256 test vector", () => {
    // docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    expect(signBody("It's a Secret to Everybody", Buffer.from('Hello, World!'))).to.equal(
      'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
    );
  });
});

describe('push kind http with a secret (real gateway, verifying receiver)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();
  const hooks: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const h of hooks.splice(0)) await h.close();
  });

  it('signs the gzipped bytes it sends; the receiver verifies them and gets the session coverage', async () => {
    const hook = await startWebhook('s3cret-shared');
    hooks.push(hook);
    const a = await exporter();
    const g = await gateway(cfg(a.address, hook.url, 's3cret-shared'));
    await g.api.post('/test-started', { session: 'signed' });
    await a.hit('/classify?n=-4');
    const fin = await g.api.post('/test-finished', { session: 'signed', wait: true });
    expect(fin.data.push.status).to.equal('delivered');
    expect(hook.accepted).to.have.length(1);
    const got = hook.accepted[0]!;
    expect(got.headers['content-encoding']).to.equal('gzip');
    const pushed = JSON.parse(gunzipSync(got.raw).toString('utf8')) as CoverageMapData;
    const gw = (await g.api.get('/api/v1/coverage?session=signed')).data as CoverageMapData;
    expect(coveredLines(pushed)).to.deep.equal(coveredLines(gw));
    expect((await g.api.get('/api/v1/pushes')).data.data.pushes[0]).to.include({ kind: 'http', lastStatus: 202 });
  });

  it('a receiver that rejects the signature (401) ends the push as failed with its answer, no retry', async () => {
    const hook = await startWebhook('the-real-secret');
    hooks.push(hook);
    const a = await exporter();
    const g = await gateway(cfg(a.address, hook.url, 'a-wrong-secret'));
    const fin = await g.api.post('/test-finished', { session: 'forged', wait: true });
    expect(fin.data.push.status).to.equal('failed');
    const push = (await g.api.get('/api/v1/pushes')).data.data.pushes[0];
    expect(push).to.include({ status: 'failed', attempts: 1, lastStatus: 401, lastError: 'upstream answered HTTP 401 Unauthorized: {"message":"signature mismatch"}' });
    expect(hook.log).to.have.length(1);
  });
});
