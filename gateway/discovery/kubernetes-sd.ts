import { readFile } from 'node:fs/promises';
import type { CoreV1Api, KubeConfig, ListWatch, Watch, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';

/**
 * The client is loaded on first use, not with the gateway: it is a large
 * module tree (about 25 MB of heap as source and code) that a gateway
 * without kubernetes_sd_configs never needs.
 */
let clientModule: Promise<typeof import('@kubernetes/client-node')> | undefined;
const client = () => (clientModule ??= import('@kubernetes/client-node'));
import type { KubernetesSDConfig, KubernetesSDRole } from '../config/types.ts';
import { describeError } from '../errors.ts';
import {
  endpointsGroup,
  podGroup,
  serviceGroup,
  type K8sEndpoints,
  type K8sPod,
  type K8sService,
} from './kubernetes-targets.ts';
import { cloneGroups, silentLogger, type Discoverer, type DiscoveryError, type DiscoveryLogger, type SendGroups, type TargetGroup } from './types.ts';
import { systemTimers, type Timers } from '../clock/index.ts';

/** Where a pod's service account is mounted (token, ca.crt, namespace). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubernetesSDOptions {
  config: KubernetesSDConfig;
  logger?: DiscoveryLogger;
  /** First wait before re-trying a failed list or watch; doubles up to `maxBackoffMs`. Default 1s. */
  minBackoffMs?: number;
  /** Default 30s (client-go's reflector backs off up to 30s as well). */
  maxBackoffMs?: number;
  /**
   * Changes after the first set are gathered this long before the set is
   * rebuilt and sent (Prometheus' discovery manager sends at most every 5 s).
   * Default 1s; 0 = on the next event-loop turn.
   */
  batchMs?: number;
  /** Back-off and batching timers (the one injected clock; tests pass a FakeClock). Default: the real, unref'd timers. */
  timers?: Timers;
  /** Folder holding the service account's `namespace` file, for `own_namespace`. Default SERVICE_ACCOUNT_DIR. */
  serviceAccountDir?: string;
}

/**
 * Kubernetes discovery (Prometheus `kubernetes_sd_configs`, roles `pod`,
 * `service`, `endpoints`) through `@kubernetes/client-node`.
 *
 * Contract:
 * - One list + watch per resource and namespace the role needs (pod: pods;
 *   service: services; endpoints: endpoints, services and pods, the latter
 *   two for their labels), each with its role's label/field selector. A list
 *   gives the resourceVersion the watch resumes from; a watch that ends is
 *   resumed from the last resourceVersion seen; `410 Gone` (an HTTP status or
 *   an ERROR event, as the API server answers a compacted version) makes it
 *   list again. Any other failure (refused, 403, 5xx) is retried after a
 *   back-off that doubles from `minBackoffMs` to `maxBackoffMs` and resets
 *   after a success; it is listed by `lastErrors()` meanwhile. What cannot
 *   work at all (a kubeconfig that cannot be read, no in-cluster service
 *   account, an unreadable token file) is listed there from the start and
 *   not retried: fix the file and reload.
 * - `send` carries the FULL set of groups built from every cache by
 *   `kubernetes-targets.ts` (Prometheus' label names and rules), groups
 *   without targets left out, ordered by source; nothing is sent until every
 *   list succeeded once (never a partial first picture), and afterwards only
 *   on change, the changes of `batchMs` gathered into one send.
 * - While a watch is down the last good objects stay (stale beats partial).
 * - `start()` resolves after the first send, or once some list failed its
 *   first attempt (discovery then goes on in the background).
 * - `stop()` aborts every request and timer; safe before start and twice.
 */
export interface KubernetesSDDiscoverer extends Discoverer {
  lastErrors(): DiscoveryError[];
}

type Resource = 'pods' | 'services' | 'endpoints';

