import { expect } from 'chai';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { createCoverageStore } from '../../gateway/store/index.ts';
import { snapshotKey, lifetimeKey, enc } from '../../gateway/store/keys.ts';
import { encodeKeyframe, encodeNext } from '../../gateway/store/snapshot-codec.ts';
import type { Snapshot } from '../../gateway/model/index.ts';

/** One file of 4,000 statements; `touched` statements have run `round` times. */
function snapshot(round: number, touched: number[]): Snapshot {
  const s = new Array(4000).fill(0);
  for (const i of touched) s[i] = round;
  return { '/srv/app/big.js': { structure: 'big', counters: { s, f: [round], b: [[round, 0]] } } };
}
const structure = {
  path: '/srv/app/big.js',
  statementMap: Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [i, { start: { line: i + 1, column: 0 }, end: { line: i + 1, column: 9 } }])),
  fnMap: { 0: { name: 'f', decl: { start: { line: 1, column: 0 }, end: { line: 1, column: 1 } }, loc: { start: { line: 1, column: 0 }, end: { line: 1, column: 1 } }, line: 1 } },
  branchMap: { 0: { type: 'if', loc: { start: { line: 2, column: 0 }, end: { line: 2, column: 1 } }, locations: [{ start: { line: 2, column: 0 }, end: { line: 2, column: 1 } }, { start: { line: 3, column: 0 }, end: { line: 3, column: 1 } }], line: 2 } },
};
const target = { id: 't1', job: 'orders', labels: { job: 'orders', service: 'orders' }, source: 'scrape' as const };

function du(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) n += statSync(join(dir, f)).size;
  return n;
}

