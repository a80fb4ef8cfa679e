import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { createCoverageStore, withSource } from '../../gateway/store/index.ts';
import { enc } from '../../gateway/store/keys.ts';
import { isPushTarget } from '../../gateway/ingest/index.ts';

describe('store: where a target came from (StoredTarget.source)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'covgate-source-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('persists the source an append names, across a reopen', async () => {
    let store = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await store.open();
    for (const [id, source] of [['a', 'scrape'], ['push:b', 'push'], ['c', 'registration']] as const) {
      await store.append({ target: { id, job: 'j', labels: { job: 'j' }, source }, counters: 'cumulative', structures: new Map(), snapshot: {} }, 1000);
    }
    await store.close();
    store = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await store.open();
    expect(Object.fromEntries(store.targets().map((t) => [t.id, t.source]))).to.deep.equal({ a: 'scrape', 'push:b': 'push', c: 'registration' });
    expect(store.targets().filter(isPushTarget).map((t) => t.id)).to.deep.equal(['push:b']);
    await store.close();
  });

  it('infers the source of records written by older versions from the legacy push: id prefix', async () => {
    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    await db.open();
    const targets = db.sublevel<string, unknown>('targets', { valueEncoding: 'json' });
    await targets.put(enc('push:old'), { id: 'push:old', job: 'j', labels: { job: 'j' }, firstSeen: 1, lastSeen: 1 });
    await targets.put(enc('scraped'), { id: 'scraped', job: 'j', labels: { job: 'j' }, firstSeen: 1, lastSeen: 1 });
    await db.close();
    const store = createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    await store.open();
    expect(store.target('push:old')?.source).to.equal('push');
    expect(store.target('scraped')?.source).to.equal('scrape');
    await store.close();
  });

  it('withSource keeps a persisted source, whatever the id says', () => {
    expect(withSource({ id: 'push:x', job: 'j', labels: {}, firstSeen: 1, lastSeen: 1, source: 'registration' as const }).source).to.equal('registration');
  });
});
