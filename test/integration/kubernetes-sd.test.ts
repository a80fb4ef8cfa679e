/**
 * A real gateway with the example kubernetes_sd job of deploy/config/shard.yaml
 * against the fake Kubernetes API server, and real exporter processes on
 * loopback standing in for pods: pods appear, are scraped through the
 * covgate.io/* annotations, and a deleted pod keeps its coverage.
 */
import { expect } from 'chai';
import YAML from 'yaml';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { startFakeKubernetesApi, type FakeKubernetesApi } from '../fakes/kubernetes-api.ts';
import { k8sFixture } from '../fixtures/kubernetes/expected.ts';
import { istanbulMerge } from '../helpers/coverage.ts';
import { readDeployFile } from '../helpers/deploy.ts';
import type { ExporterProcess } from '../helpers/exporter-process.ts';
import type { GatewayProcess } from '../helpers/gateway-process.ts';
import { useProcesses } from '../helpers/processes.ts';

type Pod = {
  metadata: { name: string; namespace: string; uid: string; labels: Record<string, string>; annotations: Record<string, string> };
  status: { podIP: string };
};

/** pod-orders.json as a pod whose exporter is `e` (pod IP 127.0.0.1, covgate.io/port its port). */
function podFor(name: string, e: ExporterProcess, app = 'orders'): Pod {
  const pod = k8sFixture<Pod>('pod-orders.json');
  pod.metadata.name = name;
  pod.metadata.uid = `uid-${name}`;
  pod.metadata.labels.app = app;
  pod.metadata.annotations['covgate.io/port'] = e.address.split(':')[1]!;
  pod.status.podIP = '127.0.0.1';
  return pod;
}

/** deploy/config/shard.yaml's job, pointed at the fake API server, as the only shard, scraping only when told. */
function gatewayYaml(api: FakeKubernetesApi): string {
  const doc = YAML.parse(readDeployFile('config/shard.yaml')) as Record<string, unknown> & { scrape_configs: Array<Record<string, unknown>> };
  delete doc.forward; // forwarding to a central covgate is not what this test is about
  delete doc.storage; // the test harness sets storage.path and server.listen
  delete doc.server;
  const job = doc.scrape_configs[0]!;
  job.scrape_interval = '1h';
  job.scrape_timeout = '5s';
  (job.kubernetes_sd_configs as Array<Record<string, unknown>>)[0]!.api_server = api.url;
  return YAML.stringify(doc);
}

describe('kubernetes_sd in a real gateway (fake API server, real exporters)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();
  let api: FakeKubernetesApi;
  beforeEach(async () => {
    api = await startFakeKubernetesApi();
  });
  afterEach(async () => {
    await api.close();
  });

  const env = { COVGATE_SHARDS: '1', COVGATE_SHARD_INDEX: '0' };
  const coverage = async (g: GatewayProcess, query = '') => {
    const res = await g.api.get(`/api/v1/coverage${query}`);
    expect(res.status, JSON.stringify(res.data)).to.equal(200);
    return res.data as CoverageMapData;
  };
  const scrape = async (g: GatewayProcess) => {
    const res = await g.api.post('/api/v1/scrape', {});
    expect(res.status).to.equal(200);
    return res.data.data.results as Array<{ instance: string; health: string }>;
  };
  type Active = { labels: Record<string, string>; scrapeUrl: string; health: string };
  /** Polls /api/v1/targets until `pred` holds: discovery reaches the scrape stage asynchronously. */
  async function targetsWhen(g: GatewayProcess, pred: (t: Active[]) => boolean): Promise<Active[]> {
    for (;;) {
      const active = (await g.api.get('/api/v1/targets')).data.data.activeTargets as Active[];
      if (pred(active)) return active;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('scrapes the annotated pods it discovers, and a deleted pod keeps its coverage', async () => {
    const [a, b, c] = await Promise.all([exporter(), exporter({ envelope: true }), exporter({ envelope: true })]);
    api.add('pods', podFor('orders-a', a));
    api.add('pods', podFor('orders-b', b));
    const billing = podFor('billing-c', c, 'billing');
    delete (billing.metadata.annotations as Record<string, string>)['covgate.io/scrape']; // not opted in
    api.add('pods', billing);
    const g = await gateway(gatewayYaml(api), undefined, env);

    const targets = await targetsWhen(g, (t) => t.length === 2);
    expect(targets.map((t) => t.labels).sort((x, y) => (x.pod! < y.pod! ? -1 : 1))).to.deep.equal(
      [a, b].map((e, i) => ({
        job: 'kubernetes-pods',
        instance: e.address,
        namespace: 'shop',
        pod: `orders-${'ab'[i]}`,
        service: 'orders',
        release: '2026.11',
      })),
    );
    expect(targets.map((t) => t.scrapeUrl).sort()).to.deep.equal([a, b].map((e) => `${e.url}/coverage`).sort());

    await a.hit('/add?a=1&b=2');
    await b.hit('/classify?n=-5');
    await b.hit('/classify?n=500');
    expect((await scrape(g)).map((r) => r.health)).to.deep.equal(['up', 'up']);
    const [ra, rb] = await Promise.all([a.raw(), b.raw()]);
    expect(await coverage(g, '?service=orders')).to.deep.equal(istanbulMerge(ra, rb));

    // orders-b's pod is deleted (its process ends): the target goes, its coverage stays.
    await b.stop();
    api.remove('pods', 'shop', 'orders-b');
    await targetsWhen(g, (t) => t.length === 1 && t[0]!.labels.pod === 'orders-a');
    await a.hit('/classify?n=0');
    await scrape(g);
    const ra2 = await a.raw();
    expect(await coverage(g, '?service=orders')).to.deep.equal(istanbulMerge(ra2, rb));

    // The billing pod opts in later (relabeled): it is picked up without a restart.
    billing.metadata.annotations['covgate.io/scrape'] = 'true';
    api.modify('pods', billing);
    await targetsWhen(g, (t) => t.some((x) => x.labels.pod === 'billing-c'));
    await c.hit('/add?a=5&b=6');
    await scrape(g);
    expect(await coverage(g, '?service=billing')).to.deep.equal(istanbulMerge(await c.raw()));
    expect(await coverage(g, '?service=orders')).to.deep.equal(istanbulMerge(ra2, rb));
  });
});