const RESOURCES_OF_ROLE: Record<KubernetesSDRole, Resource[]> = {
  pod: ['pods'],
  service: ['services'],
  endpoints: ['endpoints', 'services', 'pods'],
};
const SELECTOR_ROLE_OF: Record<Resource, KubernetesSDRole> = { pods: 'pod', services: 'service', endpoints: 'endpoints' };

interface Informer {
  resource: Resource;
  namespace: string;
  path: string;
  lw?: ListWatch<KubernetesObject>;
  listed: boolean;
  failure?: DiscoveryError;
  backoffMs: number;
  retry?: unknown;
}

export function createKubernetesSDDiscoverer(opts: KubernetesSDOptions): KubernetesSDDiscoverer {
  const cfg = opts.config;
  const log = opts.logger ?? silentLogger;
  const minBackoff = opts.minBackoffMs ?? 1000;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const saDir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const batchMs = opts.batchMs ?? 1000;
  const timers = opts.timers ?? systemTimers;

  let started = false;
  let stopped = false;
  let send: SendGroups | undefined;
  let lastSent: string | undefined;
  let rebuildScheduled: { cancel(): void } | undefined;
  let informers: Informer[] = [];
  const controllers = new Set<AbortController>();
  let settle: (() => void) | undefined;

  async function kubeConfig(): Promise<KubeConfig> {
    const { KubeConfig } = await client();
    const kc = new KubeConfig();
    if (cfg.kubeconfig_file !== undefined) {
      kc.loadFromFile(cfg.kubeconfig_file);
    } else if (cfg.api_server !== undefined) {
      const token = cfg.bearer_token_file === undefined ? undefined : (await readFile(cfg.bearer_token_file, 'utf8')).trim();
      kc.loadFromOptions({
        clusters: [
          {
            name: 'covgate',
            server: cfg.api_server.replace(/\/+$/, ''),
            // client-node refuses http:// unless told TLS is skipped; there is no TLS to verify then.
            skipTLSVerify: cfg.tls_config.insecure_skip_verify || cfg.api_server.startsWith('http:'),
            ...(cfg.tls_config.ca_file === undefined ? {} : { caFile: cfg.tls_config.ca_file }),
          },
        ],
        users: [{ name: 'covgate', ...(token === undefined ? {} : { token }) }],
        contexts: [{ name: 'covgate', cluster: 'covgate', user: 'covgate' }],
        currentContext: 'covgate',
      });
    } else {
      if (!process.env.KUBERNETES_SERVICE_HOST) {
        throw new Error('kubernetes_sd: not running in a cluster (KUBERNETES_SERVICE_HOST unset); set api_server or kubeconfig_file');
      }
      // The pod's service account: token (re-read as it rotates), ca.crt, and KUBERNETES_SERVICE_HOST/PORT.
      kc.loadFromCluster();
    }
    return kc;
  }

  async function namespaces(): Promise<string[]> {
    const names = [...cfg.namespaces.names];
    if (cfg.namespaces.own_namespace) {
      const own = (await readFile(`${saDir}/namespace`, 'utf8')).trim();
      if (own === '') throw new Error(`kubernetes_sd: could not read own namespace name (empty file ${saDir}/namespace)`);
      names.push(own);
    }
    return names.length === 0 ? [''] : [...new Set(names)];
  }

  function selectorOf(resource: Resource): { labelSelector?: string; fieldSelector?: string } {
    const s = cfg.selectors.find((sel) => sel.role === SELECTOR_ROLE_OF[resource]);
    return { ...(s?.label ? { labelSelector: s.label } : {}), ...(s?.field ? { fieldSelector: s.field } : {}) };
  }

  function lister(api: CoreV1Api, resource: Resource, namespace: string): () => Promise<KubernetesListObject<KubernetesObject>> {
    const sel = selectorOf(resource);
    const all = namespace === '';
    switch (resource) {
      case 'pods':
        return () => (all ? api.listPodForAllNamespaces(sel) : api.listNamespacedPod({ namespace, ...sel }));
      case 'services':
        return () => (all ? api.listServiceForAllNamespaces(sel) : api.listNamespacedService({ namespace, ...sel }));
      case 'endpoints':
        return () => (all ? api.listEndpointsForAllNamespaces(sel) : api.listNamespacedEndpoints({ namespace, ...sel }));
    }
  }

  function succeeded(inf: Informer): void {
    inf.backoffMs = minBackoff;
    if (inf.failure) log.info({ source: inf.path }, 'kubernetes_sd: watching again');
    inf.failure = undefined;
  }

  function failed(inf: Informer, err: unknown): void {
    if (stopped) return; // requests aborted by stop() end in errors too
    const error = describeError(err);
    if (inf.failure?.error !== error) log.warn({ source: inf.path, err: error, retryInMs: inf.backoffMs }, 'kubernetes_sd: list/watch failed; keeping the last good targets');
    inf.failure = { source: inf.path, error, time: inf.failure?.error === error ? inf.failure.time : new Date() };
    if (!inf.listed) settle?.();
    if (inf.retry) return;
    const delay = inf.backoffMs;
    inf.backoffMs = Math.min(inf.backoffMs * 2, maxBackoff);
    inf.retry = timers.setTimeout(() => {
      inf.retry = undefined;
      if (stopped) return;
      inf.lw?.start().catch((e: unknown) => failed(inf, e));
    }, delay);
  }

  /**
   * The client's Watch, with three changes: every connection is tracked so
   * stop() can abort one still being opened; a failure to even start the
   * request (an unreadable token file) arrives through `done` like any other,
   * since ListWatch calls `done` without catching; and a watch that ended
   * without a single event is resumed only after the back-off, so a server or
   * proxy that closes every watch at once is not hammered in a loop.
   */
  function trackedWatch(k8s: typeof import('@kubernetes/client-node'), kc: KubeConfig, inf: Informer): Watch {
    const inner = new k8s.Watch(kc);
    const wrapper = Object.create(inner) as Watch;
    wrapper.watch = async (path, query, callback, done) => {
      if (stopped) {
        const aborted = new AbortController();
        aborted.abort();
        return aborted;
      }
      let events = 0;
      let finished = false;
      let controller: AbortController | undefined;
      const finish = (err: unknown) => {
        finished = true;
        if (controller) controllers.delete(controller);
        if (err || events > 0 || stopped) return done(err);
        const delay = inf.backoffMs;
        inf.backoffMs = Math.min(inf.backoffMs * 2, maxBackoff);
        const t = timers.setTimeout(() => {
          if (inf.retry === t) inf.retry = undefined;
          done(null);
        }, delay);
        inf.retry = t;
      };
      try {
        controller = await inner.watch(
          path,
          query,
          (phase, obj, raw) => {
            events++;
            if (phase !== 'ERROR') succeeded(inf);
            callback(phase, obj, raw);
          },
          finish,
        );
      } catch (err) {
        setImmediate(() => finish(err));
        const failedStart = new AbortController();
        failedStart.abort();
        return failedStart;
      }
      if (!finished) controllers.add(controller); // a connection that failed at once has already finished
      if (stopped) controller.abort();
      return controller;
    };
    return wrapper;
  }

  function scheduleRebuild(): void {
    if (stopped || rebuildScheduled) return;
    const run = () => {
      rebuildScheduled = undefined;
      rebuild();
    };
    // The first set goes out at once; later changes (a rollout is a burst of
    // events) are batched so the scrape stage re-syncs at most once per window.
    if (lastSent === undefined || batchMs === 0) {
      const i = setImmediate(run);
      rebuildScheduled = { cancel: () => clearImmediate(i) };
    } else {
      const t = timers.setTimeout(run, batchMs);
      rebuildScheduled = { cancel: () => timers.clearTimeout(t) };
    }
  }

  function objects<T>(resource: Resource): T[] {
    return informers.filter((i) => i.resource === resource).flatMap((i) => (i.lw?.list() ?? []) as T[]);
  }

  function rebuild(): void {
    if (stopped || !informers.every((i) => i.listed)) return;
    let groups: TargetGroup[];
    switch (cfg.role) {
      case 'pod':
        groups = objects<K8sPod>('pods').map(podGroup);
        break;
      case 'service':
        groups = objects<K8sService>('services').map(serviceGroup);
        break;
      case 'endpoints': {
        const key = (ns: string | undefined, name: string | undefined) => `${ns ?? ''}/${name ?? ''}`;
        const services = new Map(objects<K8sService>('services').map((s) => [key(s.metadata?.namespace, s.metadata?.name), s]));
        const pods = new Map(objects<K8sPod>('pods').map((p) => [key(p.metadata?.namespace, p.metadata?.name), p]));
        const lookups = { service: (ns: string, n: string) => services.get(key(ns, n)), pod: (ns: string, n: string) => pods.get(key(ns, n)) };
        groups = objects<K8sEndpoints>('endpoints').map((e) => endpointsGroup(e, lookups));
        break;
      }
    }
    groups = groups.filter((g) => g.targets.length > 0).sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
    const text = JSON.stringify(groups);
    settle?.();
    if (text === lastSent) return;
    lastSent = text;
    send?.(cloneGroups(groups));
  }

  async function startInformers(): Promise<void> {
    const kc = await kubeConfig();
    const k8s = await client();
    const api = kc.makeApiClient(k8s.CoreV1Api);
    const nss = await namespaces();
    for (const resource of RESOURCES_OF_ROLE[cfg.role]) {
      for (const namespace of nss) {
        const path = namespace === '' ? `/api/v1/${resource}` : `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}`;
        informers.push({ resource, namespace, path, listed: false, backoffMs: minBackoff });
      }
    }
    for (const inf of informers) {
      const list = lister(api, inf.resource, inf.namespace);
      const sel = selectorOf(inf.resource);
      const listFn = async () => {
        if (stopped) throw new Error('kubernetes_sd: stopped');
        const result = await list();
        inf.listed = true;
        succeeded(inf);
        scheduleRebuild(); // runs after ListWatch has put the items in its cache
        return result;
      };
      const lw = new k8s.ListWatch<KubernetesObject>(inf.path, trackedWatch(k8s, kc, inf), listFn, false, sel.labelSelector, sel.fieldSelector);
      for (const verb of ['add', 'update', 'delete'] as const) lw.on(verb, () => scheduleRebuild());
      lw.on('error', (err: unknown) => failed(inf, err));
      inf.lw = lw;
    }
    for (const inf of informers) inf.lw!.start().catch((err: unknown) => failed(inf, err));
  }

  return {
    async start(s: SendGroups) {
      if (started || stopped) return;
      started = true;
      send = s;
      const firstSettled = new Promise<void>((resolve) => (settle = resolve));
      try {
        await startInformers();
      } catch (err) {
        const error = describeError(err);
        log.error({ err: error }, 'kubernetes_sd: cannot start');
        informers = [{ resource: 'pods', namespace: '', path: cfg.api_server ?? cfg.kubeconfig_file ?? 'in-cluster', listed: false, backoffMs: minBackoff, failure: { source: cfg.api_server ?? cfg.kubeconfig_file ?? 'in-cluster', error, time: new Date() } }];
        return;
      }
      await firstSettled;
    },
    async stop() {
      stopped = true;
      settle?.();
      rebuildScheduled?.cancel();
      rebuildScheduled = undefined;
      for (const inf of informers) {
        if (inf.retry) timers.clearTimeout(inf.retry);
        inf.retry = undefined;
        await inf.lw?.stop();
      }
      for (const c of controllers) c.abort();
      controllers.clear();
    },
    lastErrors: () => informers.flatMap((i) => (i.failure ? [{ ...i.failure }] : [])),
  };
}
