import { expect } from 'chai';
import { decodePayload } from '../../gateway/formats/index.ts';
import { createIngester } from '../../gateway/ingest/index.ts';
import { createCoverageQuery } from '../../gateway/merge/index.ts';
import { FakeClock } from '../fakes/clock.ts';
import { createFakeStore } from '../fakes/store.ts';
import { coverageOf } from '../fakes/coverage-data.ts';

async function seeded() {
  const store = createFakeStore();
  const ingester = createIngester({ store, clock: new FakeClock() });
  const put = async (id: string, service: string, instance: string, cov: object) => {
    const decoded = await decodePayload(JSON.stringify(cov), { declaredFormat: 'auto', contentType: 'application/json', counters: 'cumulative' });
    await ingester.ingest({ decoded: { ...decoded, instance }, source: 'scrape', target: { id, job: 'shop', labels: { job: 'shop', service } } });
  };
  return { store, put };
}

describe('merge: createCoverageQuery over the fake reader', () => {
  it('sums every lifetime of the selected targets (Istanbul merge by location)', async () => {
    const { store, put } = await seeded();
    await put('a', 'orders', 'i-1', coverageOf('/srv/o.js', [1, 0, 0]));
    await put('a', 'orders', 'i-2', coverageOf('/srv/o.js', [0, 2, 0])); // a restart: both lifetimes count
    await put('b', 'billing', 'i-1', coverageOf('/srv/b.js', [1]));
    const q = createCoverageQuery(store);
    const orders = q.coverage({ service: ['orders'] });
    expect(Object.keys(orders.map)).to.deep.equal(['/srv/o.js']);
    expect(orders.map['/srv/o.js']!.s).to.deep.equal({ 0: 1, 1: 2, 2: 0 });
    expect(orders.summary.statements).to.include({ covered: 2, total: 3 });
    expect(q.coverage({ job: ['shop'] }).summary.statements).to.include({ covered: 3, total: 4 });
  });

  it('changes its version when the reader\'s coverage changes, and only then', async () => {
    const { store, put } = await seeded();
    const q = createCoverageQuery(store);
    await put('a', 'orders', 'i-1', coverageOf('/srv/o.js', [1]));
    const v1 = q.version();
    await put('a', 'orders', 'i-1', coverageOf('/srv/o.js', [1])); // unchanged cumulative snapshot
    expect(q.version()).to.equal(v1);
    await put('a', 'orders', 'i-1', coverageOf('/srv/o.js', [2]));
    expect(q.version()).to.not.equal(v1);
  });

  it('lists services with their summaries', async () => {
    const { store, put } = await seeded();
    await put('a', 'orders', 'i-1', coverageOf('/srv/o.js', [1, 0]));
    await put('b', 'billing', 'i-1', coverageOf('/srv/b.js', [1]));
    const services = createCoverageQuery(store).services(false);
    expect(services.map((s) => [s.service, s.summary.statements.covered, s.summary.statements.total]).sort()).to.deep.equal([
      ['billing', 1, 1],
      ['orders', 1, 2],
    ]);
  });
});
