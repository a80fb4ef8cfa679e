import { expect } from 'chai';
import { createDiscoveryManager } from '../../gateway/discovery/manager.ts';
import { CovgateError } from '../../gateway/errors.ts';
import { leaseId, type Lease } from '../../gateway/registry/registry.ts';
import { REGISTRY_SOURCE_PREFIX } from '../../gateway/scrape/pool.ts';
import { registrationConfig, RegistryHarness, START } from './helpers.ts';

async function rejection(p: Promise<unknown>): Promise<CovgateError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a rejection').to.be.instanceOf(CovgateError);
  return err as CovgateError;
}

describe('registry/createRegistry', () => {
  let h: RegistryHarness;
  beforeEach(() => {
    h = new RegistryHarness();
  });
  afterEach(async () => {
    await h.dispose();
  });

  describe('register', () => {
    it('creates a lease that list() returns and LevelDB holds before it resolves', async () => {
      const reg = await h.open();
      const r = await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081', labels: { release: '2026.11' }, ttl: '30s' });
      expect(r.created).to.equal(true);
      expect(r.id).to.equal(leaseId('orders', 'http://127.0.0.1:8081'));
      expect(r.expiresAt).to.equal(START + 30_000);
      expect(reg.list()).to.deep.equal([
        {
          id: r.id,
          job: 'orders',
          url: 'http://127.0.0.1:8081',
          labels: { release: '2026.11' },
          ttlMs: 30_000,
          createdAt: START,
          renewedAt: START,
          expiresAt: START + 30_000,
        } satisfies Lease,
      ]);
      expect(await h.storedIds()).to.deep.equal([r.id]);
    });

    it('uses registration.default_ttl when no ttl is given', async () => {
      const reg = await h.open();
      const r = await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081' });
      expect(r.expiresAt).to.equal(START + 60_000);
    });

    it('renews on a second post: same id, later expiry, new labels, created false', async () => {
      const reg = await h.open();
      const first = await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081', labels: { release: 'a' } });
      h.now += 20_000;
      // the same target spelled differently is the same lease
      const again = await reg.register({ job: 'orders', url: 'HTTP://127.0.0.1:8081/', labels: { release: 'b' } });
      expect(again.id).to.equal(first.id);
      expect(again.created).to.equal(false);
      expect(again.expiresAt).to.equal(START + 20_000 + 60_000);
      expect(reg.list()).to.have.length(1);
      expect(reg.get(first.id)).to.include({ createdAt: START, renewedAt: START + 20_000 });
      expect(reg.get(first.id)!.labels).to.deep.equal({ release: 'b' });
    });

    it('gives another job or another URL its own lease', async () => {
      const reg = await h.open();
      const a = await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081' });
      const b = await reg.register({ job: 'payments', url: 'http://127.0.0.1:8081' });
      const c = await reg.register({ job: 'orders', url: 'http://127.0.0.1:8082' });
      expect(new Set([a.id, b.id, c.id]).size).to.equal(3);
    });

    const bad: Array<[string, Record<string, unknown>, RegExp]> = [
      ['a missing job', { url: 'http://127.0.0.1:1' }, /^job must be a non-empty string/],
      ['an empty job', { job: ' ', url: 'http://127.0.0.1:1' }, /^job must be a non-empty string/],
      ['a missing url', { job: 'j' }, /^url must be an http\(s\) URL/],
      ['a non-http url', { job: 'j', url: 'gopher://127.0.0.1:1' }, /^url must use http or https/],
      ['a bad port', { job: 'j', url: 'http://127.0.0.1:99999' }, /^url port must be 1-65535/],
      ['labels that are not an object', { job: 'j', url: 'http://127.0.0.1:1', labels: ['a'] }, /^labels must be an object/],
      ['a bad label name', { job: 'j', url: 'http://127.0.0.1:1', labels: { 'team-name': 'x' } }, /^labels: "team-name" is not a valid label name/],
      ['a reserved label', { job: 'j', url: 'http://127.0.0.1:1', labels: { __address__: '169.254.169.254:80' } }, /^labels: "__address__" is reserved/],
      ['a non-string label value', { job: 'j', url: 'http://127.0.0.1:1', labels: { n: 1 } }, /^labels\.n must be a string/],
      ['a conflicting job label', { job: 'j', url: 'http://127.0.0.1:1', labels: { job: 'other' } }, /^labels\.job "other" differs from job "j"/],
      ['a numeric ttl', { job: 'j', url: 'http://127.0.0.1:1', ttl: 60 }, /^ttl must be a duration string like "60s"/],
      ['a bad ttl', { job: 'j', url: 'http://127.0.0.1:1', ttl: '1 minute' }, /^ttl: bad duration "1 minute"/],
      ['a zero ttl', { job: 'j', url: 'http://127.0.0.1:1', ttl: '0' }, /^ttl must be at least 1s/],
      ['a ttl above max_ttl', { job: 'j', url: 'http://127.0.0.1:1', ttl: '2h' }, /^ttl 2h exceeds registration\.max_ttl 1h/],
    ];
    for (const [what, req, message] of bad) {
      it(`refuses ${what} with bad_data naming the field`, async () => {
        const reg = await h.open();
        const err = await rejection(reg.register(req as never));
        expect(err.errorType).to.equal('bad_data');
        expect(err.status).to.equal(400);
        expect(err.message).to.match(message);
        expect(reg.list()).to.deep.equal([]);
      });
    }

    it('refuses URLs outside the allowlist with forbidden and stores nothing', async () => {
      const reg = await h.open();
      for (const url of ['http://169.254.169.254/', 'http://192.168.1.1:80', 'http://metadata.google.internal/']) {
        const err = await rejection(reg.register({ job: 'j', url }));
        expect(err.status, url).to.equal(403);
        expect(err.message).to.include(`registration of ${url} refused`);
      }
      expect(await h.storedIds()).to.deep.equal([]);
    });

    it('refuses everything while registration.enabled is false', async () => {
      const reg = await h.open();
      h.config = registrationConfig({ enabled: false });
      const err = await rejection(reg.register({ job: 'j', url: 'http://127.0.0.1:1' }));
      expect(err.status).to.equal(403);
      expect(err.message).to.include('registration.enabled: false');
    });

    it('applies a reloaded max_ttl at once', async () => {
      const reg = await h.open();
      h.config = registrationConfig({ max_ttl: 10_000, default_ttl: 5_000 });
      await rejection(reg.register({ job: 'j', url: 'http://127.0.0.1:1', ttl: '11s' }));
      expect((await reg.register({ job: 'j', url: 'http://127.0.0.1:1' })).expiresAt).to.equal(START + 5_000);
    });

    it('refuses new leases beyond maxLeases but still renews existing ones', async () => {
      const reg = await h.open({ maxLeases: 1 });
      await reg.register({ job: 'j', url: 'http://127.0.0.1:1' });
      expect((await rejection(reg.register({ job: 'j', url: 'http://127.0.0.1:2' }))).status).to.equal(403);
      expect((await reg.register({ job: 'j', url: 'http://127.0.0.1:1' })).created).to.equal(false);
    });

    it('answers unavailable before open and after stop', async () => {
      const reg = await h.open();
      await reg.stop();
      expect((await rejection(reg.register({ job: 'j', url: 'http://127.0.0.1:1' }))).status).to.equal(503);
    });
  });

  describe('expiry', () => {
    it('removes a lease once its ttl passed, after exactly one final scrape', async () => {
      const reg = await h.open();
      const { id } = await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081', ttl: '10s' });
      reg.start();

      h.now = START + 9_999;
      expect(await reg.expireDue()).to.deep.equal([]);
      expect(h.finalScrapes).to.deep.equal([]);

      h.now = START + 10_000;
      expect(await reg.expireDue()).to.deep.equal([id]);
      expect(h.finalScrapes.map((l) => l.id)).to.deep.equal([id]);
      expect(reg.list()).to.deep.equal([]);
      expect(await h.storedIds()).to.deep.equal([]);

      expect(await reg.expireDue()).to.deep.equal([]);
      expect(h.finalScrapes).to.have.length(1);
    });

    it('runs from the scheduler once started', async () => {
      const reg = await h.open();
      await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081', ttl: '10s' });
      h.scheduler.fireAll();
      await new Promise((r) => setImmediate(r));
      expect(reg.list()).to.have.length(1, 'no sweep before start');

      reg.start();
      h.now += 10_000;
      h.scheduler.fireAll();
      for (let i = 0; i < 200 && reg.list().length > 0; i++) await new Promise((r) => setTimeout(r, 5));
      expect(reg.list()).to.deep.equal([]);
      expect(h.finalScrapes).to.have.length(1);
    });

    it('removes the lease even when the final scrape fails', async () => {
      const reg = await h.open();
      await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081', ttl: '10s' });
      h.finalScrape = async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:8081');
      };
      h.now += 10_000;
      expect(await reg.expireDue()).to.have.length(1);
      expect(reg.list()).to.deep.equal([]);
    });

    it('keeps a lease renewed before the sweep', async () => {
      const reg = await h.open();
      await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081', ttl: '10s' });
      h.now += 10_000;
      await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081', ttl: '10s' });
      expect(await reg.expireDue()).to.deep.equal([]);
      expect(h.finalScrapes).to.deep.equal([]);
    });

    it('lets a renewal that races the final scrape wait, then start a new lease', async () => {
      const reg = await h.open();
      await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081', ttl: '10s' });
      let release!: () => void;
      h.finalScrape = () => new Promise<void>((r) => (release = r));
      h.now += 10_000;
      const sweep = reg.expireDue();
      await new Promise((r) => setImmediate(r));
      const renewal = reg.register({ job: 'orders', url: 'http://127.0.0.1:8081', ttl: '10s' });
      await new Promise((r) => setImmediate(r));
      release();
      expect(await sweep).to.have.length(1);
      const r = await renewal;
      expect(r.created).to.equal(true);
      expect(reg.list()).to.have.length(1);
      expect(await h.storedIds()).to.deep.equal([r.id]);
    });
  });

  describe('deregister', () => {
    it('scrapes one last time while the target is still discovered, then removes the lease', async () => {
      const reg = await h.open();
      reg.start();
      const { id } = await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081' });
      let seenDuringScrape: string[] = [];
      h.finalScrape = async () => {
        seenDuringScrape = (h.discovery.lastSend('orders') ?? []).flatMap((g) => g.targets.map((t) => t.__meta_registration_id!));
      };
      const lease = await reg.deregister(id);
      expect(lease.id).to.equal(id);
      expect(seenDuringScrape).to.deep.equal([id]);
      expect(h.finalScrapes.map((l) => l.id)).to.deep.equal([id]);
      expect(reg.list()).to.deep.equal([]);
      expect(await h.storedIds()).to.deep.equal([]);
    });

    it('removes the lease even when the final scrape fails', async () => {
      const reg = await h.open();
      const { id } = await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081' });
      h.finalScrape = async () => {
        throw new Error('timeout');
      };
      await reg.deregister(id);
      expect(reg.list()).to.deep.equal([]);
    });

    it('answers not_found for an unknown id, without a final scrape', async () => {
      const reg = await h.open();
      const err = await rejection(reg.deregister('nope'));
      expect(err.status).to.equal(404);
      expect(err.errorType).to.equal('not_found');
      expect(h.finalScrapes).to.deep.equal([]);
    });
  });

  describe('restart', () => {
    it('keeps leases across a close and reopen of the LevelDB', async () => {
      const reg = await h.open();
      const a = await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081', labels: { release: 'x' }, ttl: '30s' });
      const b = await reg.register({ job: 'payments', url: 'http://orders.svc.cluster.local:9000/cov' });
      const before = reg.list();
      await h.close();

      const again = await h.open();
      expect(again.list()).to.deep.equal(before);
      expect(again.list().map((l) => l.id).sort()).to.deep.equal([a.id, b.id].sort());

      again.start();
      expect(h.discovery.calls).to.deep.equal(['add orders/registry', 'add payments/registry']);
      h.now += 30_000;
      expect(await again.expireDue()).to.deep.equal([a.id]);
    });
  });

  describe('discovery', () => {
    it('serves one group per job with address, scheme, path, id and labels', async () => {
      const reg = await h.open();
      const a = await reg.register({ job: 'orders', url: 'http://127.0.0.1:8081', labels: { release: '1' } });
      const b = await reg.register({ job: 'orders', url: 'https://orders.svc.cluster.local/metrics/cov?x=1' });
      const groups = reg.groups('orders');
      expect(groups).to.have.length(1);
      expect(groups[0]!.source).to.equal('registry/orders');
      expect(groups[0]!.source.startsWith(REGISTRY_SOURCE_PREFIX)).to.equal(true);
      const byId = new Map(groups[0]!.targets.map((t) => [t.__meta_registration_id, t]));
      expect(byId.get(a.id)).to.deep.equal({ release: '1', __address__: '127.0.0.1:8081', __scheme__: 'http', __meta_registration_id: a.id });
      expect(byId.get(b.id)).to.deep.equal({
        __address__: 'orders.svc.cluster.local:443',
        __scheme__: 'https',
        __coverage_path__: '/metrics/cov?x=1',
        __meta_registration_id: b.id,
      });
      expect(reg.groups('payments')).to.deep.equal([]);
    });

    it('adds a provider when a job appears, sends full sets, removes it with the last lease', async () => {
      const reg = await h.open();
      reg.start();
      const d = h.discovery;
      const a = await reg.register({ job: 'orders', url: 'http://127.0.0.1:1' });
      const b = await reg.register({ job: 'orders', url: 'http://127.0.0.1:2' });
      await reg.register({ job: 'payments', url: 'http://127.0.0.1:3' });
      expect(d.calls).to.deep.equal(['add orders/registry', 'add payments/registry']);
      const ids = (job: string) => (d.lastSend(job) ?? []).flatMap((g) => g.targets.map((t) => t.__meta_registration_id));
      expect(ids('orders')).to.have.members([a.id, b.id]);

      // a renewal that changes nothing sends nothing; one that changes labels sends the full set
      const sends = d.sends.length;
      await reg.register({ job: 'orders', url: 'http://127.0.0.1:1' });
      expect(d.sends.length).to.equal(sends);
      await reg.register({ job: 'orders', url: 'http://127.0.0.1:1', labels: { release: '2' } });
      expect(d.sends.length).to.equal(sends + 1);
      expect(ids('orders')).to.have.members([a.id, b.id]);

      await reg.deregister(a.id);
      expect(ids('orders')).to.deep.equal([b.id]);
      await reg.deregister(b.id);
      expect(d.calls).to.deep.equal(['add orders/registry', 'add payments/registry', 'remove orders/registry']);
      expect(d.providers.has('orders')).to.equal(false);
      expect(d.providers.has('payments')).to.equal(true);
      expect(h.changes).to.be.greaterThan(0);
    });

    it('plugs into the real discovery manager', async () => {
      const manager = createDiscoveryManager();
      await manager.start();
      try {
        const reg = await h.open({ discovery: manager });
        reg.start();
        const { id } = await reg.register({ job: 'adhoc', url: 'http://127.0.0.1:4000' });
        await manager.removeProvider('-', '-'); // operations run in order: the add is done after this one
        const sets = manager.current();
        expect(sets.get('adhoc')).to.deep.equal([
          { source: 'registry/adhoc', labels: {}, targets: [{ __address__: '127.0.0.1:4000', __scheme__: 'http', __meta_registration_id: id }] },
        ]);
        expect(manager.providers().map((p) => `${p.job}/${p.name}`)).to.deep.equal(['adhoc/registry']);

        await reg.deregister(id);
        await manager.removeProvider('-', '-');
        expect(manager.current().has('adhoc')).to.equal(false);
      } finally {
        await manager.stop();
      }
    });

    it('serves a hand-made discoverer the same full sets', async () => {
      const reg = await h.open({ discovery: undefined });
      const seen: number[] = [];
      const d = reg.discoverer('orders');
      await d.start((groups) => seen.push(groups.reduce((n, g) => n + g.targets.length, 0)));
      const { id } = await reg.register({ job: 'orders', url: 'http://127.0.0.1:1' });
      await reg.register({ job: 'orders', url: 'http://127.0.0.1:2' });
      await reg.deregister(id);
      await d.stop();
      await reg.register({ job: 'orders', url: 'http://127.0.0.1:3' });
      expect(seen).to.deep.equal([0, 1, 2, 1]);
    });
  });

  describe('start/stop', () => {
    it('is safe to stop before start and twice, and stops the sweep', async () => {
      const reg = await h.open();
      await reg.stop();
      await reg.stop();
      reg.start();
      expect(h.scheduler.jobs).to.equal(0);

      const h2 = new RegistryHarness();
      try {
        const r2 = await h2.open();
        r2.start();
        expect(h2.scheduler.jobs).to.equal(1);
        await r2.stop();
        await r2.stop();
        expect(h2.scheduler.jobs).to.equal(0);
      } finally {
        await h2.dispose();
      }
    });

    it('waits for a final scrape in flight and keeps the leases on disk', async () => {
      const reg = await h.open();
      reg.start();
      await reg.register({ job: 'orders', url: 'http://127.0.0.1:1', ttl: '10s' });
      await reg.register({ job: 'orders', url: 'http://127.0.0.1:2', ttl: '1h' });
      let release!: () => void;
      h.finalScrape = () => new Promise<void>((r) => (release = r));
      h.now += 10_000;
      const sweep = reg.expireDue();
      await new Promise((r) => setImmediate(r));
      let stopped = false;
      const stopping = reg.stop().then(() => (stopped = true));
      await new Promise((r) => setImmediate(r));
      expect(stopped).to.equal(false);
      release();
      await stopping;
      await sweep;
      expect(await h.storedIds()).to.have.length(1);
    });
  });
});
