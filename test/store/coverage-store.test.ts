import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { createCoverageStore } from '../../gateway/store/index.ts';
import { splitCoverageMap, summarize, type CoverageMapData } from '../../gateway/model/index.ts';
import type { AppendInput } from '../../gateway/store/index.ts';
import { coverageOf } from '../fakes/coverage-data.ts';

const cov = (s: number[]) => coverageOf('/srv/a.js', s) as unknown as CoverageMapData;

const target = { id: 't1', job: 'orders', labels: { job: 'orders', instance: '127.0.0.1:1', service: 'orders' }, source: 'scrape' as const };
function input(s: number[], extra: Partial<AppendInput> = {}): AppendInput {
  const { structures, snapshot } = splitCoverageMap(cov(s));
  return { target, counters: 'cumulative', structures, snapshot, ...extra };
}

function openStore(dir: string) {
  return createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
}

function stmtHits(store: ReturnType<typeof openStore>): number[] {
  const { map } = store.counterSet({ ids: ['t1'] }).toCoverageMap((h) => store.structure(h));
  return Object.values(map['/srv/a.js']!.s);
}

describe('store/createCoverageStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'covgate-store-'));
  });

  it('treats the newest cumulative snapshot of a lifetime as authoritative', async () => {
    const store = openStore(dir);
    await store.open();
    await store.append(input([1, 0, 0], { instance: 'A' }), 1000);
    const r = await store.append(input([2, 1, 0], { instance: 'A' }), 2000);
    expect(r).to.include({ newLifetime: false, restarted: false, changed: true });
    expect(stmtHits(store)).to.deep.equal([2, 1, 0]);
    await store.close();
  });

  it('sums lifetimes: a new instance or counters that went down keep the old coverage', async () => {
    const store = openStore(dir);
    await store.open();
    await store.append(input([5, 0, 0], { instance: 'A' }), 1000);
    const r1 = await store.append(input([0, 1, 0], { instance: 'B' }), 2000);
    expect(r1).to.include({ newLifetime: true, restarted: true });
    // Without an instance, a decrease starts a new lifetime too.
    await store.append(input([0, 0, 3]), 3000);
    const r2 = await store.append(input([0, 0, 1]), 4000);
    expect(r2.newLifetime).to.equal(true);
    expect(stmtHits(store)).to.deep.equal([5, 1, 4]);
    // A counter reset within one instance (POST /coverage/reset) is a new segment, not a loss.
    await store.append(input([1, 1, 1], { instance: 'C' }), 5000);
    const r3 = await store.append(input([0, 0, 1], { instance: 'C' }), 6000);
    expect(r3.lifetimeId).to.equal('i:C#2');
    expect(stmtHits(store)).to.deep.equal([6, 2, 6]);
    await store.close();
  });

  it('a file whose structure changes within one instance replaces it: no new lifetime, no restart', async () => {
    const store = openStore(dir);
    await store.open();
    await store.append(input([5, 0], { instance: 'A' }), 1000);
    const r = await store.append(input([6, 1, 1], { instance: 'A' }), 2000);
    expect(r).to.include({ newLifetime: false, restarted: false });
    expect(stmtHits(store)).to.deep.equal([6, 1, 1]);
    await store.close();
  });

  it('sums delta snapshots within a lifetime', async () => {
    const store = openStore(dir);
    await store.open();
    await store.append(input([1, 0, 0], { instance: 'A', counters: 'delta' }), 1000);
    await store.append(input([1, 2, 0], { instance: 'A', counters: 'delta' }), 2000);
    expect(stmtHits(store)).to.deep.equal([2, 2, 0]);
    await store.close();
  });

  it('reopens with everything that was acknowledged', async () => {
    let store = openStore(dir);
    await store.open();
    await store.append(input([1, 0, 0], { instance: 'A' }), 1000);
    await store.append(input([0, 2, 0], { instance: 'B' }), 2000);
    await store.close();
    store = openStore(dir);
    await store.open();
    expect(stmtHits(store)).to.deep.equal([1, 2, 0]);
    expect(store.targets().map((t) => t.id)).to.deep.equal(['t1']);
    expect(store.lifetimes('t1')).to.have.length(2);
    await store.close();
  });

  it('retention drops old snapshots and folds expired lifetimes without losing totals', async () => {
    const store = openStore(dir);
    await store.open();
    const day = 86_400_000;
    await store.append(input([1, 0, 0], { instance: 'old' }), 1 * day);
    await store.append(input([2, 0, 0], { instance: 'old' }), 2 * day);
    await store.append(input([0, 1, 0], { instance: 'new' }), 30 * day);
    await store.append(input([0, 3, 0], { instance: 'new' }), 31 * day);
    const before = summarize(store.counterSet({ ids: ['t1'] }).toCoverageMap((h) => store.structure(h)).map);
    const r = await store.retention(31 * day + 1, 21 * day);
    expect(r.foldedLifetimes).to.equal(1);
    expect(r.deletedSnapshots).to.equal(2);
    expect(stmtHits(store)).to.deep.equal([2, 3, 0]);
    await store.close();
    const again = openStore(dir);
    await again.open();
    expect(stmtHits(again)).to.deep.equal([2, 3, 0]);
    expect(again.lifetimes('t1').map((l) => l.id)).to.deep.equal(['i:new']);
    const after = summarize(again.counterSet({ ids: ['t1'] }).toCoverageMap((h) => again.structure(h)).map);
    expect(after).to.deep.equal(before);
    await again.close();
  });

  it('selects targets by labels, with comma alternatives', async () => {
    const store = openStore(dir);
    await store.open();
    await store.append(input([1, 0, 0]), 1000);
    await store.append({ ...input([0, 1, 0]), target: { id: 't2', job: 'web', labels: { job: 'web', instance: 'x:1', service: 'web' }, source: 'scrape' } }, 1000);
    const hits = (sel: Record<string, string[]>) =>
      Object.values(store.counterSet(sel).toCoverageMap((h) => store.structure(h)).map['/srv/a.js']?.s ?? {});
    expect(hits({ service: ['orders'] })).to.deep.equal([1, 0, 0]);
    expect(hits({ service: ['orders', 'web'] })).to.deep.equal([1, 1, 0]);
    expect(hits({ service: ['none'] })).to.deep.equal([]);
    await store.close();
  });
});
