/**
 * Target groups of kubernetes_sd roles, checked against label sets written
 * out by hand from Prometheus' source (prometheus/prometheus
 * discovery/kubernetes/pod.go buildPod + podLabels, service.go buildService,
 * endpoints.go buildEndpoints, kubernetes.go addObjectMetaLabels, and
 * util/strutil SanitizeLabelName) and its documentation of
 * <kubernetes_sd_config> (docs/configuration/configuration.md), for the
 * committed `kubectl get -o json` shaped fixtures in test/fixtures/kubernetes/.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { endpointsGroup, podGroup, sanitizeLabelName, serviceGroup, type K8sPod, type K8sService } from '../../gateway/discovery/kubernetes-targets.ts';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/kubernetes');
export function k8sFixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(path.join(fixtures, name), 'utf8')) as T;
}

/** podLabels() of pod.go for pod-orders.json: pod metadata, status and controller (the ReplicaSet). */
export const ORDERS_POD_LABELS = {
  __meta_kubernetes_pod_name: 'orders-6b8f9c7d54-x2kqp',
  __meta_kubernetes_pod_ip: '10.244.1.17',
  __meta_kubernetes_pod_ready: 'true',
  __meta_kubernetes_pod_phase: 'Running',
  __meta_kubernetes_pod_node_name: 'kind-worker',
  __meta_kubernetes_pod_host_ip: '172.18.0.3',
  __meta_kubernetes_pod_uid: 'c3a7e1d2-6f4b-4e8a-b1c9-0d2e3f4a5b6c',
  __meta_kubernetes_pod_controller_kind: 'ReplicaSet',
  __meta_kubernetes_pod_controller_name: 'orders-6b8f9c7d54',
  __meta_kubernetes_pod_label_app: 'orders',
  __meta_kubernetes_pod_labelpresent_app: 'true',
  __meta_kubernetes_pod_label_app_kubernetes_io_version: '2026.11',
  __meta_kubernetes_pod_labelpresent_app_kubernetes_io_version: 'true',
  __meta_kubernetes_pod_label_pod_template_hash: '6b8f9c7d54',
  __meta_kubernetes_pod_labelpresent_pod_template_hash: 'true',
  __meta_kubernetes_pod_annotation_covgate_io_path: '/coverage',
  __meta_kubernetes_pod_annotationpresent_covgate_io_path: 'true',
  __meta_kubernetes_pod_annotation_covgate_io_port: '9100',
  __meta_kubernetes_pod_annotationpresent_covgate_io_port: 'true',
  __meta_kubernetes_pod_annotation_covgate_io_scrape: 'true',
  __meta_kubernetes_pod_annotationpresent_covgate_io_scrape: 'true',
  __meta_kubernetes_pod_annotation_kubectl_kubernetes_io_restartedAt: '2026-11-20T09:12:44Z',
  __meta_kubernetes_pod_annotationpresent_kubectl_kubernetes_io_restartedAt: 'true',
};

/** Role pod, pod-orders.json: one target per container port, plus the port-less init container at the bare pod IP. */
export const ORDERS_POD_GROUP = {
  source: 'pod/shop/orders-6b8f9c7d54-x2kqp',
  labels: { ...ORDERS_POD_LABELS, __meta_kubernetes_namespace: 'shop' },
  targets: [
    {
      __address__: '10.244.1.17:8080',
      __meta_kubernetes_pod_container_name: 'orders',
      __meta_kubernetes_pod_container_id: 'containerd://9f1e2d3c4b5a69788776655443322110ffeeddccbbaa99887766554433221100',
      __meta_kubernetes_pod_container_image: 'registry.example/shop/orders:2026.11',
      __meta_kubernetes_pod_container_init: 'false',
      __meta_kubernetes_pod_container_port_number: '8080',
      __meta_kubernetes_pod_container_port_name: 'http',
      __meta_kubernetes_pod_container_port_protocol: 'TCP',
    },
    {
      __address__: '10.244.1.17:9100',
      __meta_kubernetes_pod_container_name: 'orders',
      __meta_kubernetes_pod_container_id: 'containerd://9f1e2d3c4b5a69788776655443322110ffeeddccbbaa99887766554433221100',
      __meta_kubernetes_pod_container_image: 'registry.example/shop/orders:2026.11',
      __meta_kubernetes_pod_container_init: 'false',
      __meta_kubernetes_pod_container_port_number: '9100',
      __meta_kubernetes_pod_container_port_name: 'coverage',
      __meta_kubernetes_pod_container_port_protocol: 'TCP',
    },
    {
      __address__: '10.244.1.17',
      __meta_kubernetes_pod_container_name: 'wait-db',
      __meta_kubernetes_pod_container_id: 'containerd://11aa22bb33cc44dd55ee66ff778899001122334455667788990011aabbccddee',
      __meta_kubernetes_pod_container_image: 'busybox:1.36',
      __meta_kubernetes_pod_container_init: 'true',
    },
  ],
};

