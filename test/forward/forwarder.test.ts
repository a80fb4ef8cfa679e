import { createIngester } from '../../gateway/ingest/index.ts';
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import axios from 'axios';
import { Level } from 'level';
import { createApiApp } from '../../gateway/api/app.ts';
import { parseConfig } from '../../gateway/config/index.ts';
import type { ForwardConfig } from '../../gateway/config/types.ts';
import { createForwarder, forwardRoutes, type ForwardMark } from '../../gateway/forward/index.ts';
import { silentLogger } from '../../gateway/log/index.ts';
import { splitCoverageMap, type CoverageMapData } from '../../gateway/model/index.ts';
import { createCoverageStore, type AppendInput, type CoverageStore } from '../../gateway/store/index.ts';
import { memoryKv } from '../fakes/memory-kv.ts';
import { coverageOf } from '../fakes/coverage-data.ts';

const cov = (s: number[]) => coverageOf('/srv/a.js', s) as unknown as CoverageMapData;
const target = { id: 'abc', job: 'orders', labels: { job: 'orders', instance: '127.0.0.1:1', service: 'orders' }, source: 'scrape' as const };
function input(s: number[], extra: Partial<AppendInput> = {}): AppendInput {
  const { structures, snapshot } = splitCoverageMap(cov(s));
  return { target, counters: 'cumulative', structures, snapshot, ...extra };
}
const openStore = async () => {
  const s = createCoverageStore(new Level<string, unknown>(mkdtempSync(join(tmpdir(), 'covgate-fwd-')), { valueEncoding: 'json' }));
  await s.open();
  return s;
};
const hits = (store: CoverageStore) => {
  const { map } = store.counterSet({ ids: [target.id] }).toCoverageMap((h) => store.structure(h));
  return map['/srv/a.js'] ? Object.values(map['/srv/a.js'].s) : [];
};

/** A real central: the forward route on the API app, behind a switch that injects failures and records what came in. */
async function startCentral(store: CoverageStore) {
  const config = parseConfig('{}\n');
  const app = createApiApp({ logger: silentLogger, version: 'test', config: () => config, isReady: () => true }, [
    forwardRoutes({ ingester: createIngester({ store, clock: { now: () => Date.now() } }), bodyLimit: () => 64 << 20, scrape: async () => undefined }),
  ]);
  const handler = app.callback();
  const c = {
    fail: 0 as number,
    failStatus: 503,
    bodies: [] as Array<Record<string, unknown>>,
    store,
    url: '',
    server: undefined as unknown as Server,
  };
  c.server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const text = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString() : raw.toString();
      if (c.fail > 0) {
        c.fail--;
        res.writeHead(c.failStatus, { 'Content-Type': 'application/json' }).end('{"status":"error","errorType":"unavailable","error":"injected"}');
        return;
      }
      c.bodies.push(JSON.parse(text) as Record<string, unknown>);
      // Hand the bytes to koa as if they had just arrived.
      const replay = Object.assign(Readable.from([raw]), { headers: req.headers, method: req.method, url: req.url, httpVersion: req.httpVersion, socket: req.socket, connection: req.socket });
      void handler(replay as unknown as IncomingMessage, res);
    });
  });
  await new Promise<void>((r) => c.server.listen(0, '127.0.0.1', r));
  c.url = `http://127.0.0.1:${(c.server.address() as AddressInfo).port}`;
  return c;
}

