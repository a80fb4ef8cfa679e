import { expect } from 'chai';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createRegistration, type FailedEvent, type Registration, type RegisteredEvent } from '../../exporters/node/registration.ts';
import { FakeGateway } from '../fakes/fake-gateway.ts';
import { FakeClock } from '../fakes/clock.ts';
import { FIXTURES, REGISTER, startApp } from './helpers.ts';

const TARGET = 'http://127.0.0.1:45678';

function next<T>(reg: Registration, event: string): Promise<T> {
  return once(reg, event).then(([v]) => v as T);
}

/** A port nobody listens on: bind, note, close. */
async function closedPort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('createRegistration', function () {
  let gw: FakeGateway;
  let timers: FakeClock;
  let reg: Registration | undefined;

  beforeEach(async () => {
    gw = new FakeGateway();
    await gw.start();
    timers = new FakeClock();
  });
  afterEach(async () => {
    await reg?.stop();
    reg = undefined;
    await gw.stop();
  });

  const make = (extra: Partial<Parameters<typeof createRegistration>[0]> = {}): Registration =>
    (reg = createRegistration({
      gateway: gw.url,
      job: 'orders',
      url: TARGET,
      labels: { service: 'orders', release: '2026.11' },
      ttlMs: 60_000,
      token: 's3cret',
      handleSignals: false,
      timers,
      random: () => 1,
      ...extra,
    }));

  it('registers with job, url, labels and ttl, sending the bearer token', async () => {
    const r = make();
    const registered = next<RegisteredEvent>(r, 'registered');
    r.start();
    const ev = await registered;
    expect(ev).to.include({ id: 't1', renewal: false });
    expect(r.state).to.equal('registered');
    const req = gw.requests[0]!;
    expect(req).to.include({ method: 'POST', path: '/api/v1/targets' });
    expect(req.body).to.deep.equal({ job: 'orders', url: TARGET, labels: { service: 'orders', release: '2026.11' }, ttl: '60s' });
    expect(req.headers.authorization).to.equal('Bearer s3cret');
  });

  it('renews at a third of the ttl, before the lease expires, keeping the id', async () => {
    const r = make();
    const first = next<RegisteredEvent>(r, 'registered');
    r.start();
    await first;
    expect(timers.armed).to.deep.equal([20_000]);
    const renewed = next<RegisteredEvent>(r, 'registered');
    timers.fireNext();
    expect(await renewed).to.include({ id: 't1', renewal: true });
    expect(gw.requests).to.have.length(2);
    expect(gw.requests[1]!.body).to.deep.equal(gw.requests[0]!.body);
    expect(timers.armed).to.deep.equal([20_000]);
  });

  it('backs off exponentially while the gateway answers 503, then registers', async () => {
    gw.mode = 'unavailable';
    const r = make({ initialBackoffMs: 100, maxBackoffMs: 1000, random: () => 0.5 });
    const delays: number[] = [];
    r.on('failed', (e: FailedEvent) => delays.push(e.retryInMs));
    let failed = next<FailedEvent>(r, 'failed');
    r.start();
    for (let i = 0; i < 5; i++) {
      await failed;
      failed = next<FailedEvent>(r, 'failed');
      timers.fireNext();
    }
    await failed;
    // equal jitter: exp/2 + random*exp/2 with random 0.5 → 0.75 * min(1000, 100 * 2^n)
    expect(delays).to.deep.equal([75, 150, 300, 600, 750, 750]);
    expect(r.state).to.equal('backoff');
    gw.mode = 'ok';
    const registered = next<RegisteredEvent>(r, 'registered');
    timers.fireNext();
    expect((await registered).id).to.equal('t1');
    expect(timers.armed).to.deep.equal([20_000]);
  });

  it('jitters the delay between half and all of the exponential step', async () => {
    gw.mode = 'unavailable';
    const lo = make({ initialBackoffMs: 1000, random: () => 0 });
    const f1 = next<FailedEvent>(lo, 'failed');
    lo.start();
    expect((await f1).retryInMs).to.equal(500);
    await lo.stop();
    const hi = make({ initialBackoffMs: 1000, random: () => 0.999 });
    const f2 = next<FailedEvent>(hi, 'failed');
    hi.start();
    expect((await f2).retryInMs).to.equal(1000);
  });

  it('backs off while the gateway refuses connections', async () => {
    const r = make({ gateway: `http://127.0.0.1:${await closedPort()}`, initialBackoffMs: 200 });
    const failed = next<FailedEvent>(r, 'failed');
    r.start();
    const ev = await failed;
    expect(ev.error).to.match(/ECONNREFUSED/);
    expect(ev.attempt).to.equal(1);
    expect(timers.armed).to.deep.equal([200]);
  });

  it('keeps renewing through a gateway outage once registered', async () => {
    const r = make({ initialBackoffMs: 100 });
    const first = next<RegisteredEvent>(r, 'registered');
    r.start();
    await first;
    gw.mode = 'unavailable';
    const failed = next<FailedEvent>(r, 'failed');
    timers.fireNext();
    await failed;
    expect(r.state).to.equal('registered');
    gw.mode = 'ok';
    const renewed = next<RegisteredEvent>(r, 'registered');
    timers.fireNext();
    expect(await renewed).to.include({ id: 't1', renewal: true });
  });

  it('deregisters on stop and cancels the pending renewal; stop is safe twice and before start', async () => {
    await make().stop();
    expect(gw.requests).to.have.length(0);
    const r = make();
    const first = next<RegisteredEvent>(r, 'registered');
    r.start();
    await first;
    await r.stop();
    await r.stop();
    expect(gw.requests.map((q) => `${q.method} ${q.path}`)).to.deep.equal(['POST /api/v1/targets', 'DELETE /api/v1/targets/t1']);
    expect(timers.armed).to.deep.equal([]);
    expect(r.state).to.equal('stopped');
  });
});