/** Role pod, pod-billing.json: a StatefulSet pod, not ready; an unnamed port and a sidecar without ports. */
export const BILLING_POD_GROUP = {
  source: 'pod/shop/billing-0',
  labels: {
    __meta_kubernetes_pod_name: 'billing-0',
    __meta_kubernetes_pod_ip: '10.244.2.9',
    __meta_kubernetes_pod_ready: 'false',
    __meta_kubernetes_pod_phase: 'Running',
    __meta_kubernetes_pod_node_name: 'kind-worker2',
    __meta_kubernetes_pod_host_ip: '172.18.0.4',
    __meta_kubernetes_pod_uid: 'e7d6c5b4-a392-4817-b6a5-948372615049',
    __meta_kubernetes_pod_controller_kind: 'StatefulSet',
    __meta_kubernetes_pod_controller_name: 'billing',
    __meta_kubernetes_pod_label_app: 'billing',
    __meta_kubernetes_pod_labelpresent_app: 'true',
    __meta_kubernetes_pod_label_apps_kubernetes_io_pod_index: '0',
    __meta_kubernetes_pod_labelpresent_apps_kubernetes_io_pod_index: 'true',
    __meta_kubernetes_pod_label_controller_revision_hash: 'billing-7f5d8c9b6',
    __meta_kubernetes_pod_labelpresent_controller_revision_hash: 'true',
    __meta_kubernetes_pod_label_statefulset_kubernetes_io_pod_name: 'billing-0',
    __meta_kubernetes_pod_labelpresent_statefulset_kubernetes_io_pod_name: 'true',
    __meta_kubernetes_namespace: 'shop',
  },
  targets: [
    {
      __address__: '10.244.2.9:8080',
      __meta_kubernetes_pod_container_name: 'billing',
      __meta_kubernetes_pod_container_id: 'containerd://aa11bb22cc33dd44ee55ff6677889900aa11bb22cc33dd44ee55ff6677889900',
      __meta_kubernetes_pod_container_image: 'registry.example/shop/billing:2026.11',
      __meta_kubernetes_pod_container_init: 'false',
      __meta_kubernetes_pod_container_port_number: '8080',
      __meta_kubernetes_pod_container_port_name: '',
      __meta_kubernetes_pod_container_port_protocol: 'TCP',
    },
    {
      __address__: '10.244.2.9',
      __meta_kubernetes_pod_container_name: 'log-shipper',
      __meta_kubernetes_pod_container_id: 'containerd://bb22cc33dd44ee55ff6677889900aa11bb22cc33dd44ee55ff6677889900aa11',
      __meta_kubernetes_pod_container_image: 'registry.example/tools/log-shipper:3.2',
      __meta_kubernetes_pod_container_init: 'false',
    },
  ],
};

/** serviceLabels() of service.go for service-orders.json. */
const ORDERS_SERVICE_LABELS = {
  __meta_kubernetes_namespace: 'shop',
  __meta_kubernetes_service_name: 'orders',
  __meta_kubernetes_service_label_app: 'orders',
  __meta_kubernetes_service_labelpresent_app: 'true',
  __meta_kubernetes_service_label_team: 'checkout',
  __meta_kubernetes_service_labelpresent_team: 'true',
  __meta_kubernetes_service_annotation_covgate_io_scrape: 'true',
  __meta_kubernetes_service_annotationpresent_covgate_io_scrape: 'true',
  __meta_kubernetes_service_annotation_covgate_io_port: '9100',
  __meta_kubernetes_service_annotationpresent_covgate_io_port: 'true',
};

