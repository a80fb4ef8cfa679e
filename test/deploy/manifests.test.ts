/**
 * deploy/ as written (the kustomize inputs): every object valid against the
 * Kubernetes OpenAPI schema of its kind, the shard and central gateway.yaml
 * loadable by covgate's config loader for every shard ordinal, and the parts
 * that must agree (replicas and COVGATE_SHARDS, ServiceMonitor and Services,
 * RBAC and the service account, the dashboard and config/grafana). The
 * rendered output of `kubectl kustomize` is checked by
 * test/interop/deploy-kustomize.test.ts.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { populateLabels } from '../../gateway/discovery/target.ts';
import { deployDir, loadDeployGatewayConfig, parseDocuments, plainEnv, readDeployFile, validateObject, type K8sObject } from '../helpers/deploy.ts';

const kustomization = YAML.parse(readDeployFile('kustomization.yaml')) as {
  namespace: string;
  resources: string[];
  configMapGenerator: Array<{ name: string; files: string[] }>;
};
const objects: K8sObject[] = kustomization.resources.flatMap((f) => parseDocuments(readDeployFile(f)));
const find = (kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`deploy/: no ${kind} ${name}`);
  return o;
};
type Sts = { replicas: number; serviceName: string; template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string; volumes: Array<{ name: string; configMap?: { name: string } }>; containers: Array<{ env?: Array<{ name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>; ports: Array<{ name: string; containerPort: number }> }> } }; volumeClaimTemplates: Array<{ metadata: { name: string } }> };
const spec = (o: K8sObject) => o.spec as Sts;
const generated = (name: string) => {
  const g = kustomization.configMapGenerator.find((x) => x.name === name)!;
  const [, file] = g.files[0]!.split('=');
  return readDeployFile(file!);
};

describe('deploy/ manifests', () => {
  it('lists every manifest file in kustomization.yaml', () => {
    const files = readdirSync(deployDir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).to.deep.equal(files.sort());
  });

  it('every object is valid against its kind’s Kubernetes OpenAPI schema', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).to.include.members([
      'Namespace/covgate',
      'ServiceAccount/covgate',
      'ClusterRole/covgate-discovery',
      'ClusterRoleBinding/covgate-discovery',
      'StatefulSet/covgate-shard',
      'Service/covgate-shard',
      'StatefulSet/covgate-central',
      'Service/covgate-central',
      'ServiceMonitor/covgate',
      'ConfigMap/covgate-grafana-dashboard',
    ]);
    for (const o of objects) validateObject({ ...o, metadata: { ...o.metadata, namespace: kustomization.namespace } });
  });

  it('the schema check rejects what the API server would (a port that is not a number)', () => {
    const sts = structuredClone(find('StatefulSet', 'covgate-shard'));
    spec(sts).template.spec.containers[0]!.ports[0]!.containerPort = 'http' as unknown as number;
    expect(() => validateObject(sts)).to.throw(/StatefulSet covgate-shard: .*containerPort must be integer/);
  });

  it('shards: a StatefulSet with a PVC each, COVGATE_SHARDS = replicas, the index from the pod ordinal', () => {
    const sts = spec(find('StatefulSet', 'covgate-shard'));
    expect(sts.volumeClaimTemplates.map((v) => v.metadata.name)).to.deep.equal(['data']);
    expect(plainEnv(find('StatefulSet', 'covgate-shard')).COVGATE_SHARDS).to.equal(String(sts.replicas));
    const index = sts.template.spec.containers[0]!.env!.find((e) => e.name === 'COVGATE_SHARD_INDEX');
    expect(index?.valueFrom?.fieldRef?.fieldPath).to.equal("metadata.labels['apps.kubernetes.io/pod-index']");
    expect(sts.template.spec.volumes.find((v) => v.name === 'config')?.configMap?.name).to.equal('covgate-shard-config');
    const headless = find('Service', 'covgate-shard').spec as { clusterIP: string };
    expect(headless.clusterIP).to.equal('None');
    expect(sts.serviceName).to.equal('covgate-shard');
  });

  it('every shard’s gateway.yaml loads, keeps hashmod(__address__, N) == its ordinal and forwards to the central Service', () => {
    const stsObj = find('StatefulSet', 'covgate-shard');
    const n = spec(stsObj).replicas;
    const central = find('Service', 'covgate-central').spec as { ports: Array<{ port: number }> };
    const text = generated('covgate-shard-config');
    // Each address is kept by exactly one shard: the shards partition the targets.
    const keptBy = new Map<string, number[]>();
    for (let i = 0; i < n; i++) {
      const env = { ...plainEnv(stsObj), COVGATE_SHARD_INDEX: String(i) };
      const { config } = loadDeployGatewayConfig(text, env, `deploy/config/shard.yaml (shard ${i})`);
      expect(config.storage.path).to.equal('/data');
      expect(config.server.listen).to.equal(':9464');
      const job = config.scrape_configs[0]!;
      expect(job.kubernetes_sd_configs).to.deep.equal([
        { role: 'pod', tls_config: { insecure_skip_verify: false }, namespaces: { names: [], own_namespace: false }, selectors: [] },
      ]);
      expect(job.relabel_configs.find((r) => r.action === 'hashmod')?.modulus).to.equal(n);
      expect(config.forward?.url).to.equal(`http://covgate-central:${central.ports[0]!.port}`);
      for (let k = 0; k < 60; k++) {
        const address = `10.244.${k % 7}.${k}:9100`;
        const r = populateLabels(
          { __address__: address, __meta_kubernetes_pod_annotation_covgate_io_scrape: 'true', __meta_kubernetes_pod_phase: 'Running', __meta_kubernetes_pod_container_init: 'false' },
          job,
        );
        if (!r.dropped) keptBy.set(address, [...(keptBy.get(address) ?? []), i]);
      }
    }
    expect(keptBy.size).to.equal(60);
    for (const [address, shards] of keptBy) expect(shards, address).to.have.length(1);
    expect(new Set([...keptBy.values()].flat()).size, 'every shard gets some of 60 targets').to.equal(n);
  });

  it('the central gateway.yaml loads and fans sessions out to every shard by its StatefulSet DNS name', () => {
    const { config } = loadDeployGatewayConfig(generated('covgate-central-config'), {}, 'deploy/config/central.yaml');
    expect(config.scrape_configs).to.deep.equal([]);
    const shards = find('StatefulSet', 'covgate-shard');
    const headless = find('Service', spec(shards).serviceName as string).spec as { clusterIP: string; ports: Array<{ port: number }> };
    expect(headless.clusterIP).to.equal('None');
    expect(config.shards?.urls).to.deep.equal(
      Array.from({ length: spec(shards).replicas }, (_, i) => `http://covgate-shard-${i}.${spec(shards).serviceName}:${headless.ports[0]!.port}`),
    );
    expect(config.storage.path).to.equal('/data');
    expect(spec(find('StatefulSet', 'covgate-central')).volumeClaimTemplates.map((v) => v.metadata.name)).to.deep.equal(['data']);
  });

  it('RBAC lets the service account both StatefulSets run as get, list and watch pods, endpoints and services', () => {
    const role = find('ClusterRole', 'covgate-discovery') as unknown as { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> };
    expect(role.rules).to.deep.equal([{ apiGroups: [''], resources: ['pods', 'endpoints', 'services'], verbs: ['get', 'list', 'watch'] }]);
    const binding = find('ClusterRoleBinding', 'covgate-discovery') as unknown as { roleRef: { name: string }; subjects: Array<{ kind: string; name: string; namespace: string }> };
    expect(binding.roleRef.name).to.equal('covgate-discovery');
    expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'covgate', namespace: kustomization.namespace }]);
    for (const name of ['covgate-shard', 'covgate-central']) expect(spec(find('StatefulSet', name)).template.spec.serviceAccountName).to.equal('covgate');
  });

  it('the ServiceMonitor selects both Services on a port they have', () => {
    const sm = find('ServiceMonitor', 'covgate').spec as { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string; path: string }> };
    expect(sm.endpoints[0]).to.include({ port: 'http', path: '/metrics' });
    for (const name of ['covgate-shard', 'covgate-central']) {
      const svc = find('Service', name);
      expect(svc.metadata.labels).to.include(sm.selector.matchLabels);
      expect((svc.spec as { ports: Array<{ name: string }> }).ports.map((p) => p.name)).to.include(sm.endpoints[0]!.port);
    }
  });

  it('the Grafana dashboard ConfigMap holds config/grafana/covgate-dashboard.json unchanged', () => {
    const cm = find('ConfigMap', 'covgate-grafana-dashboard') as unknown as { data: Record<string, string>; metadata: { labels: Record<string, string> } };
    expect(cm.metadata.labels.grafana_dashboard).to.equal('1');
    expect(cm.data['covgate-dashboard.json']).to.equal(readFileSync(path.join(deployDir, '../config/grafana/covgate-dashboard.json'), 'utf8'));
  });
});