describe('node exporter self-registration (real processes)', function () {
  let gw: FakeGateway;
  beforeEach(async () => {
    gw = new FakeGateway();
    await gw.start();
  });
  afterEach(async () => gw.stop());

  const env = (): Record<string, string> => ({
    COVGATE_GATEWAY: gw.url,
    COVGATE_JOB: 'orders',
    COVGATE_SERVICE: 'orders',
    COVGATE_LABELS: 'release=2026.11,test_type=AT',
    COVGATE_TTL: '30s',
  });

  it('registers its own URL with the service and labels from the environment', async () => {
    const app = await startApp(join(FIXTURES, 'orders', 'server.js'), env());
    try {
      const req = await gw.waitFor((r) => r.method === 'POST');
      expect(req.body).to.deep.equal({
        job: 'orders',
        url: app.exporterUrl,
        labels: { release: '2026.11', test_type: 'AT', service: 'orders' },
        ttl: '30s',
      });
    } finally {
      await app.kill();
    }
  });

  it('starts and serves while the gateway refuses connections', async () => {
    const app = await startApp(join(FIXTURES, 'orders', 'server.js'), {
      ...env(),
      COVGATE_GATEWAY: `http://127.0.0.1:${await closedPort()}`,
    });
    try {
      const res = await fetch(`${app.exporterUrl}/coverage`);
      expect(res.status).to.equal(200);
      await app.waitStderr(/registration at .* failed/);
    } finally {
      await app.kill();
    }
  });

  for (const gateway of ['down', 'up'] as const) {
    it(`never keeps a short-lived program alive (gateway ${gateway})`, async () => {
      const url = gateway === 'up' ? gw.url : `http://127.0.0.1:${await closedPort()}`;
      const child = spawn(process.execPath, ['--import', REGISTER, join(FIXTURES, 'oneshot.js')], {
        env: { ...process.env, ...env(), COVGATE_GATEWAY: url },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const [code] = await once(child, 'exit');
      expect(code).to.equal(0);
    });
  }

  it('deregisters on SIGTERM after the final scrape, then dies of the signal as it would have', async () => {
    const app = await startApp(join(FIXTURES, 'orders', 'server.js'), env());
    const exited = once(app.child, 'exit');
    await gw.waitFor((r) => r.method === 'POST');
    app.child.kill('SIGTERM');
    const del = await gw.waitFor((r) => r.method === 'DELETE');
    expect(del.path).to.equal('/api/v1/targets/t1');
    const [code, signal] = await exited;
    expect({ code, signal }).to.deep.equal({ code: null, signal: 'SIGTERM' });
    expect(gw.finalScrapes).to.deep.equal([{ id: 't1', status: 200 }]);
  });

  it('lets an app with its own SIGTERM handler finish its shutdown', async () => {
    const app = await startApp(join(FIXTURES, 'orders', 'server.js'), { ...env(), APP_SIGTERM: 'graceful' });
    const exited = once(app.child, 'exit');
    await gw.waitFor((r) => r.method === 'POST');
    app.child.kill('SIGTERM');
    const [code, signal] = await exited;
    expect({ code, signal }).to.deep.equal({ code: 0, signal: null });
    expect(app.stdout()).to.include('app closed gracefully');
    expect(gw.requests.some((r) => r.method === 'DELETE')).to.equal(true);
    expect(gw.finalScrapes).to.deep.equal([{ id: 't1', status: 200 }]);
  });
});