export const ORDERS_SERVICE_GROUP = {
  source: 'svc/shop/orders',
  labels: ORDERS_SERVICE_LABELS,
  targets: [
    {
      __address__: 'orders.shop.svc:80',
      __meta_kubernetes_service_port_name: 'http',
      __meta_kubernetes_service_port_number: '80',
      __meta_kubernetes_service_port_protocol: 'TCP',
      __meta_kubernetes_service_type: 'ClusterIP',
      __meta_kubernetes_service_cluster_ip: '10.96.122.7',
    },
    {
      __address__: 'orders.shop.svc:9100',
      __meta_kubernetes_service_port_name: 'coverage',
      __meta_kubernetes_service_port_number: '9100',
      __meta_kubernetes_service_port_protocol: 'TCP',
      __meta_kubernetes_service_type: 'ClusterIP',
      __meta_kubernetes_service_cluster_ip: '10.96.122.7',
    },
  ],
};

/**
 * Role endpoints, endpoints-orders.json with the orders service and pod known:
 * the ready address (pod and matching container labels), the not-ready one
 * (its pod is not in the cache: endpoint labels only), and the pod's other
 * container port 9100, which no endpoint port covers.
 */
export const ORDERS_ENDPOINTS_GROUP = {
  source: 'endpoints/shop/orders',
  labels: {
    ...ORDERS_SERVICE_LABELS,
    __meta_kubernetes_endpoints_name: 'orders',
    __meta_kubernetes_endpoints_label_app: 'orders',
    __meta_kubernetes_endpoints_labelpresent_app: 'true',
    __meta_kubernetes_endpoints_label_team: 'checkout',
    __meta_kubernetes_endpoints_labelpresent_team: 'true',
    __meta_kubernetes_endpoints_annotation_endpoints_kubernetes_io_last_change_trigger_time: '2026-11-20T09:12:52Z',
    __meta_kubernetes_endpoints_annotationpresent_endpoints_kubernetes_io_last_change_trigger_time: 'true',
  },
  targets: [
    {
      __address__: '10.244.1.17:8080',
      __meta_kubernetes_endpoint_port_name: 'http',
      __meta_kubernetes_endpoint_port_protocol: 'TCP',
      __meta_kubernetes_endpoint_ready: 'true',
      __meta_kubernetes_endpoint_address_target_kind: 'Pod',
      __meta_kubernetes_endpoint_address_target_name: 'orders-6b8f9c7d54-x2kqp',
      __meta_kubernetes_endpoint_node_name: 'kind-worker',
      ...ORDERS_POD_LABELS,
      __meta_kubernetes_pod_container_name: 'orders',
      __meta_kubernetes_pod_container_image: 'registry.example/shop/orders:2026.11',
      __meta_kubernetes_pod_container_port_name: 'http',
      __meta_kubernetes_pod_container_port_number: '8080',
      __meta_kubernetes_pod_container_port_protocol: 'TCP',
      __meta_kubernetes_pod_container_init: 'false',
    },
    {
      __address__: '10.244.3.5:8080',
      __meta_kubernetes_endpoint_port_name: 'http',
      __meta_kubernetes_endpoint_port_protocol: 'TCP',
      __meta_kubernetes_endpoint_ready: 'false',
      __meta_kubernetes_endpoint_address_target_kind: 'Pod',
      __meta_kubernetes_endpoint_address_target_name: 'orders-6b8f9c7d54-gone1',
      __meta_kubernetes_endpoint_node_name: 'kind-worker3',
    },
    {
      __address__: '10.244.1.17:9100',
      __meta_kubernetes_pod_container_name: 'orders',
      __meta_kubernetes_pod_container_image: 'registry.example/shop/orders:2026.11',
      __meta_kubernetes_pod_container_port_name: 'coverage',
      __meta_kubernetes_pod_container_port_number: '9100',
      __meta_kubernetes_pod_container_port_protocol: 'TCP',
      __meta_kubernetes_pod_container_init: 'false',
      ...ORDERS_POD_LABELS,
    },
  ],
};

