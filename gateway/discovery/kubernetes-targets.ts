/**
 * Kubernetes objects → target groups, with Prometheus' `kubernetes_sd_configs`
 * label names and rules (prometheus/prometheus `discovery/kubernetes/`:
 * `pod.go` buildPod/podLabels, `service.go` buildService, `endpoints.go`
 * buildEndpoints, `kubernetes.go` addObjectMetaLabels). Pure: no I/O, the
 * objects come from the watch caches of `kubernetes-sd.ts`.
 *
 * The shapes below are the fields of the Kubernetes JSON (as `kubectl get -o
 * json` prints them) that discovery reads; objects deserialised by
 * `@kubernetes/client-node` have the same property names.
 */
import type { Labels, TargetGroup } from './types.ts';

export const K8S_META_PREFIX = '__meta_kubernetes_';
export const K8S_NAMESPACE_LABEL = '__meta_kubernetes_namespace';

export type KubernetesRole = 'pod' | 'service' | 'endpoints';
export const KUBERNETES_ROLES: readonly KubernetesRole[] = ['pod', 'service', 'endpoints'];

export interface K8sObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ kind?: string; name?: string; controller?: boolean }>;
}

export interface K8sContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface K8sContainer {
  name: string;
  image?: string;
  ports?: K8sContainerPort[];
}

export interface K8sPod {
  metadata?: K8sObjectMeta;
  spec?: { nodeName?: string; containers?: K8sContainer[]; initContainers?: K8sContainer[] };
  status?: {
    phase?: string;
    podIP?: string;
    hostIP?: string;
    conditions?: Array<{ type?: string; status?: string }>;
    containerStatuses?: Array<{ name?: string; containerID?: string }>;
    initContainerStatuses?: Array<{ name?: string; containerID?: string }>;
  };
}

export interface K8sService {
  metadata?: K8sObjectMeta;
  spec?: {
    type?: string;
    clusterIP?: string;
    externalName?: string;
    loadBalancerIP?: string;
    ports?: Array<{ name?: string; port: number; protocol?: string }>;
  };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string }> } };
}

export interface K8sEndpointAddress {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef?: { kind?: string; name?: string; namespace?: string };
}

export interface K8sEndpoints {
  metadata?: K8sObjectMeta;
  subsets?: Array<{
    addresses?: K8sEndpointAddress[];
    notReadyAddresses?: K8sEndpointAddress[];
    ports?: Array<{ name?: string; port: number; protocol?: string }>;
  }>;
}

/** Prometheus `strutil.SanitizeLabelName`: every character outside [a-zA-Z0-9_] becomes `_`. */
export function sanitizeLabelName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

/** `net.JoinHostPort`: IPv6 literals in brackets. */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * `addObjectMetaLabels`: `<role>_name`, and for every label and annotation
 * `<role>_label_<name>`, `<role>_labelpresent_<name>`, `<role>_annotation_<name>`,
 * `<role>_annotationpresent_<name>` (names sanitised, presence value "true").
 */
export function objectMetaLabels(meta: K8sObjectMeta | undefined, resource: string): Labels {
  const ls: Labels = { [`${K8S_META_PREFIX}${resource}_name`]: meta?.name ?? '' };
  for (const [k, v] of Object.entries(meta?.labels ?? {})) {
    const ln = sanitizeLabelName(k);
    ls[`${K8S_META_PREFIX}${resource}_label_${ln}`] = v;
    ls[`${K8S_META_PREFIX}${resource}_labelpresent_${ln}`] = 'true';
  }
  for (const [k, v] of Object.entries(meta?.annotations ?? {})) {
    const ln = sanitizeLabelName(k);
    ls[`${K8S_META_PREFIX}${resource}_annotation_${ln}`] = v;
    ls[`${K8S_META_PREFIX}${resource}_annotationpresent_${ln}`] = 'true';
  }
  return ls;
}

function podReady(pod: K8sPod): string {
  const cond = (pod.status?.conditions ?? []).find((c) => c.type === 'Ready');
  return (cond?.status ?? 'Unknown').toLowerCase();
}

/** `podLabels` of pod.go: the pod's own labels, shared by the pod and endpoints roles. */
export function podLabels(pod: K8sPod): Labels {
  const ls: Labels = {
    __meta_kubernetes_pod_ip: pod.status?.podIP ?? '',
    __meta_kubernetes_pod_ready: podReady(pod),
    __meta_kubernetes_pod_phase: pod.status?.phase ?? '',
    __meta_kubernetes_pod_node_name: pod.spec?.nodeName ?? '',
    __meta_kubernetes_pod_host_ip: pod.status?.hostIP ?? '',
    __meta_kubernetes_pod_uid: pod.metadata?.uid ?? '',
    ...objectMetaLabels(pod.metadata, 'pod'),
  };
  const controller = (pod.metadata?.ownerReferences ?? []).find((r) => r.controller === true);
  if (controller?.kind) ls.__meta_kubernetes_pod_controller_kind = controller.kind;
  if (controller?.name) ls.__meta_kubernetes_pod_controller_name = controller.name;
  return ls;
}

