import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { scrapeConfigDefaults } from '../../gateway/config/defaults.ts';
import type { ScrapeConfig } from '../../gateway/config/types.ts';
import { createDiscoveryManager, type DiscoveryManager, type ProviderSpec, type TargetSets } from '../../gateway/discovery/manager.ts';
import type { DiscoveryLogger, HttpGet, TargetGroup } from '../../gateway/discovery/types.ts';
import { startFakeKubernetesApi } from '../fakes/kubernetes-api.ts';
import { k8sFixture } from '../fixtures/kubernetes/expected.ts';
import { addresses, fakeDiscoverer, group } from './helpers.ts';

/** A defaulted scrape config (the loader's own defaults) with overrides. */
function job(name: string, partial: Partial<ScrapeConfig> = {}): ScrapeConfig {
  return { ...scrapeConfigDefaults(undefined, name), ...partial };
}

/** Addresses per job, for compact assertions. */
function view(sets: TargetSets): Record<string, string[]> {
  return Object.fromEntries([...sets].map(([j, groups]) => [j, addresses(groups)]));
}

/** Resolves after pending setImmediate callbacks (the manager's coalescing window) ran. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('createDiscoveryManager', () => {
  const managers: DiscoveryManager[] = [];
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.stop()));
  });

  /** A manager whose config providers are fakes, recorded by name. */
  function withFakes(extra: Parameters<typeof createDiscoveryManager>[0] = {}) {
    const built: Array<{ spec: ProviderSpec; fake: ReturnType<typeof fakeDiscoverer> }> = [];
    const m = createDiscoveryManager({
      ...extra,
      providerFactoryForTests: (spec) => {
        const initial: TargetGroup[] =
          spec.kind === 'static'
            ? spec.configs.map((c, i) => ({ source: `static/${i}`, labels: { ...c.labels }, targets: c.targets.map((t) => ({ __address__: t })) }))
            : [];
        const fake = fakeDiscoverer(initial);
        built.push({ spec, fake });
        return fake.discoverer;
      },
    });
    managers.push(m);
    const notes: TargetSets[] = [];
    m.subscribe((s) => notes.push(s));
    return { m, built, notes };
  }

  it('notifies the full map of every configured job once started, including jobs without targets', async () => {
    const { m, notes } = withFakes();
    await m.applyConfig([
      job('orders', { static_configs: [{ targets: ['a:1', 'a:2'], labels: { env: 'x' } }] }),
      job('empty'),
    ]);
    expect(notes).to.deep.equal([]); // not started yet
    await m.start();
    m.flush();
    expect(notes).to.have.length(1);
    expect(view(notes[0]!)).to.deep.equal({ orders: ['a:1', 'a:2'], empty: [] });
    expect(view(m.current())).to.deep.equal(view(notes[0]!));
  });

  it('coalesces a burst of sends into one notification carrying the full map', async () => {
    const { m, notes } = withFakes();
    await m.applyConfig([job('orders'), job('billing')]);
    await m.start();
    m.flush();
    const a = fakeDiscoverer();
    const b = fakeDiscoverer();
    await m.addProvider('orders', 'a', a.discoverer);
    await m.addProvider('billing', 'b', b.discoverer);
    m.flush();
    notes.length = 0;

    a.push([group('a/0', 'a:1')]);
    a.push([group('a/0', 'a:1', 'a:2')]);
    b.push([group('b/0', 'b:1')]);
    await turn();
    expect(notes).to.have.length(1);
    expect(view(notes[0]!)).to.deep.equal({ orders: ['a:1', 'a:2'], billing: ['b:1'] });
  });

  it('treats every send as the provider\'s full set: a group left out is gone', async () => {
    const { m, notes } = withFakes();
    await m.start();
    const p = fakeDiscoverer([group('g1', 'a:1'), group('g2', 'b:1')]);
    await m.addProvider('orders', 'reg', p.discoverer);
    m.flush();
    expect(view(notes.at(-1)!)).to.deep.equal({ orders: ['a:1', 'b:1'] });
    p.push([group('g2', 'b:1')]);
    m.flush();
    expect(view(notes.at(-1)!)).to.deep.equal({ orders: ['b:1'] });
    p.push([]);
    m.flush();
    expect(view(notes.at(-1)!)).to.deep.equal({ orders: [] });
  });

  it('keeps providers whose config did not change across applyConfig, restarting only changed ones', async () => {
    const { m, built } = withFakes();
    const v1 = [
      job('orders', {
        static_configs: [{ targets: ['a:1'], labels: {} }],
        file_sd_configs: [{ files: ['t/*.json'], refresh_interval: 300_000 }],
        goc_sd_configs: [{ server: 'http://goc:7777', refresh_interval: 60_000 }],
      }),
      job('billing', { static_configs: [{ targets: ['b:1'], labels: {} }] }),
    ];
    await m.applyConfig(v1);
    await m.start();
    expect(built.map((b) => `${b.spec.job}:${b.spec.name}`)).to.deep.equal(['orders:static', 'orders:file_sd/0', 'orders:goc_sd/0', 'billing:static']);
    expect(built.every((b) => b.fake.starts === 1)).to.equal(true);

    // Same discovery, new objects, other settings changed: nothing restarts.
    await m.applyConfig(structuredClone(v1).map((c) => ({ ...c, scrape_interval: 5_000, relabel_configs: [] })));
    expect(built).to.have.length(4);
    expect(built.map((b) => [b.fake.starts, b.fake.stops])).to.deep.equal([[1, 0], [1, 0], [1, 0], [1, 0]]);

    // Change only orders' static targets: only that provider is replaced.
    const v2 = structuredClone(v1);
    v2[0]!.static_configs = [{ targets: ['a:9'], labels: {} }];
    await m.applyConfig(v2);
    expect(built).to.have.length(5);
    expect(built.map((b) => [b.fake.starts, b.fake.stops])).to.deep.equal([[1, 1], [1, 0], [1, 0], [1, 0], [1, 0]]);
    expect(view(m.current())).to.deep.equal({ orders: ['a:9'], billing: ['b:1'] });

    // Inserting a file_sd entry before the existing one keeps the existing one (matched by config, not index).
    const v3 = structuredClone(v2);
    v3[0]!.file_sd_configs.unshift({ files: ['other/*.yml'], refresh_interval: 300_000 });
    await m.applyConfig(v3);
    expect(built).to.have.length(6);
    expect(built[1]!.fake.stops).to.equal(0);
    expect(m.providers().filter((p) => p.job === 'orders').map((p) => p.name)).to.deep.equal(['static', 'file_sd/0', 'file_sd/1', 'goc_sd/0']);

    // Removing a job stops its providers and takes it out of the map.
    await m.applyConfig(v3.slice(0, 1));
    expect(built[3]!.fake.stops).to.equal(1);
    expect([...m.current().keys()]).to.deep.equal(['orders']);
  });

  it('sends one notification per reload, after the new providers\' first sends', async () => {
    const { m, notes } = withFakes();
    await m.applyConfig([job('orders', { static_configs: [{ targets: ['a:1'], labels: {} }] })]);
    await m.start();
    m.flush();
    notes.length = 0;
    await m.applyConfig([job('orders', { static_configs: [{ targets: ['a:2'], labels: {} }] })]);
    await turn();
    expect(notes.map(view)).to.deep.equal([{ orders: ['a:2'] }]);
  });

  it('merges added providers into a configured job and keeps them across applyConfig', async () => {
    const { m } = withFakes();
    await m.applyConfig([job('orders', { static_configs: [{ targets: ['a:1'], labels: {} }] })]);
    await m.start();
    const reg = fakeDiscoverer([group('reg/x', 'r:1')]);
    await m.addProvider('orders', 'registration', reg.discoverer);
    const other = fakeDiscoverer([group('reg/y', 'o:1')]);
    await m.addProvider('adhoc', 'registration', other.discoverer);
    expect(view(m.current())).to.deep.equal({ orders: ['a:1', 'r:1'], adhoc: ['o:1'] });

    await m.applyConfig([job('orders')]);
    expect(reg.stops).to.equal(0);
    expect(view(m.current())).to.deep.equal({ orders: ['r:1'], adhoc: ['o:1'] });

    // Same job and name replaces the previous provider.
    const reg2 = fakeDiscoverer([group('reg/x', 'r:2')]);
    await m.addProvider('orders', 'registration', reg2.discoverer);
    expect(reg.stops).to.equal(1);
    expect(view(m.current())).to.deep.equal({ orders: ['r:2'], adhoc: ['o:1'] });

    await m.removeProvider('adhoc', 'registration');
    await m.removeProvider('adhoc', 'nope');
    expect(other.stops).to.equal(1);
    expect(view(m.current())).to.deep.equal({ orders: ['r:2'] });
    other.push([group('late', 'l:1')]);
    expect(view(m.current())).to.deep.equal({ orders: ['r:2'] });
  });

  it('starts providers added before start() when it starts', async () => {
    const { m } = withFakes();
    const p = fakeDiscoverer([group('g', 'a:1')]);
    await m.addProvider('orders', 'p', p.discoverer);
    expect(p.starts).to.equal(0);
    await m.start();
    expect(p.starts).to.equal(1);
    expect(view(m.current())).to.deep.equal({ orders: ['a:1'] });
  });

  it('stop is safe before start and twice; it stops providers and silences everything', async () => {
    const before = createDiscoveryManager();
    await before.stop();
    await before.stop();

    const { m, notes } = withFakes();
    const p = fakeDiscoverer([group('g', 'a:1')]);
    await m.addProvider('orders', 'p', p.discoverer);
    await m.start();
    m.flush();
    const seen = notes.length;
    await m.stop();
    await m.stop();
    expect(p.stops).to.equal(1);
    p.push([group('g', 'a:2')]);
    await m.applyConfig([job('x', { static_configs: [{ targets: ['x:1'], labels: {} }] })]);
    await m.start();
    m.flush();
    await turn();
    expect(notes.length).to.equal(seen);
  });

  it('survives a provider that throws on start and a subscriber that throws', async () => {
    const logged: string[] = [];
    const logger: DiscoveryLogger = { debug() {}, info() {}, warn: (_o, msg) => void logged.push(msg), error: (_o, msg) => void logged.push(msg) };
    const m = createDiscoveryManager({ logger });
    managers.push(m);
    const got: TargetSets[] = [];
    m.subscribe(() => {
      throw new Error('boom');
    });
    m.subscribe((s) => got.push(s));
    await m.addProvider('bad', 'p', { start: () => Promise.reject(new Error('nope')), stop: async () => {} });
    await m.addProvider('good', 'p', fakeDiscoverer([group('g', 'a:1')]).discoverer);
    await m.start();
    m.flush();
    expect(view(got.at(-1)!)).to.deep.equal({ bad: [], good: ['a:1'] });
    expect(logged).to.include('discovery: provider failed to start');
    expect(logged).to.include('discovery: subscriber failed');
  });

  it('does not wait forever for a provider that never finishes starting', async () => {
    const { m, notes } = withFakes({ providerStartTimeoutMs: 50 });
    await m.addProvider('slow', 'p', { start: () => new Promise<void>(() => {}), stop: async () => {} });
    await m.addProvider('fast', 'p', fakeDiscoverer([group('g', 'f:1')]).discoverer);
    await m.start();
    m.flush();
    expect(view(notes.at(-1)!)).to.deep.equal({ slow: [], fast: ['f:1'] });
  });

  it('gives each subscriber its own copy', async () => {
    const { m } = withFakes();
    await m.addProvider('orders', 'p', fakeDiscoverer([group('g', 'a:1')]).discoverer);
    await m.start();
    const sets = m.current();
    sets.get('orders')![0]!.targets.push({ __address__: 'evil:1' });
    expect(view(m.current())).to.deep.equal({ orders: ['a:1'] });
  });

  describe('with real providers', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'covgate-dm-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('runs static, file_sd and goc_sd (through the injected httpGet) and reports provider errors', async () => {
      await writeFile(path.join(dir, 'a.json'), JSON.stringify([{ targets: ['f:1'] }]));
      await writeFile(path.join(dir, 'b.json'), 'broken');
      const requested: string[] = [];
      const httpGet: HttpGet = async (url) => {
        requested.push(url);
        return { status: 200, body: JSON.stringify({ cart: ['http://127.0.0.1:7001'] }) };
      };
      const m = createDiscoveryManager({ httpGet, baseDir: dir });
      managers.push(m);
      await m.applyConfig([
        job('orders', {
          static_configs: [{ targets: ['s:1'], labels: { service: 'orders' } }],
          file_sd_configs: [{ files: ['*.json'], refresh_interval: 3_600_000 }],
          goc_sd_configs: [{ server: 'http://goc.test:7777', refresh_interval: 3_600_000 }],
        }),
      ]);
      await m.start();
      expect(view(m.current())).to.deep.equal({ orders: ['s:1', 'f:1', '127.0.0.1:7001'] });
      expect(requested).to.deep.equal(['http://goc.test:7777/v1/cover/list']);
      const fileSd = m.providers().find((p) => p.name === 'file_sd/0')!;
      expect(fileSd).to.include({ kind: 'file_sd', groups: 1, targets: 1 });
      expect(fileSd.errors.map((e) => e.source)).to.deep.equal([path.join(dir, 'b.json')]);
    });

    it('runs kubernetes_sd_configs as provider kubernetes_sd/<i> and reports its errors', async () => {
      const api = await startFakeKubernetesApi();
      try {
        api.add('pods', k8sFixture('pod-orders.json'));
        const m = createDiscoveryManager();
        managers.push(m);
        const k8s = { api_server: api.url, tls_config: { insecure_skip_verify: false }, namespaces: { names: [], own_namespace: false }, selectors: [] };
        await m.applyConfig([
          job('pods', {
            kubernetes_sd_configs: [
              { role: 'pod', ...k8s },
              { role: 'service', ...k8s, api_server: `${api.url}/nowhere` },
            ],
          }),
        ]);
        await m.start();
        expect(view(m.current())).to.deep.equal({ pods: ['10.244.1.17:8080', '10.244.1.17:9100', '10.244.1.17'] });
        const [pods, services] = m.providers();
        expect(pods).to.include({ name: 'kubernetes_sd/0', kind: 'kubernetes_sd', groups: 1, targets: 3 });
        expect(pods!.errors).to.deep.equal([]);
        expect(services).to.include({ name: 'kubernetes_sd/1', kind: 'kubernetes_sd', groups: 0 });
        expect(services!.errors.map((e) => e.source)).to.deep.equal(['/api/v1/services']);
        await m.stop();
      } finally {
        await api.close();
      }
    });
  });
});
