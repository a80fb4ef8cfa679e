/**
 * deploy/ rendered by `kubectl kustomize` (kustomize built into kubectl: the
 * image's kubectl, or Debian's kubernetes-client that .ci/run installs when
 * none is there), every rendered object checked against the Kubernetes
 * OpenAPI schema of its kind, the generated ConfigMaps wired to the
 * StatefulSets, and the rendered gateway.yaml of the shards (for each
 * ordinal) and of the central covgate loaded with covgate's config loader.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { deployDir, loadDeployGatewayConfig, parseDocuments, plainEnv, validateObject, type K8sObject } from '../helpers/deploy.ts';

const run = promisify(execFile);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

describe('deploy/ rendered with kubectl kustomize', function () {
  this.timeout(120_000);
  let objects: K8sObject[];
  before(async () => {
    const { stdout } = await run('kubectl', ['kustomize', deployDir], { maxBuffer: 64 * 1024 * 1024 });
    objects = parseDocuments(stdout);
  });
  const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
  type Sts = { replicas: number; template: { spec: { volumes: Array<{ name: string; configMap?: { name: string } }> } } };

  it('renders every object, each valid against its kind’s schema, namespaced in covgate', () => {
    expect(objects.length).to.be.at.least(11);
    for (const o of objects) {
      validateObject(o);
      if (!CLUSTER_SCOPED.has(o.kind)) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).to.equal('covgate');
    }
  });

  it('the StatefulSets mount the generated ConfigMaps (hash-suffixed names rewritten)', () => {
    for (const [sts, prefix] of [['covgate-shard', 'covgate-shard-config-'], ['covgate-central', 'covgate-central-config-']] as const) {
      const name = (find('StatefulSet', sts).spec as Sts).template.spec.volumes.find((v) => v.name === 'config')!.configMap!.name;
      expect(name.startsWith(prefix), name).to.equal(true);
      expect(find('ConfigMap', name), `ConfigMap ${name}`).to.not.equal(undefined);
    }
  });

  it('the rendered gateway.yaml loads for every shard ordinal and for the central covgate', () => {
    const shard = find('StatefulSet', 'covgate-shard');
    const spec = shard.spec as Sts;
    const cmOf = (sts: K8sObject) => find('ConfigMap', (sts.spec as Sts).template.spec.volumes.find((v) => v.name === 'config')!.configMap!.name) as unknown as { data: Record<string, string> };
    for (let i = 0; i < spec.replicas; i++) {
      const { config } = loadDeployGatewayConfig(cmOf(shard).data['gateway.yaml']!, { ...plainEnv(shard), COVGATE_SHARD_INDEX: String(i) }, `shard ${i}`);
      expect(config.scrape_configs[0]!.relabel_configs.find((r) => r.action === 'keep' && r.source_labels[0] === '__tmp_hash')?.regex).to.equal(String(i));
    }
    const { config } = loadDeployGatewayConfig(cmOf(find('StatefulSet', 'covgate-central')).data['gateway.yaml']!, {}, 'central');
    expect(config.scrape_configs).to.deep.equal([]);
  });
});