describe('forward/createForwarder (shard → central)', () => {
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function setup(opts: { kv?: ReturnType<typeof memoryKv<ForwardMark>>; shard?: CoverageStore; central?: Awaited<ReturnType<typeof startCentral>> } = {}) {
    const shard = opts.shard ?? (await openStore());
    const central = opts.central ?? (await startCentral(await openStore()));
    if (!opts.central) closers.push(() => new Promise<void>((r) => central.server.close(() => r())));
    const kv = opts.kv ?? memoryKv<ForwardMark>();
    const sleeps: number[] = [];
    const results: string[] = [];
    let onResult: (() => void) | undefined;
    /** Resolves at the next delivered forward (no polling, no timing). */
    const nextSuccess = () => new Promise<void>((r) => (onResult = r));
    const cfg: ForwardConfig = { url: central.url, headers: {}, timeout: 5000, concurrency: 4, min_backoff: 100, max_backoff: 1000 };
    const fwd = createForwarder({
      kv,
      store: shard,
      http: axios.create(),
      config: () => cfg,
      logger: silentLogger,
      sleep: async (ms) => void sleeps.push(ms),
      random: () => 0.5,
      observer: {
        forwarded: (r) => {
          results.push(r);
          if (r === 'success') onResult?.();
        },
      },
    });
    await fwd.open();
    closers.push(() => fwd.stop());
    /** What a shard's ingest store does: append, then mark. */
    const append = async (i: AppendInput, now: number) => {
      const r = await shard.append(i, now);
      if (r.changed || r.newLifetime) await fwd.mark(i.target.id, r.lifetimeId);
      return r;
    };
    return { shard, central, kv, fwd, sleeps, results, append, cfg, nextSuccess };
  }

  it('sends the structure once, then counters only; the central holds what the shard holds', async () => {
    const { shard, central, fwd, append } = await setup();
    await append(input([1, 0, 0], { instance: 'A' }), 1000);
    await fwd.flush();
    await append(input([3, 1, 0], { instance: 'A' }), 2000);
    await fwd.flush();
    expect(central.bodies).to.have.length(2);
    expect(central.bodies[0]).to.have.property('data');
    expect(central.bodies[1]).to.not.have.property('data');
    expect(central.bodies[1]!.hits).to.deep.equal({ '/srv/a.js': { s: [3, 1, 0], f: [], b: [] } });
    expect(hits(central.store)).to.deep.equal(hits(shard)).and.deep.equal([3, 1, 0]);
    expect(central.store.target(target.id)).to.include({ job: 'orders' });
    expect(central.store.target(target.id)!.labels).to.deep.equal(target.labels);
    expect(fwd.stats()).to.include({ pending: 0, sentFull: 1, sentCountersOnly: 1 });
  });

  it('never adds twice: identical re-sends (retries, restarts) replace', async () => {
    const { shard, central, fwd, append } = await setup();
    await append(input([2, 2, 0], { instance: 'A' }), 1000);
    await fwd.flush();
    for (let i = 0; i < 3; i++) {
      await fwd.mark(target.id, shard.lifetimes(target.id)[0]!.id);
      await fwd.flush();
    }
    expect(central.bodies).to.have.length(4);
    expect(hits(central.store)).to.deep.equal([2, 2, 0]);
  });

  it('keeps lifetimes apart: a restart of the exporter and delta counters arrive as a single gateway stores them', async () => {
    const { shard, central, fwd, append } = await setup();
    await append(input([5, 0, 0], { instance: 'A' }), 1000);
    await append(input([1, 1, 0], { instance: 'B', counters: 'delta' }), 2000);
    await append(input([1, 0, 1], { instance: 'B', counters: 'delta' }), 3000);
    await fwd.flush();
    // A reset within instance A after B began: a second segment of A on the shard.
    await append(input([9, 0, 0], { instance: 'A' }), 4000);
    await append(input([1, 0, 0], { instance: 'A' }), 5000);
    await fwd.flush();
    await fwd.mark(target.id, 'i:A'); // the older segment re-sent after the newer one: still no double count
    await fwd.flush();
    expect(hits(shard)).to.deep.equal([12, 1, 1]);
    expect(hits(central.store)).to.deep.equal(hits(shard));
    expect(central.store.lifetimes(target.id)).to.have.length(shard.lifetimes(target.id).length);
  });

  it('loses nothing in a central outage: retries with backoff until it answers', async () => {
    const { shard, central, fwd, sleeps, results, append, nextSuccess } = await setup();
    central.fail = 3;
    await append(input([1, 2, 3], { instance: 'A' }), 1000);
    let err: unknown;
    await fwd.flush().catch((e: unknown) => (err = e));
    expect(err).to.have.property('status', 503);
    expect(fwd.stats().pending).to.equal(1);
    const delivered = nextSuccess();
    fwd.start(); // the worker retries on its own, sleeping the backoff between passes
    await delivered;
    expect(fwd.stats().pending).to.equal(0);
    expect(sleeps).to.have.length(2);
    expect(sleeps[1]!).to.be.greaterThan(sleeps[0]!);
    expect(results.filter((r) => r === 'retry')).to.have.length(3);
    expect(hits(central.store)).to.deep.equal(hits(shard));
  });

  it('sends the structure again when the central lost it (409)', async () => {
    const { shard, fwd, append, cfg } = await setup();
    await append(input([1, 0, 0], { instance: 'A' }), 1000);
    await fwd.flush();
    // The central comes back on an empty store: the counters-only forward gets a 409, the full data follows at once.
    const fresh = await startCentral(await openStore());
    closers.push(() => new Promise<void>((r) => fresh.server.close(() => r())));
    cfg.url = fresh.url;
    await append(input([4, 0, 0], { instance: 'A' }), 2000);
    await fwd.flush();
    expect(fresh.bodies.map((b) => 'data' in b)).to.deep.equal([false, true]);
    expect(hits(fresh.store)).to.deep.equal([4, 0, 0]);
    expect(fwd.stats().pending).to.equal(0);
  });

  it('survives a restart of the shard: marks are durable', async () => {
    const kv = memoryKv<ForwardMark>();
    const central = await startCentral(await openStore());
    closers.push(() => new Promise<void>((r) => central.server.close(() => r())));
    central.fail = 100;
    const first = await setup({ kv, central });
    await first.append(input([7, 0, 0], { instance: 'A' }), 1000);
    await first.fwd.flush().catch(() => undefined);
    await first.fwd.stop();
    expect([...kv.data.keys()]).to.have.length(1);
    central.fail = 0;
    const second = await setup({ kv, central, shard: first.shard });
    expect(second.fwd.stats().pending).to.equal(1);
    await second.fwd.flush();
    expect(hits(central.store)).to.deep.equal([7, 0, 0]);
    expect(kv.data.size).to.equal(0);
  });

  it('drops a forward the central refuses for good (4xx) and counts it failed', async () => {
    const { central, fwd, results, append } = await setup();
    central.fail = 1;
    central.failStatus = 400;
    await append(input([1, 0, 0], { instance: 'A' }), 1000);
    await fwd.flush();
    expect(fwd.stats().pending).to.equal(0);
    expect(results).to.deep.equal(['failed']);
  });
});