function podContainers(pod: K8sPod): Array<{ c: K8sContainer; isInit: boolean }> {
  return [
    ...(pod.spec?.containers ?? []).map((c) => ({ c, isInit: false })),
    ...(pod.spec?.initContainers ?? []).map((c) => ({ c, isInit: true })),
  ];
}

function namespacedName(meta: K8sObjectMeta | undefined): string {
  return `${meta?.namespace ?? ''}/${meta?.name ?? ''}`;
}

/** Group source of a pod, `pod/<namespace>/<name>` (pod.go podSource). */
export function podSource(pod: K8sPod): string {
  return `pod/${namespacedName(pod.metadata)}`;
}

/**
 * Role `pod` (pod.go buildPod): one target per container port at
 * `<podIP>:<containerPort>`; a container without ports gives one target whose
 * `__address__` is the bare pod IP (relabeling must add a port). Init
 * containers count too, with `pod_container_init: "true"`. A pod without an
 * IP (pending, evicted) yields an empty group.
 */
export function podGroup(pod: K8sPod): TargetGroup {
  const group: TargetGroup = { source: podSource(pod), labels: {}, targets: [] };
  const ip = pod.status?.podIP ?? '';
  if (ip === '') return group;
  group.labels = { ...podLabels(pod), [K8S_NAMESPACE_LABEL]: pod.metadata?.namespace ?? '' };
  for (const { c, isInit } of podContainers(pod)) {
    const statuses = (isInit ? pod.status?.initContainerStatuses : pod.status?.containerStatuses) ?? [];
    const base: Labels = {
      __meta_kubernetes_pod_container_name: c.name,
      __meta_kubernetes_pod_container_id: statuses.find((s) => s.name === c.name)?.containerID ?? '',
      __meta_kubernetes_pod_container_image: c.image ?? '',
      __meta_kubernetes_pod_container_init: String(isInit),
    };
    const ports = c.ports ?? [];
    if (ports.length === 0) {
      group.targets.push({ __address__: ip, ...base });
      continue;
    }
    for (const p of ports) {
      group.targets.push({
        __address__: joinHostPort(ip, p.containerPort),
        ...base,
        __meta_kubernetes_pod_container_port_number: String(p.containerPort),
        __meta_kubernetes_pod_container_port_name: p.name ?? '',
        __meta_kubernetes_pod_container_port_protocol: p.protocol ?? '',
      });
    }
  }
  return group;
}

/** service.go serviceLabels: namespace plus the service's name, labels, annotations. */
export function serviceLabels(svc: K8sService): Labels {
  return { [K8S_NAMESPACE_LABEL]: svc.metadata?.namespace ?? '', ...objectMetaLabels(svc.metadata, 'service') };
}

/**
 * Role `service` (service.go buildService): one target per service port at
 * `<name>.<namespace>.svc:<port>`, with the port's name, number, protocol,
 * the service type, and the cluster IP (or the external name for
 * ExternalName services; LoadBalancer services add their ingress IPs).
 */
export function serviceGroup(svc: K8sService): TargetGroup {
  const group: TargetGroup = { source: `svc/${namespacedName(svc.metadata)}`, labels: serviceLabels(svc), targets: [] };
  const type = svc.spec?.type ?? '';
  for (const port of svc.spec?.ports ?? []) {
    const t: Labels = {
      __address__: joinHostPort(`${svc.metadata?.name ?? ''}.${svc.metadata?.namespace ?? ''}.svc`, port.port),
      __meta_kubernetes_service_port_name: port.name ?? '',
      __meta_kubernetes_service_port_number: String(port.port),
      __meta_kubernetes_service_port_protocol: port.protocol ?? '',
      __meta_kubernetes_service_type: type,
    };
    if (type === 'ExternalName') t.__meta_kubernetes_service_external_name = svc.spec?.externalName ?? '';
    else t.__meta_kubernetes_service_cluster_ip = svc.spec?.clusterIP ?? '';
    if (type === 'LoadBalancer') {
      const ips = (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '').filter((ip) => ip !== '');
      t.__meta_kubernetes_service_loadbalancer_ip = ips.length > 0 ? ips.join(',') : (svc.spec?.loadBalancerIP ?? '');
    }
    group.targets.push(t);
  }
  return group;
}

