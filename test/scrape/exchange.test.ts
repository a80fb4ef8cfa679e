import { expect } from 'chai';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { scrapeConfigDefaults } from '../../gateway/config/defaults.ts';
import { createIngester } from '../../gateway/ingest/index.ts';
import { silentLogger } from '../../gateway/log/index.ts';
import { ScrapeTarget } from '../../gateway/scrape/target.ts';
import { FakeClock } from '../fakes/clock.ts';
import { createFakeStore, type FakeStore } from '../fakes/store.ts';

/** A coverage target on 127.0.0.1:0 answering each request with what the test queued (or never answering). */
function scriptedTarget() {
  const seen: IncomingHttpHeaders[] = [];
  const replies: Array<((res: ServerResponse) => void) | 'hang'> = [];
  const hung: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.headers);
    const next = replies.shift();
    if (!next) return void res.writeHead(500).end('no reply queued');
    if (next === 'hang') return void hung.push(res);
    next(res);
  });
  return { server, seen, replies, hung };
}

const loc = (l: number) => ({ start: { line: l, column: 0 }, end: { line: l, column: 10 } });
const data = { '/srv/app/a.js': { path: '/srv/app/a.js', statementMap: { 0: loc(1), 1: loc(2) }, fnMap: {}, branchMap: {}, s: { 0: 1, 1: 0 }, f: {}, b: {} } };
const ENVELOPE = 'application/vnd.covgate.v1+json';
const full = (structure: string) => (res: ServerResponse) =>
  res.writeHead(200, { 'content-type': ENVELOPE, etag: '"v1"' }).end(JSON.stringify({ format: 'istanbul', instance: 'i-1', structure, data }));
const countersOnly = (structure: string, s: number[]) => (res: ServerResponse) =>
  res.writeHead(200, { 'content-type': ENVELOPE }).end(JSON.stringify({ format: 'istanbul', instance: 'i-1', structure, hits: { '/srv/app/a.js': { s, f: [], b: [] } } }));

describe('scrape: ScrapeTarget against a fake store (ETag, known structure, timeouts)', () => {
  let fake: ReturnType<typeof scriptedTarget>;
  let store: FakeStore;
  let clock: FakeClock;
  let url: string;

  const makeTarget = (source: 'discovered' | 'registered' = 'discovered', timeoutMs?: number) => {
    const config = { ...scrapeConfigDefaults(undefined, 'svc'), format: 'auto' } as ReturnType<typeof scrapeConfigDefaults>;
    return new ScrapeTarget(
      't1',
      { job: 'svc', instance: new URL(url).host },
      {},
      url,
      config,
      source,
      { http: axios.create(), ingester: createIngester({ store, clock }), clock, limit: (fn) => fn(), logger: silentLogger, userAgent: 'covgate-test' },
      config.scrape_interval,
      timeoutMs ?? config.scrape_timeout,
    );
  };

  beforeEach(async () => {
    fake = scriptedTarget();
    store = createFakeStore();
    clock = new FakeClock();
    await new Promise<void>((r) => fake.server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}/coverage`;
  });

  afterEach(async () => {
    for (const res of fake.hung) res.destroy();
    fake.server.closeAllConnections();
    await new Promise((r) => fake.server.close(r));
  });

  it('sends If-None-Match with the last ETag; a 304 is success and writes nothing', async () => {
    const target = makeTarget();
    fake.replies.push(full('S1'), (res) => res.writeHead(304).end());
    expect((await target.scrape()).result).to.equal('success');
    const second = await target.scrape();
    expect(second).to.include({ result: 'not_modified', health: 'up' });
    expect(fake.seen[0]!['if-none-match']).to.equal(undefined);
    expect(fake.seen[1]!['if-none-match']).to.equal('"v1"');
    expect(store.appends).to.have.length(1);
  });

  it('offers the known structure, and appends the counters-only reply against it', async () => {
    const target = makeTarget();
    fake.replies.push(full('S1'), countersOnly('S1', [5, 1]));
    await target.scrape();
    const r = await target.scrape();
    expect(r.result).to.equal('success');
    expect(fake.seen[1]!['x-covgate-known-structure']).to.equal('S1');
    expect(store.appends[1]!.input.snapshot['/srv/app/a.js']!.counters.s).to.deep.equal([5, 1]);
  });

  it('scrapes again without the header when the store lost the structure (COVGATE_STRUCTURE_UNKNOWN), in the same scrape', async () => {
    const target = makeTarget();
    fake.replies.push(full('S1'));
    await target.scrape();
    store.forgetStructures();
    // The envelope files are still known, so the header is offered; the reply cannot be resolved.
    fake.replies.push(countersOnly('S1', [5, 1]), full('S1'));
    const r = await target.scrape();
    expect(r).to.include({ result: 'success', health: 'up' });
    expect(fake.seen).to.have.length(3);
    expect(fake.seen[1]!['x-covgate-known-structure']).to.equal('S1');
    expect(fake.seen[2]!['x-covgate-known-structure'], 'the retry asks for the full data').to.equal(undefined);
    expect(fake.seen[2]!['if-none-match'], 'and forgets the ETag').to.equal(undefined);
    expect(store.appends).to.have.length(2);
  });

  it('marks the target down with a timeout when the target does not answer within scrape_timeout; the last snapshot stays', async () => {
    const target = makeTarget('discovered', 50);
    fake.replies.push(full('S1'), 'hang');
    await target.scrape();
    const r = await target.scrape();
    expect(r).to.include({ result: 'timeout', health: 'down' });
    expect(target.lastError).to.match(/timeout|timed out/i);
    expect(store.appends).to.have.length(1);
    expect(store.counterSet({ ids: ['t1'] }).paths()).to.deep.equal(['/srv/app/a.js']);
  });

  it('hands the payload over with its origin: registered targets are stored as registration, discovered ones as scrape', async () => {
    fake.replies.push(full('S1'));
    await makeTarget('registered').scrape();
    expect(store.target('t1')?.source).to.equal('registration');
    fake.replies.push(full('S1'));
    await makeTarget('discovered').scrape();
    expect(store.target('t1')?.source).to.equal('scrape');
  });

  it('reports a refused write as it is (not as bad data) and keeps nothing', async () => {
    const target = makeTarget();
    store.failWrites('ENOSPC');
    fake.replies.push(full('S1'));
    const r = await target.scrape();
    expect(r).to.include({ result: 'error', health: 'down' });
    expect(r.error).to.match(/not writable: ENOSPC$/);
    expect(store.appends).to.have.length(0);
  });
});
