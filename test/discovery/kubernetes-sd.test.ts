/**
 * kubernetes_sd against a fake API server (test/fakes/kubernetes-api.ts) that
 * speaks the list/watch protocol, with the kubectl-shaped fixtures of
 * test/fixtures/kubernetes/. Expected groups are those written out from
 * Prometheus' source in kubernetes-targets.test.ts; expected final labels
 * follow Prometheus' relabeling of the example job in deploy/config/shard.yaml.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KubernetesSDConfig } from '../../gateway/config/types.ts';
import { createKubernetesSDDiscoverer, type KubernetesSDDiscoverer } from '../../gateway/discovery/kubernetes-sd.ts';
import { targetsFromGroup } from '../../gateway/discovery/target.ts';
import type { TargetGroup } from '../../gateway/discovery/types.ts';
import { startFakeKubernetesApi, type FakeKubernetesApi } from '../fakes/kubernetes-api.ts';
import { loadDeployGatewayConfig, readDeployFile } from '../helpers/deploy.ts';
import { recorder } from './helpers.ts';
import { BILLING_POD_GROUP, k8sFixture, ORDERS_ENDPOINTS_GROUP, ORDERS_POD_GROUP, ORDERS_SERVICE_GROUP } from '../fixtures/kubernetes/expected.ts';

type Pod = { metadata: { name: string; namespace: string; labels: Record<string, string>; annotations?: Record<string, string> }; status: { podIP?: string } };

const sources = (groups: TargetGroup[] | undefined) => (groups ?? []).map((g) => g.source);

describe('createKubernetesSDDiscoverer (fake API server)', () => {
  let api: FakeKubernetesApi;
  const running: KubernetesSDDiscoverer[] = [];
  let tmp: string;

  beforeEach(async () => {
    api = await startFakeKubernetesApi();
    tmp = mkdtempSync(path.join(tmpdir(), 'covgate-k8s-'));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((d) => d.stop()));
    await api.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  function make(config: Partial<KubernetesSDConfig> = {}) {
    const d = createKubernetesSDDiscoverer({
      config: { role: 'pod', api_server: api.url, tls_config: { insecure_skip_verify: false }, namespaces: { names: [], own_namespace: false }, selectors: [], ...config },
      minBackoffMs: 5,
      maxBackoffMs: 20,
      batchMs: 0,
    });
    running.push(d);
    return d;
  }

  it('role pod: lists, then follows pods added, relabeled and deleted through the watch', async () => {
    api.add('pods', k8sFixture('pod-billing.json'));
    api.add('pods', k8sFixture('pod-pending.json'));
    const rec = recorder();
    await make().start(rec.send);
    expect(rec.sends).to.have.length(1);
    expect(rec.last()).to.deep.equal([BILLING_POD_GROUP]); // the pending pod has no IP: no targets
    expect(api.requests[0]).to.include({ path: '/api/v1/pods', watch: false });

    await api.watchOpened('pods', 0);
    const watch = api.requests.find((r) => r.watch)!;
    expect(watch.resourceVersion, 'the watch resumes from the list’s resourceVersion').to.equal('1002');

    // added
    let next = rec.next((g) => g.length === 2);
    api.add('pods', k8sFixture('pod-orders.json'));
    expect(await next).to.deep.equal([BILLING_POD_GROUP, ORDERS_POD_GROUP]);

    // relabeled: a label and an annotation change
    const orders = k8sFixture<Pod>('pod-orders.json');
    orders.metadata.labels.app = 'orders-v2';
    orders.metadata.annotations!['covgate.io/scrape'] = 'false';
    next = rec.next((g) => g[1]?.labels.__meta_kubernetes_pod_label_app === 'orders-v2');
    api.modify('pods', orders);
    const relabeled = (await next)[1]!;
    expect(relabeled.labels).to.deep.equal({
      ...ORDERS_POD_GROUP.labels,
      __meta_kubernetes_pod_label_app: 'orders-v2',
      __meta_kubernetes_pod_annotation_covgate_io_scrape: 'false',
    });

    // deleted
    next = rec.next((g) => g.length === 1);
    api.remove('pods', 'shop', 'billing-0');
    expect(sources(await next)).to.deep.equal(['pod/shop/orders-6b8f9c7d54-x2kqp']);
    expect(api.requests.filter((r) => !r.watch), 'no re-list while the watch is healthy').to.have.length(1);
  });

  it('a watch that expires with an ERROR 410 event lists again and resumes from the new resourceVersion', async () => {
    api.add('pods', k8sFixture('pod-billing.json'));
    const rec = recorder();
    await make().start(rec.send);
    await api.watchOpened('pods', 0);
    const before = api.requests.length;
    api.expireWatches();
    // While the client re-lists, a pod disappears and another appears: the new list has both changes.
    api.remove('pods', 'shop', 'billing-0');
    api.add('pods', k8sFixture('pod-orders.json'));
    expect(sources(await rec.next((g) => g.length === 1 && g[0]!.source.includes('orders')))).to.deep.equal(['pod/shop/orders-6b8f9c7d54-x2kqp']);
    await api.watchOpened('pods', before);
    const after = api.requests.slice(before);
    const relist = after.findIndex((r) => !r.watch);
    expect(relist, `a list after the 410: ${JSON.stringify(after)}`).to.be.at.least(0);
    const rewatch = after.slice(relist).find((r) => r.watch)!;
    expect(Number(rewatch.resourceVersion)).to.be.at.least(1003);
  });

  it('a watch the server ends is resumed from the last resourceVersion, without listing again', async () => {
    api.add('pods', k8sFixture('pod-billing.json'));
    const rec = recorder();
    await make().start(rec.send);
    await api.watchOpened('pods', 0);
    const next = rec.next((g) => g.length === 2);
    api.add('pods', k8sFixture('pod-orders.json')); // resourceVersion 1002, seen by the first watch
    await next;
    const before = api.requests.length;
    api.endWatches();
    await api.watchOpened('pods', before);
    expect(api.requests.slice(before)).to.deep.equal([{ method: 'GET', path: '/api/v1/pods', watch: true, resourceVersion: '1002' }]);
  });

  it('a watch that ended without any event is resumed too (after the back-off), from the same resourceVersion', async () => {
    api.add('pods', k8sFixture('pod-billing.json'));
    const rec = recorder();
    await make().start(rec.send);
    await api.watchOpened('pods', 0);
    const before = api.requests.length;
    api.endWatches();
    await api.watchOpened('pods', before);
    expect(api.requests.slice(before)).to.deep.equal([{ method: 'GET', path: '/api/v1/pods', watch: true, resourceVersion: '1001' }]);
    const next = rec.next((g) => g.length === 2);
    api.add('pods', k8sFixture('pod-orders.json'));
    expect(sources(await next)).to.deep.equal(['pod/shop/billing-0', 'pod/shop/orders-6b8f9c7d54-x2kqp']);
  });

  it('a resumed watch whose resourceVersion was compacted gets ERROR 410 and lists again', async () => {
    api.add('pods', k8sFixture('pod-billing.json'));
    const rec = recorder();
    await make().start(rec.send);
    await api.watchOpened('pods', 0);
    let next = rec.next((g) => g.length === 2);
    api.add('pods', k8sFixture('pod-orders.json')); // 1002, seen by the watch
    await next;
    const before = api.requests.length;
    // The watch ends; before the client is back, billing-0 goes (1003) and the history is compacted.
    api.endWatches();
    api.remove('pods', 'shop', 'billing-0');
    api.compact();
    next = rec.next((g) => g.length === 1);
    await api.watchOpened('pods', before + 2);
    const after = api.requests.slice(before).map((r) => ({ watch: r.watch, resourceVersion: r.resourceVersion }));
    expect(after).to.deep.equal([
      { watch: true, resourceVersion: '1002' }, // answered 200 + ERROR 410 Expired
      { watch: false, resourceVersion: undefined },
      { watch: true, resourceVersion: '1003' },
    ]);
    expect(sources(await next), 'the deletion missed by the watch is seen by the new list').to.deep.equal(['pod/shop/orders-6b8f9c7d54-x2kqp']);
  });

  it('a watch answered with HTTP 410 Gone lists again', async () => {
    api.add('pods', k8sFixture('pod-billing.json'));
    const rec = recorder();
    await make().start(rec.send);
    await api.watchOpened('pods', 0);
    const before = api.requests.length;
    api.failNext(1, 410);
    api.endWatches();
    await api.watchOpened('pods', before + 2);
    expect(api.requests.slice(before).map((r) => ({ watch: r.watch, resourceVersion: r.resourceVersion }))).to.deep.equal([
      { watch: true, resourceVersion: '1001' }, // answered 410
      { watch: false, resourceVersion: undefined },
      { watch: true, resourceVersion: '1001' },
    ]);
  });

  it('backs off and retries when the API server fails, sending nothing partial meanwhile', async () => {
    api.add('pods', k8sFixture('pod-orders.json'));
    api.failNext(3, 503);
    const rec = recorder();
    const d = make();
    const first = rec.next();
    await d.start(rec.send);
    expect(rec.sends, 'nothing before a list succeeded').to.have.length(0);
    expect(d.lastErrors()).to.have.length(1);
    expect(d.lastErrors()[0]!.source).to.equal('/api/v1/pods');
    expect(await first).to.deep.equal([ORDERS_POD_GROUP]);
    expect(d.lastErrors()).to.deep.equal([]);
    expect(api.requests.filter((r) => !r.watch).length).to.equal(4);
  });

  it('keeps the last good targets while the API server is unreachable', async () => {
    api.add('pods', k8sFixture('pod-orders.json'));
    const rec = recorder();
    const d = make();
    await d.start(rec.send);
    await api.watchOpened('pods', 0);
    api.failNext(1_000_000, 500);
    api.expireWatches();
    // Every re-list fails now; wait until the discoverer has noticed, then check it kept the pods.
    while (d.lastErrors().length === 0) await new Promise((r) => setImmediate(r));
    expect(rec.sends).to.have.length(1);
    expect(rec.last()).to.deep.equal([ORDERS_POD_GROUP]);
  });

  it('namespaces and selectors go to the API server; objects that stop matching leave the set', async () => {
    const other = k8sFixture<Pod>('pod-orders.json');
    other.metadata.namespace = 'staging';
    api.add('pods', other);
    api.add('pods', k8sFixture('pod-orders.json'));
    api.add('pods', k8sFixture('pod-billing.json'));
    const rec = recorder();
    await make({ namespaces: { names: ['shop'], own_namespace: false }, selectors: [{ role: 'pod', label: 'app in (orders)', field: 'status.phase=Running' }] }).start(rec.send);
    expect(rec.last()).to.deep.equal([ORDERS_POD_GROUP]);
    expect(api.requests[0]).to.deep.include({ path: '/api/v1/namespaces/shop/pods', labelSelector: 'app in (orders)', fieldSelector: 'status.phase=Running' });
    await api.watchOpened('pods', 0);
    const next = rec.next((g) => g.length === 0);
    const moved = k8sFixture<Pod>('pod-orders.json');
    moved.metadata.labels.app = 'payments';
    api.modify('pods', moved);
    expect(await next).to.deep.equal([]);
  });

  it('own_namespace reads the service account’s namespace file', async () => {
    writeFileSync(path.join(tmp, 'namespace'), 'shop');
    api.add('pods', k8sFixture('pod-orders.json'));
    const d = createKubernetesSDDiscoverer({
      config: { role: 'pod', kubeconfig_file: writeKubeconfig(), tls_config: { insecure_skip_verify: false }, namespaces: { names: [], own_namespace: true }, selectors: [] },
      serviceAccountDir: tmp,
    });
    running.push(d);
    const rec = recorder();
    await d.start(rec.send);
    expect(api.requests[0]!.path).to.equal('/api/v1/namespaces/shop/pods');
    expect(rec.last()).to.deep.equal([ORDERS_POD_GROUP]);
  });

  function writeKubeconfig(): string {
    const file = path.join(tmp, 'kubeconfig');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: fake`,
        `  cluster: { server: "${api.url}", insecure-skip-tls-verify: true }`,
        'users:',
        '- name: tester',
        '  user: { token: kubeconfig-token }',
        'contexts:',
        '- name: fake',
        '  context: { cluster: fake, user: tester }',
        'current-context: fake',
      ].join('\n'),
    );
    return file;
  }

  it('kubeconfig_file: the cluster and the user’s token come from the file', async () => {
    api.add('pods', k8sFixture('pod-orders.json'));
    const rec = recorder();
    const d = createKubernetesSDDiscoverer({
      config: { role: 'pod', kubeconfig_file: writeKubeconfig(), tls_config: { insecure_skip_verify: false }, namespaces: { names: [], own_namespace: false }, selectors: [] },
    });
    running.push(d);
    await d.start(rec.send);
    expect(rec.last()).to.deep.equal([ORDERS_POD_GROUP]);
    await api.watchOpened('pods', 0);
    expect(api.requests.map((r) => r.authorization)).to.deep.equal(api.requests.map(() => 'Bearer kubeconfig-token'));
  });

  it('api_server with bearer_token_file sends the token on lists and watches', async () => {
    writeFileSync(path.join(tmp, 'token'), 'file-token\n');
    const rec = recorder();
    await make({ bearer_token_file: path.join(tmp, 'token') }).start(rec.send);
    await api.watchOpened('pods', 0);
    expect(api.requests.map((r) => r.authorization)).to.deep.equal(['Bearer file-token', 'Bearer file-token']);
  });

  it('role service: one target per service port', async () => {
    api.add('services', k8sFixture('service-orders.json'));
    const rec = recorder();
    await make({ role: 'service' }).start(rec.send);
    expect(rec.last()).to.deep.equal([ORDERS_SERVICE_GROUP]);
  });

  it('role endpoints: joins endpoints with their service and pods, and rebuilds when a pod changes', async () => {
    api.add('endpoints', k8sFixture('endpoints-orders.json'));
    api.add('services', k8sFixture('service-orders.json'));
    api.add('pods', k8sFixture('pod-orders.json'));
    const rec = recorder();
    await make({ role: 'endpoints' }).start(rec.send);
    expect(rec.last()).to.deep.equal([ORDERS_ENDPOINTS_GROUP]);
    expect(new Set(api.requests.map((r) => r.path))).to.deep.equal(new Set(['/api/v1/endpoints', '/api/v1/services', '/api/v1/pods']));
    await api.watchOpened('pods', 0);
    const next = rec.next((g) => g[0]!.targets.length === 2);
    api.remove('pods', 'shop', 'orders-6b8f9c7d54-x2kqp');
    const [group] = await next;
    expect(group!.targets[0]).to.not.have.property('__meta_kubernetes_pod_name');
  });

  it('stop() is safe before start and twice, and no send follows it', async () => {
    const d = make();
    await d.stop();
    await d.stop();
    const d2 = make();
    const rec = recorder();
    await d2.start(rec.send);
    await api.watchOpened('pods', 0);
    await d2.stop();
    await d2.stop();
    api.add('pods', k8sFixture('pod-orders.json'));
    // The aborted watch's socket closes on the server's side a turn or two later.
    while (api.openWatches() > 0) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(rec.sends).to.have.length(1);
  });
});

describe('kubernetes_sd + the example job of deploy/config/shard.yaml (Prometheus relabeling)', () => {
  it('keeps annotated pods, moves them to covgate.io/port and path, labels namespace, pod, service and release', () => {
    // One shard: hashmod(…, 1) == 0 keeps every target.
    const { config } = loadDeployGatewayConfig(readDeployFile('config/shard.yaml'), { COVGATE_SHARDS: '1', COVGATE_SHARD_INDEX: '0', COVGATE_CENTRAL_URL: 'http://central:9464' }, 'shard.yaml');
    const job = config.scrape_configs.find((j) => j.job_name === 'kubernetes-pods')!;
    const orders = targetsFromGroup(ORDERS_POD_GROUP, job);
    // Container ports 8080 and 9100 both become 10.244.1.17:9100 (the pool scrapes that once); the init container is dropped.
    expect(orders.map((r) => r.dropped)).to.deep.equal([false, false, true]);
    for (const r of orders.slice(0, 2)) {
      expect(r.dropped ? undefined : { labels: r.labels, url: r.url }).to.deep.equal({
        labels: {
          job: 'kubernetes-pods',
          instance: '10.244.1.17:9100',
          namespace: 'shop',
          pod: 'orders-6b8f9c7d54-x2kqp',
          service: 'orders',
          release: '2026.11',
        },
        url: 'http://10.244.1.17:9100/coverage',
      });
    }
    // billing-0 has no covgate.io/scrape annotation: every target dropped by the keep rule.
    expect(targetsFromGroup(BILLING_POD_GROUP, job).map((r) => (r.dropped ? r.reason : 'kept'))).to.deep.equal(['relabel', 'relabel']);
  });
});
