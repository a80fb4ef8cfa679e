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
import { endpointsGroup, podGroup, sanitizeLabelName, serviceGroup, type K8sPod, type K8sService } from '../../gateway/discovery/kubernetes-targets.ts';
import { BILLING_POD_GROUP, k8sFixture, ORDERS_ENDPOINTS_GROUP, ORDERS_POD_GROUP, ORDERS_SERVICE_GROUP } from '../fixtures/kubernetes/expected.ts';

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