describe('kubernetes_sd target groups (Prometheus semantics)', () => {
  it('role pod: one target per container port, init containers included, meta labels as pod.go names them', () => {
    expect(podGroup(k8sFixture<K8sPod>('pod-orders.json'))).to.deep.equal(ORDERS_POD_GROUP);
    expect(podGroup(k8sFixture<K8sPod>('pod-billing.json'))).to.deep.equal(BILLING_POD_GROUP);
  });

  it('role pod: a pod without an IP yet gives an empty group', () => {
    expect(podGroup(k8sFixture<K8sPod>('pod-pending.json'))).to.deep.equal({ source: 'pod/shop/orders-6b8f9c7d54-p9zrt', labels: {}, targets: [] });
  });

  it('role service: one target per port at <name>.<namespace>.svc:<port>', () => {
    expect(serviceGroup(k8sFixture<K8sService>('service-orders.json'))).to.deep.equal(ORDERS_SERVICE_GROUP);
  });

  it('role service: ExternalName services carry the external name, LoadBalancer ones their ingress IPs', () => {
    const ext = serviceGroup({ metadata: { name: 'db', namespace: 'ops' }, spec: { type: 'ExternalName', externalName: 'db.example.com', ports: [{ port: 5432, protocol: 'TCP' }] } });
    expect(ext.targets).to.deep.equal([
      {
        __address__: 'db.ops.svc:5432',
        __meta_kubernetes_service_port_name: '',
        __meta_kubernetes_service_port_number: '5432',
        __meta_kubernetes_service_port_protocol: 'TCP',
        __meta_kubernetes_service_type: 'ExternalName',
        __meta_kubernetes_service_external_name: 'db.example.com',
      },
    ]);
    const lb = serviceGroup({
      metadata: { name: 'web', namespace: 'ops' },
      spec: { type: 'LoadBalancer', clusterIP: '10.96.0.9', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
      status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }, { ip: '203.0.113.8' }] } },
    });
    expect(lb.targets[0]).to.include({ __meta_kubernetes_service_cluster_ip: '10.96.0.9', __meta_kubernetes_service_loadbalancer_ip: '203.0.113.7,203.0.113.8' });
  });

  it('role endpoints: addresses × ports with pod and service labels, plus the pod ports no endpoint covers', () => {
    const svc = k8sFixture<K8sService>('service-orders.json');
    const pods = [k8sFixture<K8sPod>('pod-orders.json'), k8sFixture<K8sPod>('pod-billing.json')];
    const group = endpointsGroup(k8sFixture('endpoints-orders.json'), {
      service: (ns, name) => (ns === 'shop' && name === 'orders' ? svc : undefined),
      pod: (ns, name) => pods.find((p) => p.metadata?.namespace === ns && p.metadata?.name === name),
    });
    expect(group).to.deep.equal(ORDERS_ENDPOINTS_GROUP);
  });

  it('role endpoints: without the service and pods known, only the endpoints labels', () => {
    const group = endpointsGroup(k8sFixture('endpoints-orders.json'), { service: () => undefined, pod: () => undefined });
    expect(group.labels).to.not.have.property('__meta_kubernetes_service_name');
    expect(group.targets.map((t) => t.__address__)).to.deep.equal(['10.244.1.17:8080', '10.244.3.5:8080']);
  });

  it('IPv6 pod addresses are bracketed (net.JoinHostPort)', () => {
    const g = podGroup({ metadata: { name: 'p', namespace: 'n' }, status: { podIP: 'fd00::7' }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 9100 }] }] } });
    expect(g.targets[0]!.__address__).to.equal('[fd00::7]:9100');
  });

  it('sanitizes label names as strutil.SanitizeLabelName does', () => {
    expect(sanitizeLabelName('app.kubernetes.io/name')).to.equal('app_kubernetes_io_name');
    expect(sanitizeLabelName('covgate.io/scrape')).to.equal('covgate_io_scrape');
    expect(sanitizeLabelName('1-a_B')).to.equal('1_a_B');
  });
});