describe('forward routes (central): bad input is a 400 naming it', () => {
  it('refuses a missing or malformed X-Covgate-Forwarded-Target and an envelope without instance', async () => {
    const central = await startCentral(await openStore());
    try {
      const post = (headers: Record<string, string>, body: unknown) =>
        axios.post(`${central.url}/api/v1/forward`, body, { headers: { 'Content-Type': 'application/vnd.covgate.v1+json', ...headers }, validateStatus: () => true });
      const env = { format: 'istanbul', instance: 'A', data: cov([1]) };
      const header = (v: unknown) => ({ 'X-Covgate-Forwarded-Target': Buffer.from(JSON.stringify(v)).toString('base64url') });
      let r = await post({}, env);
      expect(r.status).to.equal(400);
      expect(r.data.error).to.match(/X-Covgate-Forwarded-Target is required/);
      r = await post({ 'X-Covgate-Forwarded-Target': 'not json' }, env);
      expect(r.status).to.equal(400);
      r = await post(header({ id: 'x', job: 'j', labels: { 'bad-name': 'v' } }), env);
      expect(r.status).to.equal(400);
      expect(r.data.error).to.match(/bad-name/);
      // Reserved names, "__proto__" included (JSON.parse makes it an own key), are refused as push ingest refuses them.
      r = await post({ 'X-Covgate-Forwarded-Target': Buffer.from('{"id":"x","job":"j","labels":{"__proto__":"v"}}').toString('base64url') }, env);
      expect(r.status).to.equal(400);
      expect(r.data.error).to.match(/reserved/);
      r = await post(header({ id: 'x', job: 'j', labels: {} }), { format: 'istanbul', data: cov([1]) });
      expect(r.status).to.equal(400);
      expect(r.data.error).to.match(/instance/);
      r = await post(header({ id: 'x', job: 'j', labels: {} }), { format: 'istanbul', instance: 'A', structure: 'nope', hits: { '/srv/a.js': { s: [1], f: [], b: [] } } });
      expect(r.status).to.equal(409);
      expect(central.store.targets()).to.have.length(0);
      r = await post(header({ id: 'x', job: 'j', labels: { job: 'j' } }), env);
      expect(r.status).to.equal(202);
    } finally {
      await new Promise<void>((res) => central.server.close(() => res()));
    }
  });
});
