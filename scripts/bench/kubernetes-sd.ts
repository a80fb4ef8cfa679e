/**
 * What kubernetes_sd costs per pod event at scale: one pod's label changes,
 * the discoverer gets the watch event, rebuilds the full target set of N pods
 * (it sends full sets, never diffs) and compares it with the last one. The
 * baseline, measured alternately in the same run, is the relabeling the scrape
 * stage does on every update anyway: the deploy/ example job's
 * relabel_configs over the same N pods' targets (`targetsFromGroup`). Both
 * run in this process against the fake API server of the tests on loopback.
 * Run: npx tsx scripts/bench/kubernetes-sd.ts [--quick]
 */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { parseConfig } from '../../gateway/config/index.ts';
import { createKubernetesSDDiscoverer } from '../../gateway/discovery/kubernetes-sd.ts';
import { targetsFromGroup } from '../../gateway/discovery/target.ts';
import type { TargetGroup } from '../../gateway/discovery/types.ts';
import { startFakeKubernetesApi } from '../../test/fakes/kubernetes-api.ts';
import { alternate, quick, reportRow } from './lib/harness.ts';

const N = quick ? 500 : 3000;
const template = JSON.parse(readFileSync(new URL('../../test/fixtures/kubernetes/pod-orders.json', import.meta.url), 'utf8')) as {
  metadata: { name: string; uid: string; labels: Record<string, string> };
  status: { podIP: string };
};
const pod = (i: number, version = '1') => {
  const p = structuredClone(template);
  p.metadata.name = `orders-${i}`;
  p.metadata.uid = `uid-${i}`;
  p.metadata.labels['app.kubernetes.io/version'] = version;
  p.status.podIP = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  return p;
};

const api = await startFakeKubernetesApi();
for (let i = 0; i < N; i++) api.add('pods', pod(i));

// The example job of deploy/ (forward: left out: not this benchmark's concern), as the only shard.
const shard = YAML.parse(readFileSync(new URL('../../deploy/config/shard.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;
delete shard.forward;
const job = parseConfig(YAML.stringify(shard), { env: { COVGATE_SHARDS: '1', COVGATE_SHARD_INDEX: '0' } }).scrape_configs[0]!;

let latest: TargetGroup[] = [];
let waiter: (() => void) | undefined;
// batchMs 0: every event rebuilds (the worst case; by default a burst within 1 s costs one rebuild).
const d = createKubernetesSDDiscoverer({ config: { role: 'pod', api_server: api.url, tls_config: { insecure_skip_verify: false }, namespaces: { names: [], own_namespace: false }, selectors: [] }, batchMs: 0 });
await d.start((groups) => {
  latest = groups;
  waiter?.();
});
if (latest.length !== N) throw new Error(`expected ${N} pod groups, got ${latest.length}`);

let version = 1;
async function podEvent(): Promise<void> {
  version++;
  const sent = new Promise<void>((resolve) => (waiter = resolve));
  api.modify('pods', pod(version % N, String(version)));
  await sent;
}
function relabelAll(): void {
  let kept = 0;
  for (const g of latest) for (const r of targetsFromGroup(g, job)) if (!r.dropped) kept++;
  if (kept === 0) throw new Error('the example job kept no target');
}

const { a, b } = await alternate(podEvent, relabelAll, quick ? 5 : 9);
reportRow({
  item: `16.1 kubernetes_sd: one pod event, ${N} pods`,
  covgate: 'watch event → full target set rebuilt and compared (CPU ms)',
  baseline: 'the example job’s relabeling of the same targets, which every update triggers in the scrape stage',
  value: a,
  baselineValue: b,
  unit: 'ms',
  ratio: b / a,
  target: '≤ 1× the relabeling it triggers',
  met: a <= b,
  notes: 'full sets, never diffs (the Discoverer contract); the rebuild is O(pods) per coalesced batch of events',
});
await d.stop();
await api.close();
