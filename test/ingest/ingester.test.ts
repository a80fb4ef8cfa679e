import { expect } from 'chai';
import { createIngester, foldedInstance, isPushTarget } from '../../gateway/ingest/index.ts';
import { decodePayload } from '../../gateway/formats/index.ts';
import { isCovgateError } from '../../gateway/errors.ts';
import { FakeClock } from '../fakes/clock.ts';
import { createFakeStore } from '../fakes/store.ts';

const loc = (l: number) => ({ start: { line: l, column: 0 }, end: { line: l, column: 10 } });
const fileCoverage = (s: number[]) => ({
  path: '/srv/app/a.js',
  statementMap: Object.fromEntries(s.map((_, i) => [i, loc(i + 1)])),
  fnMap: { 0: { name: 'main', decl: loc(1), loc: loc(1), line: 1 } },
  branchMap: {},
  s: Object.fromEntries(s.map((n, i) => [i, n])),
  f: { 0: 1 },
  b: {},
});
const envelope = (extra: Record<string, unknown>) => JSON.stringify({ format: 'istanbul', instance: 'i-1', ...extra });
const decode = (body: string, contentType = 'application/vnd.covgate.v1+json') => decodePayload(body, { declaredFormat: 'auto', contentType, counters: 'cumulative' });
const target = { id: 't1', job: 'orders', labels: { job: 'orders', service: 'orders' } };

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('ingest: createIngester (the only writer)', () => {
  it('appends a decoded payload with its origin, at the injected clock\'s time', async () => {
    const store = createFakeStore();
    const clock = new FakeClock(5_000);
    const ingester = createIngester({ store, clock });
    const r = await ingester.ingest({ decoded: await decode(envelope({ data: { '/srv/app/a.js': fileCoverage([1, 0]) } })), source: 'registration', target });
    expect(r).to.include({ lifetimeId: 'i-1', newLifetime: true, changed: true, files: 1 });
    expect(store.appends).to.have.length(1);
    const [{ input, now }] = store.appends;
    expect(now).to.equal(5_000);
    expect(input.target).to.deep.equal({ ...target, source: 'registration' });
    expect(input.counters).to.equal('cumulative');
    expect(Object.keys(input.snapshot)).to.deep.equal(['/srv/app/a.js']);
    expect(input.snapshot['/srv/app/a.js']!.counters.s).to.deep.equal([1, 0]);
    expect(store.target('t1')?.source).to.equal('registration');
  });

  it('folds a push without an instance into one accumulating lifetime per build; scrapes are not folded', async () => {
    const store = createFakeStore();
    const ingester = createIngester({ store, clock: new FakeClock() });
    const body = JSON.stringify({ '/srv/app/a.js': fileCoverage([1, 0]) });
    const push = { id: 'push:x', job: 'batch', labels: { job: 'batch' } };
    await ingester.ingest({ decoded: await decode(body, 'application/json'), source: 'push', target: push });
    await ingester.ingest({ decoded: await decode(body, 'application/json'), source: 'push', target: push });
    const [first, second] = store.appends;
    expect(first!.input.instance).to.equal(foldedInstance(first!.input.snapshot));
    expect(first!.input.counters).to.equal('delta');
    expect(second!.result).to.include({ newLifetime: false, lifetimeId: first!.result.lifetimeId });
    expect(store.counterSet({ ids: ['push:x'] }).toJSON()['/srv/app/a.js']).to.deep.include({
      [first!.input.snapshot['/srv/app/a.js']!.structure]: { s: [2, 0], f: [2], b: [] },
    });
    expect(store.targets().filter(isPushTarget).map((t) => t.id)).to.deep.equal(['push:x']);

    await ingester.ingest({ decoded: await decode(body, 'application/json'), source: 'scrape', target });
    expect(store.appends[2]!.input).to.include({ instance: undefined, counters: 'cumulative' });
  });

  it('resolves a counters-only reply against the structure the target sent before', async () => {
    const store = createFakeStore();
    const ingester = createIngester({ store, clock: new FakeClock() });
    await ingester.ingest({ decoded: await decode(envelope({ structure: 'S1', data: { '/srv/app/a.js': fileCoverage([1, 0]) } })), source: 'scrape', target });
    expect(ingester.knownStructure('t1', 'S1')).to.equal('S1');
    expect(ingester.knownStructure('other', 'S1'), 'scoped per target').to.equal(undefined);
    const r = await ingester.ingest({ decoded: await decode(envelope({ structure: 'S1', hits: { '/srv/app/a.js': { s: [4, 2], f: [3], b: [] } } })), source: 'scrape', target });
    expect(r.changed).to.equal(true);
    expect(store.appends[1]!.input.snapshot['/srv/app/a.js']!.counters).to.deep.equal({ s: [4, 2], f: [3], b: [] });
  });

  it('rejects a counters-only reply for a structure the store does not hold with COVGATE_STRUCTURE_UNKNOWN, writing nothing', async () => {
    const store = createFakeStore();
    const ingester = createIngester({ store, clock: new FakeClock() });
    const err = await rejection(ingester.ingest({ decoded: await decode(envelope({ structure: 'S9', hits: { '/srv/app/a.js': { s: [1], f: [1], b: [] } } })), source: 'scrape', target }));
    expect(isCovgateError(err) && err.code).to.equal('COVGATE_STRUCTURE_UNKNOWN');
    expect(isCovgateError(err) && err.retryable).to.equal(true);
    expect(store.writes).to.deep.equal([]);
    expect(store.targets()).to.deep.equal([]);
  });

  it('rejects counters that do not fit their structure with COVGATE_BAD_COVERAGE naming the file, writing nothing', async () => {
    const store = createFakeStore();
    const ingester = createIngester({ store, clock: new FakeClock() });
    await ingester.ingest({ decoded: await decode(envelope({ structure: 'S1', data: { '/srv/app/a.js': fileCoverage([1, 0]) } })), source: 'scrape', target });
    const err = await rejection(ingester.ingest({ decoded: await decode(envelope({ structure: 'S1', hits: { '/srv/app/a.js': { s: [1, 2, 3], f: [1], b: [] } } })), source: 'scrape', target }));
    expect(isCovgateError(err) && err.code).to.equal('COVGATE_BAD_COVERAGE');
    expect((err as Error).message).to.match(/\/srv\/app\/a\.js.*s 3\/2/);
    expect(store.appends).to.have.length(1);
  });

  it('passes a refused write on as the store raised it (COVGATE_UNAVAILABLE), acknowledging nothing', async () => {
    const store = createFakeStore();
    store.failWrites('ENOSPC');
    const ingester = createIngester({ store, clock: new FakeClock() });
    const err = await rejection(ingester.ingest({ decoded: await decode(envelope({ data: { '/srv/app/a.js': fileCoverage([1]) } })), source: 'scrape', target }));
    expect(isCovgateError(err) && err.code).to.equal('COVGATE_UNAVAILABLE');
    expect(store.writes).to.deep.equal([]);
  });
});
