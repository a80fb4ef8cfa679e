import { expect } from 'chai';
import { decodePayload } from '../../gateway/formats/index.ts';
import { createIngester } from '../../gateway/ingest/index.ts';
import { silentLogger } from '../../gateway/log/index.ts';
import { createSessions, type SessionRecord } from '../../gateway/sessions/index.ts';
import { FakeClock } from '../fakes/clock.ts';
import { memoryKv } from '../fakes/memory-kv.ts';
import { createFakeStore } from '../fakes/store.ts';
import { coverageOf } from '../fakes/coverage-data.ts';

/** Sessions over the fake store: the "scrape" they trigger hands the target's current counters to the ingester. */
function rig() {
  const store = createFakeStore();
  const clock = new FakeClock();
  const ingester = createIngester({ store, clock });
  const target = { id: 't1', job: 'orders', labels: { job: 'orders', service: 'orders' } };
  let counters = [0, 0, 0];
  const scrapes: unknown[] = [];
  const sessions = createSessions({
    kv: memoryKv<SessionRecord>(),
    store,
    clock,
    scrape: async (selector) => {
      scrapes.push(selector);
      const decoded = await decodePayload(JSON.stringify(coverageOf('/srv/app/a.js', counters)), { declaredFormat: 'auto', contentType: 'application/json', counters: 'cumulative' });
      await ingester.ingest({ decoded: { ...decoded, instance: 'i-1' }, source: 'scrape', target });
    },
    pushOnFinish: () => false,
    logger: silentLogger,
  });
  return {
    store,
    clock,
    sessions,
    scrapes,
    ingester,
    run(s: number[]) {
      counters = s;
    },
  };
}

describe('sessions over the fake store', () => {
  it('counts only what ran between start and finish (the baseline is what ran before)', async () => {
    const r = rig();
    await r.sessions.open();
    r.run([5, 0, 0]); // before the session
    const { session } = await r.sessions.start({ session: 's1', selector: { job: ['orders'] } });
    expect(session.state).to.equal('running');
    r.run([6, 1, 0]);
    r.clock.advance(60_000);
    const done = await r.sessions.finish({ session: 's1', selector: { job: ['orders'] } });
    expect(done.finishedNow).to.equal(true);
    expect(done.session.summary!.statements).to.include({ covered: 2, total: 3 });
    expect(r.scrapes).to.deep.equal([{ job: ['orders'] }, { job: ['orders'] }]);
  });

  it('is idempotent: finishing again neither scrapes nor recomputes', async () => {
    const r = rig();
    await r.sessions.open();
    r.run([1, 0, 0]);
    await r.sessions.start({ session: 's1', selector: { job: ['orders'] } });
    r.run([1, 1, 1]);
    const first = await r.sessions.finish({ session: 's1', selector: { job: ['orders'] } });
    r.run([9, 9, 9]);
    const again = await r.sessions.finish({ session: 's1', selector: { job: ['orders'] } });
    expect(again.finishedNow).to.equal(false);
    expect(again.session.summary).to.deep.equal(first.session.summary);
    expect(r.scrapes).to.have.length(2);
  });

  it('reads the store only through its reader: pushed targets are told apart by their source, not their id', async () => {
    const r = rig();
    await r.sessions.open();
    // A pushed target whose id has no push: prefix still counts as pushed (not scraped) because of its source.
    const decoded = await decodePayload(JSON.stringify(coverageOf('/srv/app/a.js', [1, 1, 1])), { declaredFormat: 'auto', contentType: 'application/json', counters: 'cumulative' });
    await r.ingester.ingest({ decoded, source: 'push', target: { id: 'pushed-without-prefix', job: 'orders', labels: { job: 'orders', service: 'orders' } } });
    r.run([0, 0, 0]);
    await r.sessions.start({ session: 's1', selector: { job: ['orders'] } });
    const done = await r.sessions.finish({ session: 's1', selector: { job: ['orders'] } });
    expect(done.session.targets).to.equal(1);
  });
});
