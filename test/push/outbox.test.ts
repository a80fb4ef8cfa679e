import { expect } from 'chai';
import nock from 'nock';
import { pushRecordId, UPSTREAM_GONE } from '../../gateway/push/index.ts';
import type { PushRecord } from '../../gateway/push/index.ts';
import type { KeyValue } from '../../gateway/store/types.ts';
import { capturedText, job, makeOutbox, TestDb, upstream, UPSTREAM, type Captured, type Harness } from './helpers.ts';

describe('push/createPushOutbox', () => {
  let db: TestDb;
  let kv: KeyValue<PushRecord>;
  const harnesses: Harness[] = [];
  const make = (...args: Parameters<typeof makeOutbox>) => {
    const h = makeOutbox(...args);
    harnesses.push(h);
    return h;
  };

  before(() => nock.disableNetConnect());
  after(() => nock.enableNetConnect());
  beforeEach(async () => {
    db = new TestDb();
    kv = await db.open();
  });
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.outbox.stop();
    await db.close();
    nock.cleanAll();
  });

  /** The stored record of the only push of `session` (request included). */
  async function stored(session = 'run-1', name = 'center'): Promise<PushRecord> {
    return (await kv.get(pushRecordId(session, name)))!;
  }

  describe('enqueue', () => {
    it('writes one record per upstream before it resolves, body encoded once', async () => {
      const h = make(kv, [upstream({ name: 'a' }), upstream({ name: 'b', format: 'lcov' })]);
      // not started: nothing is sent, the records are on disk
      const recs = await h.outbox.enqueue(job());
      expect(recs.map((r) => [r.upstream, r.status, r.attempts])).to.deep.equal([
        ['a', 'pending', 0],
        ['b', 'pending', 0],
      ]);
      expect(recs.every((r) => r.request === undefined)).to.equal(true);
      const a = await stored('run-1', 'a');
      expect(a.id).to.equal(pushRecordId('run-1', 'a'));
      expect(a.request?.contentType).to.equal('application/json');
      expect((await stored('run-1', 'b')).request?.body).to.match(/^TN:|^SF:/m);
    });

    it('is idempotent per session, also when called concurrently', async () => {
      const h = make(kv, [upstream()]);
      const [r1, r2] = await Promise.all([h.outbox.enqueue(job()), h.outbox.enqueue(job())]);
      const r3 = await h.outbox.enqueue(job());
      expect(r1.map((r) => r.id)).to.deep.equal(r2.map((r) => r.id)).and.deep.equal(r3.map((r) => r.id));
      expect(h.outbox.list()).to.have.length(1);
      const scope = nock(UPSTREAM).post('/api/coverage').once().reply(200);
      await h.outbox.start();
      await h.outbox.deliverNow();
      await h.outbox.enqueue(job());
      await h.outbox.deliverNow();
      expect(scope.isDone()).to.equal(true);
      expect(h.outbox.list().map((r) => [r.status, r.attempts])).to.deep.equal([['delivered', 1]]);
    });

    it('adds a record only for an upstream the session was not pushed to yet', async () => {
      const ups = [upstream({ name: 'a' })];
      const h = make(kv, ups);
      await h.outbox.enqueue(job());
      ups.push(upstream({ name: 'b' }));
      const recs = await h.outbox.enqueue(job());
      expect(recs.map((r) => r.upstream)).to.deep.equal(['a', 'b']);
    });

    it('writes nothing when encoding fails for one upstream (all or nothing)', async () => {
      const h = make(kv, [upstream({ name: 'a' }), upstream({ name: 'b', format: 'bogus' as never })]);
      let err: unknown;
      await h.outbox.enqueue(job()).catch((e) => (err = e));
      expect(err).to.have.property('code', 'COVGATE_BAD_DATA');
      expect(h.outbox.list()).to.deep.equal([]);
      expect(await kv.get(pushRecordId('run-1', 'a'))).to.equal(undefined);
    });
  });

  describe('delivery', () => {
    it('retries 5xx with backoff, then delivers exactly once and drops the body', async () => {
      const h = make(kv, [upstream({ min_backoff: 1_000, max_backoff: 60_000 })]);
      const keys: string[] = [];
      nock(UPSTREAM)
        .post('/api/coverage')
        .times(2)
        .reply(function () {
          keys.push(String(this.req.headers['idempotency-key']));
          return [503, 'busy'];
        })
        .post('/api/coverage')
        .reply(function () {
          keys.push(String(this.req.headers['idempotency-key']));
          return [201, 'ok'];
        });
      await h.outbox.start();
      const t0 = h.clock.now();
      await h.outbox.enqueue(job());
      await h.outbox.deliverNow();

      let r = await stored();
      expect(r).to.include({ status: 'pending', attempts: 1, lastStatus: 503, nextAttemptAt: t0 + 1_000 });
      expect(r.lastError).to.equal('upstream answered HTTP 503 Service Unavailable: busy');
      expect(h.timers.armed).to.deep.equal([1_000]);

      await h.outbox.deliverNow(); // not due yet: nothing is sent
      expect((await stored()).attempts).to.equal(1);

      h.clock.advance(1_000);
      await h.outbox.deliverNow();
      expect(h.outbox.list()[0]).to.include({ status: 'pending', attempts: 2, nextAttemptAt: t0 + 2_000 }); // zero jitter: min_backoff
      // the same failure again a second later is not rewritten to disk
      expect(await stored()).to.include({ attempts: 1, nextAttemptAt: t0 + 1_000 });

      h.clock.advance(1_000);
      await h.outbox.deliverNow();
      r = await stored();
      expect(r).to.include({ status: 'delivered', attempts: 3, deliveredAt: t0 + 2_000, lastStatus: 201 });
      expect(r.lastError).to.equal(undefined);
      expect(r.request).to.equal(undefined);
      expect(h.results).to.deep.equal([
        ['center', 'retry'],
        ['center', 'retry'],
        ['center', 'success'],
      ]);
      expect(keys).to.deep.equal(Array(3).fill(pushRecordId('run-1', 'center')));
      expect(h.outbox.queueLengths()).to.deep.equal([{ upstream: 'center', length: 0 }]);
      expect(h.timers.armed).to.deep.equal([]);
    });

    it('spreads retries with full jitter between min_backoff and the exponential cap', async () => {
      const h = make(kv, [upstream({ min_backoff: 1_000, max_backoff: 5_000 })], { random: () => 0.5 });
      nock(UPSTREAM).post('/api/coverage').times(4).reply(500);
      await h.outbox.start();
      const t0 = h.clock.now();
      await h.outbox.enqueue(job());
      const delays: number[] = [];
      for (let i = 0; i < 4; i++) {
        await h.outbox.deliverNow();
        const r = h.outbox.list()[0]!;
        delays.push(r.nextAttemptAt! - h.clock.now());
        h.clock.advance(r.nextAttemptAt! - h.clock.now());
      }
      // caps 1s, 2s, 4s, 5s (max_backoff): halfway between 1s and each cap
      expect(delays).to.deep.equal([1_000, 1_500, 2_500, 3_000]);
      expect(h.clock.now() - t0).to.equal(8_000);
    });

    it('retries a request that outlives the upstream timeout', async () => {
      const h = make(kv, [upstream({ timeout: 50 })]);
      nock(UPSTREAM).post('/api/coverage').delay(2_000).reply(200).post('/api/coverage').reply(200);
      await h.outbox.start();
      await h.outbox.enqueue(job());
      await h.outbox.deliverNow();
      const r = await stored();
      expect(r).to.include({ status: 'pending', attempts: 1 });
      expect(r.lastError).to.equal('no answer within 0.05s (timeout)');
      expect(h.results).to.deep.equal([['center', 'retry']]);
      h.clock.advance(1_000);
      await h.outbox.deliverNow();
      expect((await stored()).status).to.equal('delivered');
    });

    it('retries network errors', async () => {
      const h = make(kv, [upstream()]);
      nock(UPSTREAM).post('/api/coverage').replyWithError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }));
      await h.outbox.start();
      await h.outbox.enqueue(job());
      await h.outbox.deliverNow();
      const r = await stored();
      expect(r).to.include({ status: 'pending', attempts: 1 });
      expect(r.lastError).to.match(/ECONNREFUSED/);
    });

    it('honours Retry-After in seconds on 429: the next attempt is exactly that much later', async () => {
      const h = make(kv, [upstream()]);
      nock(UPSTREAM).post('/api/coverage').reply(429, 'slow down', { 'Retry-After': '120' }).post('/api/coverage').reply(200);
      await h.outbox.start();
      const t0 = h.clock.now();
      await h.outbox.enqueue(job());
      await h.outbox.deliverNow();
      expect(await stored()).to.include({ status: 'pending', attempts: 1, nextAttemptAt: t0 + 120_000, lastStatus: 429 });
      expect(h.timers.armed).to.deep.equal([120_000]);
      h.clock.advance(119_999);
      await h.outbox.deliverNow();
      expect((await stored()).attempts).to.equal(1);
      h.clock.advance(1);
      await h.outbox.deliverNow();
      expect(await stored()).to.include({ status: 'delivered', attempts: 2 });
    });

    it('keeps a 1 s floor under Retry-After: 0 and does not rewrite an unchanged failing record each time', async () => {
      const h = make(kv, [upstream({ min_backoff: 1_000, max_backoff: 60_000 })]);
      let writes = 0;
      const put = kv.put.bind(kv);
      kv.put = async (...args: Parameters<typeof kv.put>) => {
        writes++;
        return put(...args);
      };
      nock(UPSTREAM).post('/api/coverage').times(60).reply(503, 'busy', { 'Retry-After': '0' });
      await h.outbox.start();
      const t0 = h.clock.now();
      await h.outbox.enqueue(job());
      const afterEnqueue = writes;
      await h.outbox.deliverNow();
      expect(h.outbox.list()[0]).to.include({ attempts: 1, nextAttemptAt: t0 + 1_000 });
      await h.outbox.deliverNow(); // Retry-After 0 does not make it due at once
      expect(h.outbox.list()[0]!.attempts).to.equal(1);
      for (let i = 0; i < 59; i++) {
        h.clock.advance(1_000);
        await h.outbox.deliverNow();
      }
      expect(h.outbox.list()[0]!.attempts).to.equal(60);
      // 60 attempts over 60 s of the fake clock: the first failure and one rewrite per 30 s
      expect(writes - afterEnqueue).to.be.at.most(3);
      const r = await stored();
      expect(r.status).to.equal('pending');
      expect(r.request, 'the body stays on disk').to.not.equal(undefined);
    });

    it('honours Retry-After as an HTTP date, capped at max_backoff', async () => {
      const h = make(kv, [upstream({ max_backoff: 60_000 })]);
      const now = h.clock.now();
      nock(UPSTREAM)
        .post('/api/coverage')
        .reply(503, '', { 'Retry-After': new Date(now + 30_000).toUTCString() })
        .post('/api/coverage')
        .reply(503, '', { 'Retry-After': '3600' });
      await h.outbox.start();
      await h.outbox.enqueue(job());
      await h.outbox.deliverNow();
      expect((await stored()).nextAttemptAt).to.equal(now + 30_000);
      h.clock.advance(30_000);
      await h.outbox.deliverNow();
      expect((await stored()).nextAttemptAt).to.equal(now + 30_000 + 60_000);
    });

    it('fails a 4xx for good with its status and the start of its body', async () => {
      const h = make(kv, [upstream()]);
      const scope = nock(UPSTREAM).post('/api/coverage').once().reply(400, '{"error":"missing field \\"commit\\"",\n "detail": "x"}');
      await h.outbox.start();
      await h.outbox.enqueue(job());
      await h.outbox.deliverNow();
      h.clock.advance(3_600_000);
      await h.outbox.deliverNow();
      const r = await stored();
      expect(r).to.include({ status: 'failed', attempts: 1, lastStatus: 400 });
      expect(r.lastError).to.equal('upstream answered HTTP 400 Bad Request: {"error":"missing field \\"commit\\"", "detail": "x"}');
      expect(r.nextAttemptAt).to.equal(undefined);
      expect(r.request, 'a failed push keeps its body').to.not.equal(undefined);
      expect(scope.isDone()).to.equal(true);
      expect(h.results).to.deep.equal([['center', 'failed']]);
      expect(h.outbox.statusOf('run-1').status).to.equal('failed');
      expect(h.timers.armed).to.deep.equal([]);
    });

    it('does not follow redirects: a 3xx fails the push', async () => {
      const h = make(kv, [upstream()]);
      nock(UPSTREAM).post('/api/coverage').reply(301, '', { Location: 'http://127.0.0.1:9/v2' });
      await h.outbox.start();
      await h.outbox.enqueue(job());
      await h.outbox.deliverNow();
      expect((await stored()).lastError).to.match(/^upstream answered HTTP 301 Moved Permanently \(redirects are not followed/);
    });

    it('fails after max_attempts retryable attempts', async () => {
      const h = make(kv, [upstream({ max_attempts: 3 })]);
      const scope = nock(UPSTREAM).post('/api/coverage').times(3).reply(502, 'bad gateway');
      await h.outbox.start();
      await h.outbox.enqueue(job());
      for (let i = 0; i < 5; i++) {
        await h.outbox.deliverNow();
        h.clock.advance(300_000);
      }
      const r = await stored();
      expect(r).to.include({ status: 'failed', attempts: 3 });
      expect(r.lastError).to.equal('upstream answered HTTP 502 Bad Gateway: bad gateway (gave up after 3 attempts, max_attempts)');
      expect(scope.isDone()).to.equal(true);
      expect(h.results.map(([, res]) => res)).to.deep.equal(['retry', 'retry', 'failed']);
    });

    it('delivers the records of one upstream in enqueue order, a failing head holding the rest back', async () => {
      const h = make(kv, [upstream()]);
      const order: string[] = [];
      nock(UPSTREAM)
        .post('/api/coverage')
        .reply(503)
        .post('/api/coverage')
        .times(3)
        .reply(function () {
          order.push(String(this.req.headers['x-covgate-session']));
          return [200];
        });
      await h.outbox.start();
      await h.outbox.enqueue(job('s1'));
      await h.outbox.enqueue(job('s2'));
      await h.outbox.enqueue(job('s3'));
      await h.outbox.deliverNow();
      expect(h.outbox.list().map((r) => [r.session, r.status, r.attempts])).to.deep.equal([
        ['s1', 'pending', 1],
        ['s2', 'pending', 0],
        ['s3', 'pending', 0],
      ]);
      expect(h.outbox.queueLengths()).to.deep.equal([{ upstream: 'center', length: 3 }]);
      h.clock.advance(1_000);
      await h.outbox.deliverNow();
      expect(order).to.deep.equal(['s1', 's2', 's3']);
    });

    it('a slow upstream does not hold back another upstream', async () => {
      let fastDelivered!: () => void;
      const fastDone = new Promise<void>((resolve) => (fastDelivered = resolve));
      const results: Array<[string, string]> = [];
      const observer = {
        pushFinished(u: string, r: string) {
          results.push([u, r]);
          if (u === 'fast' && r === 'success') fastDelivered();
        },
      };
      const h = make(kv, [upstream({ name: 'slow', url: 'http://127.0.0.1:9/slow' }), upstream({ name: 'fast', url: 'http://127.0.0.1:9/fast' })], { observer });
      nock(UPSTREAM).post('/slow').delay(60_000).reply(200);
      nock(UPSTREAM).post('/fast').reply(200);
      await h.outbox.start();
      await h.outbox.enqueue(job());
      await fastDone; // resolves while the slow request is still in flight
      expect(h.outbox.list().map((r) => [r.upstream, r.status])).to.deep.equal([
        ['slow', 'pending'],
        ['fast', 'delivered'],
      ]);
      await h.outbox.stop(); // aborts the slow request at once; not counted as an attempt
      expect(await stored('run-1', 'slow')).to.include({ status: 'pending', attempts: 0 });
      expect(results).to.deep.equal([['fast', 'success']]);
    });
  });

  describe('durability', () => {
    it('delivers, after a restart, what was enqueued before, exactly once with the same Idempotency-Key', async () => {
      const first = make(kv, [upstream()]);
      await first.outbox.enqueue(job()); // acknowledged, never attempted
      await first.outbox.stop();
      await db.close();

      kv = await db.open();
      const second = make(kv, [upstream()]);
      const seen: Captured[] = [];
      const scope = nock(UPSTREAM)
        .post('/api/coverage')
        .once()
        .reply(function (path, body) {
          seen.push({ path, headers: this.req.headers, text: capturedText(body, this.req.headers) });
          return [200];
        });
      await second.outbox.start();
      await second.outbox.deliverNow();
      await second.outbox.deliverNow();
      expect(scope.isDone()).to.equal(true);
      expect(seen).to.have.length(1);
      expect(seen[0]!.headers['idempotency-key']).to.equal(pushRecordId('run-1', 'center'));
      expect(await stored()).to.include({ status: 'delivered', attempts: 1 });
      expect(second.results).to.deep.equal([['center', 'success']]);
    });

    it('sends again, with the same key, a push that was in flight when the gateway stopped', async () => {
      const first = make(kv, [upstream()]);
      const keys: string[] = [];
      const bodies: string[] = [];
      const record = function (this: { req: { headers: Record<string, string | string[] | undefined> } }, _path: string, body: unknown) {
        keys.push(String(this.req.headers['idempotency-key']));
        bodies.push(typeof body === 'string' ? body : JSON.stringify(body));
        return [200] as [number];
      };
      // nock calls the reply function when the request arrives, then waits out the delay
      nock(UPSTREAM).post('/api/coverage').delay(60_000).reply(record);
      await first.outbox.start();
      await first.outbox.enqueue(job());
      while (keys.length === 0) await new Promise((r) => setImmediate(r));
      await first.outbox.stop();
      await db.close();

      kv = await db.open();
      const second = make(kv, [upstream()]);
      nock.cleanAll();
      nock(UPSTREAM).post('/api/coverage').reply(record);
      await second.outbox.start();
      await second.outbox.deliverNow();
      expect(keys).to.deep.equal([pushRecordId('run-1', 'center'), pushRecordId('run-1', 'center')]);
      expect(bodies[1]).to.equal(bodies[0]);
      expect(await stored()).to.include({ status: 'delivered', attempts: 1 });
    });

    it('keeps retry state across a restart: attempts and the next due time', async () => {
      const first = make(kv, [upstream()]);
      nock(UPSTREAM).post('/api/coverage').reply(429, '', { 'Retry-After': '120' });
      await first.outbox.start();
      await first.outbox.enqueue(job());
      await first.outbox.deliverNow();
      await first.outbox.stop();
      await db.close();

      kv = await db.open();
      const second = make(kv, [upstream()], { clock: first.clock });
      const scope = nock(UPSTREAM).post('/api/coverage').reply(200);
      await second.outbox.start();
      await second.outbox.deliverNow();
      expect(scope.isDone(), 'not due yet').to.equal(false);
      expect(second.timers.armed).to.deep.equal([120_000]);
      second.clock.advance(120_000);
      second.timers.fireAll(); // the wake-up the outbox armed
      await second.outbox.deliverNow();
      expect(await stored()).to.include({ status: 'delivered', attempts: 2 });
    });
  });

  describe('upstreams leaving the config', () => {
    it('keeps their records pending with a reason, and resumes when the upstream comes back', async () => {
      const ups = [upstream({ name: 'old' })];
      const h = make(kv, ups);
      await h.outbox.enqueue(job());
      ups.splice(0, 1, upstream({ name: 'new' }));
      await h.outbox.start();
      await h.outbox.deliverNow();
      const [rec] = h.outbox.list();
      expect(rec).to.include({ upstream: 'old', status: 'pending', attempts: 0, lastError: UPSTREAM_GONE });
      expect(h.outbox.queueLengths()).to.deep.equal([
        { upstream: 'new', length: 0 },
        { upstream: 'old', length: 1 },
      ]);
      expect((await stored('run-1', 'old')).lastError).to.equal(UPSTREAM_GONE);

      ups.push(upstream({ name: 'old' }));
      nock(UPSTREAM).post('/api/coverage').reply(200);
      h.outbox.reload();
      await h.outbox.deliverNow();
      expect(h.outbox.list()[0]).to.include({ status: 'delivered', attempts: 1 });
    });
  });

  describe('statusOf / waitFor', () => {
    it('says none for an unknown session', async () => {
      const h = make(kv, [upstream()]);
      expect(h.outbox.statusOf('nope')).to.deep.equal({ id: '', status: 'none', records: [] });
      expect(await h.outbox.waitFor('nope')).to.deep.include({ status: 'none' });
    });

    it('resolves once every record of the session is delivered or failed', async () => {
      const h = make(kv, [upstream({ name: 'a', url: 'http://127.0.0.1:9/a' }), upstream({ name: 'b', url: 'http://127.0.0.1:9/b' })]);
      nock(UPSTREAM).post('/a').reply(200).post('/b').reply(503).post('/b').reply(404, 'no such project');
      await h.outbox.start();
      await h.outbox.enqueue(job());
      const done = h.outbox.waitFor('run-1');
      await h.outbox.deliverNow();
      expect(h.outbox.statusOf('run-1').status).to.equal('pending');
      h.clock.advance(1_000);
      await h.outbox.deliverNow();
      const s = await done;
      expect(s.status).to.equal('failed');
      expect(s.id).to.equal(`${pushRecordId('run-1', 'a')},${pushRecordId('run-1', 'b')}`);
      expect(s.records.map((r) => [r.upstream, r.status])).to.deep.equal([
        ['a', 'delivered'],
        ['b', 'failed'],
      ]);
    });

    it('resolves with the pending status when its timeout fires, and on stop', async () => {
      const h = make(kv, [upstream()]);
      nock(UPSTREAM).post('/api/coverage').times(2).reply(503);
      await h.outbox.start();
      await h.outbox.enqueue(job());
      await h.outbox.deliverNow();
      const timed = h.outbox.waitFor('run-1', 5_000);
      const untimed = h.outbox.waitFor('run-1');
      expect(h.timers.armed).to.include(5_000);
      h.timers.fireAll();
      expect((await timed).status).to.equal('pending');
      await h.outbox.stop();
      expect((await untimed).status).to.equal('pending');
    });
  });

  describe('start / stop', () => {
    it('stop is safe before start and twice; enqueue after stop is refused as unavailable', async () => {
      const h = make(kv, [upstream()]);
      await h.outbox.stop();
      await h.outbox.stop();
      await h.outbox.start(); // no-op after stop
      let err: unknown;
      await h.outbox.enqueue(job()).catch((e) => (err = e));
      expect(err).to.include({ code: 'COVGATE_UNAVAILABLE', retryable: true });
    });
  });
});