describe('store: packed snapshot history', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'covgate-packed-'));
  });

  it('a long history (keyframes and deltas) reopens with exactly the newest counters', async () => {
    let store = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await store.open();
    let last: Snapshot = {};
    const s = new Array(4000).fill(0);
    for (let round = 1; round <= 150; round++) {
      // Cumulative counters: a few statements run a little more each round, one jumps past 2^31.
      for (const i of [round % 4000, (round * 7) % 4000, 3999]) s[i] += round;
      if (round === 100) s[5] = 2 ** 40;
      last = { '/srv/app/big.js': { structure: 'big', counters: { s: s.slice(), f: [round], b: [[round, 0]] } } };
      await store.append({ target, counters: 'cumulative', structures: new Map([['big', structure]]), snapshot: last }, round * 1000);
    }
    const before = store.lifetimeSnapshots(['t1']);
    await store.close();
    store = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await store.open();
    expect([...store.lifetimeSnapshots(['t1']).get('t1')!.values()]).to.deep.equal([...before.get('t1')!.values()]);
    expect(before.get('t1')!.size).to.equal(1);
    expect([...before.get('t1')!.values()][0]).to.deep.equal(last);
    // Appending after the reopen continues the chain.
    const next = snapshot(151, [1, 2, 3]);
    await store.append({ target, counters: 'cumulative', structures: new Map(), snapshot: next }, 151_000);
    await store.close();
    store = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await store.open();
    expect([...store.lifetimeSnapshots(['t1']).get('t1')!.values()][0]).to.deep.equal(next);
    await store.close();
  });

  it('reads the JSON snapshots of older versions, and migrates them to a keyframe on the next change or retention', async () => {
    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    await db.open();
    const old = snapshot(5, [10, 20]);
    const key = snapshotKey('t1', 'a:old', 1000, 0);
    const sub = (name: string) => db.sublevel<string, unknown>(name, { valueEncoding: 'json' });
    await sub('structures').put('big', structure);
    await sub('targets').put(enc('t1'), { ...target, firstSeen: 1000, lastSeen: 1000, current: 'a:old' });
    await sub('lifetimes').put(lifetimeKey('t1', 'a:old'), { targetId: 't1', id: 'a:old', firstSeen: 1000, lastSeen: 1000, latestKey: key, restarts: 0 });
    await sub('snapshots').put(key, old);
    await sub('snapshots').put(snapshotKey('t1', 'a:old', 500, 0), snapshot(1, [10]));
    await db.close();

    let store = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await store.open();
    expect([...store.lifetimeSnapshots(['t1']).get('t1')!.values()][0]).to.deep.equal(old);
    // Retention trims the older legacy value and rewrites the newest as a packed keyframe.
    const r = await store.retention(2000, 1000);
    expect(r.deletedSnapshots).to.equal(1);
    await store.close();
    store = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await store.open();
    expect([...store.lifetimeSnapshots(['t1']).get('t1')!.values()][0]).to.deep.equal(old);
    const next = snapshot(6, [10, 20, 30]);
    const res = await store.append({ target, counters: 'cumulative', structures: new Map(), snapshot: next }, 3000);
    expect(res.newLifetime).to.equal(false);
    await store.close();
    store = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await store.open();
    expect([...store.lifetimeSnapshots(['t1']).get('t1')!.values()][0]).to.deep.equal(next);
    await store.close();
  });

  it('reads a chain longer than the store writes (more deltas than one read fetches) back to its keyframe', async () => {
    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    await db.open();
    const packed = db.sublevel<string, Buffer>('packed', { valueEncoding: 'buffer' });
    let prev = snapshot(1, [1]);
    await packed.put(snapshotKey('t1', 'a:long', 1000, 0), encodeKeyframe(prev));
    let latestKey = '';
    for (let i = 1; i <= 150; i++) {
      const next = snapshot(1 + i, [1, i % 4000]);
      latestKey = snapshotKey('t1', 'a:long', 1000 + i, i);
      await packed.put(latestKey, encodeNext(prev, next)!);
      prev = next;
    }
    await db.sublevel<string, unknown>('structures', { valueEncoding: 'json' }).put('big', structure);
    await db.sublevel<string, unknown>('targets', { valueEncoding: 'json' }).put(enc('t1'), { ...target, firstSeen: 1000, lastSeen: 1150, current: 'a:long' });
    await db
      .sublevel<string, unknown>('lifetimes', { valueEncoding: 'json' })
      .put(lifetimeKey('t1', 'a:long'), { targetId: 't1', id: 'a:long', firstSeen: 1000, lastSeen: 1150, latestKey, restarts: 0 });
    await db.close();
    const store = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await store.open();
    expect([...store.lifetimeSnapshots(['t1']).get('t1')!.values()][0]).to.deep.equal(prev);
    await store.close();
  });

  it("remembers each target's last envelope structure id across a reopen, for the first scrape after a restart", async () => {
    let store = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await store.open();
    const snap = snapshot(1, [1]);
    await store.append({ target, counters: 'cumulative', structures: new Map([['big', structure]]), snapshot: snap, envelope: { id: 'env-1', files: { '/srv/app/big.js': 'big' } } }, 1000);
    // A later snapshot without an envelope keeps the id (the structure exchange still applies).
    await store.append({ target, counters: 'cumulative', structures: new Map(), snapshot: snapshot(2, [1]) }, 2000);
    expect(store.knownStructureId('t1')).to.equal('env-1');
    expect(store.knownStructureId('other')).to.equal(undefined);
    await store.close();
    store = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await store.open();
    expect(store.knownStructureId('t1')).to.equal('env-1');
    expect(store.envelopeFiles('t1', 'env-1')).to.deep.equal({ '/srv/app/big.js': 'big' });
    // Bookkeeping, not part of the target as readers see it.
    expect(store.target('t1')).to.not.have.property('structureId');
    expect(store.targets()[0]).to.not.have.property('structureId');
    await store.close();
  });

  it('retention deletes history and compaction gives the disk space back', async () => {
    const store = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await store.open();
    // 40 lifetimes of a 4k-statement file (keyframes of ~4 kB each) plus repeat deltas.
    for (let life = 0; life < 40; life++) {
      for (let round = 1; round <= 5; round++) {
        await store.append(
          { target, instance: `pod-${life}`, counters: 'cumulative', structures: new Map([['big', structure]]), snapshot: snapshot(round, Array.from({ length: 2000 }, (_, i) => (i * 2 + life) % 4000)) },
          life * 100 + round,
        );
      }
    }
    const full = [...store.lifetimeSnapshots(['t1']).get('t1')!.values()];
    const totalBefore = JSON.stringify(store.counterSet({ ids: ['t1'] }).toJSON());
    await store.close();
    const sizeBefore = du(dir);
    const reopened = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await reopened.open();
    const r = await reopened.retention(100_000, 10);
    expect(r.foldedLifetimes).to.equal(39); // the current lifetime stays
    expect(JSON.stringify(reopened.counterSet({ ids: ['t1'] }).toJSON())).to.equal(totalBefore);
    await reopened.close();
    const sizeAfter = du(dir);
    expect(full).to.have.length(40);
    expect(sizeAfter, `${sizeBefore} → ${sizeAfter} bytes`).to.be.below(sizeBefore / 2);
  });
});
