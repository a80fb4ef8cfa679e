import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { scrapeConfigDefaults } from '../../gateway/config/defaults.ts';
import { silentLogger } from '../../gateway/log/index.ts';
import { ScrapeTarget } from '../../gateway/scrape/target.ts';
import { createIngester } from '../../gateway/ingest/index.ts';
import { FakeClock } from '../fakes/clock.ts';
import { createFakeStore } from '../fakes/store.ts';
import type { ScrapeResult } from '../../gateway/scrape/types.ts';

/**
 * A fake coverage target: counts requests and holds each response until the
 * test releases it, so a test can tell which calls began which scrapes
 * without depending on timing.
 */
function heldTarget() {
  const held: ServerResponse[] = [];
  let requests = 0;
  let waiters: Array<{ n: number; resolve: () => void }> = [];
  const server: Server = createServer((_req: IncomingMessage, res: ServerResponse) => {
    requests++;
    held.push(res);
    const ready = waiters.filter((w) => requests >= w.n);
    waiters = waiters.filter((w) => requests < w.n);
    for (const w of ready) w.resolve();
  });
  return {
    server,
    get requests() {
      return requests;
    },
    /** Resolves once `n` requests have arrived in total. */
    arrived: (n: number) => new Promise<void>((resolve) => (requests >= n ? resolve() : waiters.push({ n, resolve }))),
    /** Answers the oldest held request with an lcov body whose hit count says which request it was. */
    release() {
      const res = held.shift();
      if (!res) throw new Error('no held request');
      const n = requests - held.length;
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`TN:\nSF:/srv/a.js\nDA:1,${n}\nLF:1\nLH:1\nend_of_record\n`);
    },
    heldCount: () => held.length,
  };
}

/** True once the promise settled (checked after draining pending I/O callbacks, not a timer race). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('scrape/ScrapeTarget scrape-now', () => {
  const clock = new FakeClock();
  let fake: ReturnType<typeof heldTarget>;
  let target: ScrapeTarget;

  beforeEach(async () => {
    fake = heldTarget();
    await new Promise<void>((r) => fake.server.listen(0, '127.0.0.1', r));
    const { port } = fake.server.address() as AddressInfo;
    const config = { ...scrapeConfigDefaults(undefined, 'svc'), format: 'lcov' } as ReturnType<typeof scrapeConfigDefaults>;
    const url = `http://127.0.0.1:${port}/coverage`;
    target = new ScrapeTarget('t1', { job: 'svc', instance: `127.0.0.1:${port}` }, {}, url, config, 'discovered', {
      http: axios.create(),
      ingester: createIngester({ store: createFakeStore(), clock }),
      clock,
      limit: (fn) => fn(),
      logger: silentLogger,
      userAgent: 'covgate-test',
    });
  });

  afterEach(async () => {
    fake.server.closeAllConnections();
    await new Promise((r) => fake.server.close(r));
  });

  it('an explicit scrape during one in flight waits for it and then begins a new request', async () => {
    const first = target.scrape('join'); // the interval loop's scrape
    await fake.arrived(1);
    const explicit = target.scrape('fresh');
    expect(await settled(explicit)).to.equal(false);
    fake.release(); // the first scrape finishes; the explicit one must not resolve with it
    const r1: ScrapeResult = await first;
    expect(r1.result).to.equal('success');
    await fake.arrived(2);
    expect(await settled(explicit)).to.equal(false);
    expect(fake.requests).to.equal(2);
    fake.release();
    expect((await explicit).result).to.equal('success');
    expect(fake.requests).to.equal(2);
  });

  it('explicit calls arriving during one in-flight scrape share the single follow-up', async () => {
    const first = target.scrape('fresh');
    await fake.arrived(1);
    const a = target.scrape('fresh');
    const b = target.scrape('fresh');
    const c = target.scrape('fresh');
    fake.release();
    await first;
    await fake.arrived(2);
    fake.release();
    await Promise.all([a, b, c]);
    expect(fake.requests).to.equal(2);
  });

  it('the interval loop joins a scrape in flight instead of starting another', async () => {
    const explicit = target.scrape('fresh');
    await fake.arrived(1);
    const loop = target.scrape('join');
    expect(loop).to.equal(explicit);
    fake.release();
    await Promise.all([explicit, loop]);
    expect(fake.requests).to.equal(1);
  });

  it('an explicit call after the follow-up began waits for yet another scrape', async () => {
    const first = target.scrape('fresh');
    await fake.arrived(1);
    const a = target.scrape('fresh');
    fake.release();
    await first;
    await fake.arrived(2); // a's follow-up is now in flight
    const b = target.scrape('fresh');
    fake.release();
    await a;
    expect(await settled(b)).to.equal(false);
    await fake.arrived(3);
    fake.release();
    await b;
    expect(fake.requests).to.equal(3);
  });

  it('with nothing in flight an explicit scrape makes exactly one request', async () => {
    const r = target.scrape('fresh');
    await fake.arrived(1);
    fake.release();
    expect((await r).result).to.equal('success');
    expect(fake.requests).to.equal(1);
  });
});