/** Looks up objects of the watch caches by `namespace/name`. */
export interface EndpointsLookups {
  service(namespace: string, name: string): K8sService | undefined;
  pod(namespace: string, name: string): K8sPod | undefined;
}

/**
 * Role `endpoints` (endpoints.go buildEndpoints): one target per address and
 * port of every subset (`endpoint_ready` "true" for addresses, "false" for
 * notReadyAddresses), with the service's labels when the service is known and
 * the endpoints object's own. An address whose targetRef is a known Pod gets
 * the pod's labels and, when a container port has the endpoint's port
 * number, that container's labels. Every other container port of such a pod
 * becomes a target of its own (so sidecar ports are discovered too).
 */
export function endpointsGroup(eps: K8sEndpoints, lookups: EndpointsLookups): TargetGroup {
  const ns = eps.metadata?.namespace ?? '';
  const group: TargetGroup = { source: `endpoints/${namespacedName(eps.metadata)}`, labels: { [K8S_NAMESPACE_LABEL]: ns }, targets: [] };
  const svc = lookups.service(ns, eps.metadata?.name ?? '');
  if (svc) Object.assign(group.labels, serviceLabels(svc));
  Object.assign(group.labels, objectMetaLabels(eps.metadata, 'endpoints'));

  const seenPods = new Map<string, { pod: K8sPod; ports: number[] }>();
  const add = (addr: K8sEndpointAddress, port: { name?: string; port: number; protocol?: string }, ready: string) => {
    let target: Labels = {
      __address__: joinHostPort(addr.ip, port.port),
      __meta_kubernetes_endpoint_port_name: port.name ?? '',
      __meta_kubernetes_endpoint_port_protocol: port.protocol ?? '',
      __meta_kubernetes_endpoint_ready: ready,
    };
    if (addr.targetRef) {
      target.__meta_kubernetes_endpoint_address_target_kind = addr.targetRef.kind ?? '';
      target.__meta_kubernetes_endpoint_address_target_name = addr.targetRef.name ?? '';
    }
    if (addr.nodeName !== undefined && addr.nodeName !== null) target.__meta_kubernetes_endpoint_node_name = addr.nodeName;
    if (addr.hostname) target.__meta_kubernetes_endpoint_hostname = addr.hostname;

    const ref = addr.targetRef;
    const pod = ref?.kind === 'Pod' ? lookups.pod(ref.namespace ?? '', ref.name ?? '') : undefined;
    if (!pod) {
      group.targets.push(target);
      return;
    }
    const key = namespacedName(pod.metadata);
    let seen = seenPods.get(key);
    if (!seen) seenPods.set(key, (seen = { pod, ports: [] }));
    target = { ...target, ...podLabels(pod) };
    for (const { c, isInit } of podContainers(pod)) {
      const cport = (c.ports ?? []).find((p) => p.containerPort === port.port);
      if (!cport) continue;
      target.__meta_kubernetes_pod_container_name = c.name;
      target.__meta_kubernetes_pod_container_image = c.image ?? '';
      target.__meta_kubernetes_pod_container_port_name = cport.name ?? '';
      target.__meta_kubernetes_pod_container_port_number = String(port.port);
      target.__meta_kubernetes_pod_container_port_protocol = port.protocol ?? '';
      target.__meta_kubernetes_pod_container_init = String(isInit);
      break;
    }
    seen.ports.push(port.port);
    group.targets.push(target);
  };

  for (const ss of eps.subsets ?? []) {
    for (const port of ss.ports ?? []) {
      for (const addr of ss.addresses ?? []) add(addr, port, 'true');
      for (const addr of ss.notReadyAddresses ?? []) add(addr, port, 'false');
    }
  }

  for (const { pod, ports } of seenPods.values()) {
    const ip = pod.status?.podIP ?? '';
    if (ip === '') continue;
    for (const { c, isInit } of podContainers(pod)) {
      for (const cport of c.ports ?? []) {
        if (ports.includes(cport.containerPort)) continue;
        group.targets.push({
          __address__: joinHostPort(ip, cport.containerPort),
          __meta_kubernetes_pod_container_name: c.name,
          __meta_kubernetes_pod_container_image: c.image ?? '',
          __meta_kubernetes_pod_container_port_name: cport.name ?? '',
          __meta_kubernetes_pod_container_port_number: String(cport.containerPort),
          __meta_kubernetes_pod_container_port_protocol: cport.protocol ?? '',
          __meta_kubernetes_pod_container_init: String(isInit),
          ...podLabels(pod),
        });
      }
    }
  }
  return group;
}
