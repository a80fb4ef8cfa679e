/**
 * A Kubernetes API server stand-in on 127.0.0.1:0 for pods, services and
 * endpoints (core/v1), speaking the list/watch protocol the real one speaks
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes):
 *
 * - `GET /api/v1/<resource>` and `/api/v1/namespaces/<ns>/<resource>`: a
 *   `<Kind>List` with `metadata.resourceVersion`, filtered by `labelSelector`
 *   and `fieldSelector`.
 * - the same with `?watch=true` (or `1`) and `resourceVersion=N`: a chunked
 *   `application/json` stream, one `{"type","object"}` per line (ADDED,
 *   MODIFIED, DELETED) for every change after N, then live changes. An
 *   object that starts or stops matching the selector arrives as ADDED or
 *   DELETED, as the API server's watch cache sends it.
 * - a version older than the compaction point (see `compact()`) gets the
 *   real answer: HTTP 200, one `ERROR` event carrying a `Status` with code
 *   410 (reason `Expired`, "too old resource version"), and the end of the
 *   stream; `expireWatches()` does that to every open watch.
 * - `failNext(n, status)` answers the next n requests with that status and a
 *   `Status` body (failure injection).
 *
 * Objects are stored as given (the committed fixtures are `kubectl get -o
 * json` shapes); every change gets the next resourceVersion.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Resource = 'pods' | 'services' | 'endpoints';
type Obj = { metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> }; [k: string]: unknown };

const KIND: Record<Resource, string> = { pods: 'Pod', services: 'Service', endpoints: 'Endpoints' };

interface Event {
  rv: number;
  resource: Resource;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
  /** The object before the change (for selector transitions). */
  previous?: Obj;
}

interface OpenWatch {
  resource: Resource;
  namespace: string;
  label: string;
  field: string;
  res: ServerResponse;
}

export interface RequestRecord {
  method: string;
  path: string;
  watch: boolean;
  resourceVersion?: string;
  labelSelector?: string;
  fieldSelector?: string;
  authorization?: string;
}

export interface FakeKubernetesApi {
  url: string;
  /** Every request, in arrival order. */
  requests: RequestRecord[];
  add(resource: Resource, obj: object): void;
  modify(resource: Resource, obj: object): void;
  remove(resource: Resource, namespace: string, name: string): void;
  /** Forget the events before the current version: a watch from an older resourceVersion gets 410 (a list's version stays watchable). */
  compact(): void;
  /** compact() and end every open watch with an ERROR 410 event. */
  expireWatches(): void;
  /** End every open watch cleanly, as the API server does at a watch's timeout. */
  endWatches(): void;
  /** Answer the next `n` requests with `status`. */
  failNext(n: number, status: number): void;
  openWatches(): number;
  /** Resolves once a watch for `resource` is open (and was opened after `sinceRequest` requests). */
  watchOpened(resource: Resource, sinceRequest?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeKubernetesApi(): Promise<FakeKubernetesApi> {
  let rv = 1000;
  let compactedAt = 0;
  const store: Record<Resource, Map<string, Obj>> = { pods: new Map(), services: new Map(), endpoints: new Map() };
  const events: Event[] = [];
  const watches = new Set<OpenWatch>();
  const requests: RequestRecord[] = [];
  let failures: { n: number; status: number } = { n: 0, status: 500 };
  let watchWaiters: Array<{ resource: Resource; since: number; resolve: () => void }> = [];

  const key = (o: Obj) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

  function matches(o: Obj, namespace: string, label: string, field: string): boolean {
    if (namespace !== '' && o.metadata.namespace !== namespace) return false;
    return matchLabels(o.metadata.labels ?? {}, label) && matchFields(o, field);
  }

  function line(w: OpenWatch, type: string, object: unknown): void {
    w.res.write(JSON.stringify({ type, object }) + '\n');
  }

  function deliver(e: Event, w: OpenWatch): void {
    if (e.resource !== w.resource) return;
    const now = matches(e.object, w.namespace, w.label, w.field);
    const before = e.previous ? matches(e.previous, w.namespace, w.label, w.field) : false;
    if (e.type === 'DELETED') {
      if (now) line(w, 'DELETED', e.object);
    } else if (now && before) line(w, 'MODIFIED', e.object);
    else if (now) line(w, 'ADDED', e.object);
    else if (before) line(w, 'DELETED', e.object);
  }

  function change(resource: Resource, type: Event['type'], obj: Obj, previous?: Obj): void {
    rv++;
    const object = structuredClone(obj);
    object.metadata.resourceVersion = String(rv);
    if (type === 'DELETED') store[resource].delete(key(object));
    else store[resource].set(key(object), object);
    const e: Event = { rv, resource, type, object, ...(previous ? { previous } : {}) };
    events.push(e);
    for (const w of watches) deliver(e, w);
  }

  function status(code: number, reason: string, message: string) {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const q = url.searchParams;
    const watch = q.get('watch') === 'true' || q.get('watch') === '1';
    const record: RequestRecord = { method: req.method ?? 'GET', path: url.pathname, watch };
    for (const k of ['resourceVersion', 'labelSelector', 'fieldSelector'] as const) {
      const v = q.get(k);
      if (v !== null) record[k] = v;
    }
    if (req.headers.authorization) record.authorization = req.headers.authorization;
    requests.push(record);

    if (failures.n > 0) {
      failures.n--;
      res.writeHead(failures.status, { 'content-type': 'application/json' }).end(JSON.stringify(status(failures.status, 'InternalError', 'injected failure')));
      return;
    }
    const m = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?(pods|services|endpoints)$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify(status(404, 'NotFound', `the server could not find the requested resource`)));
      return;
    }
    const namespace = decodeURIComponent(m[1] ?? '');
    const resource = m[2] as Resource;
    const label = q.get('labelSelector') ?? '';
    const field = q.get('fieldSelector') ?? '';

    if (!watch) {
      const items = [...store[resource].values()].filter((o) => matches(o, namespace, label, field)).sort((a, b) => (key(a) < key(b) ? -1 : 1));
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ kind: `${KIND[resource]}List`, apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items: items.map((o) => ({ ...o, kind: KIND[resource], apiVersion: 'v1' })) }),
      );
      return;
    }

    const from = Number(q.get('resourceVersion') ?? '0');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const w: OpenWatch = { resource, namespace, label, field, res };
    if (!Number.isFinite(from) || from < compactedAt) {
      line(w, 'ERROR', status(410, 'Expired', `too old resource version: ${q.get('resourceVersion')} (${compactedAt})`));
      res.end();
      return;
    }
    watches.add(w);
    res.on('close', () => watches.delete(w));
    for (const e of events) if (e.rv > from) deliver(e, w);
    const ready = watchWaiters.filter((x) => x.resource === resource && requests.length > x.since);
    watchWaiters = watchWaiters.filter((x) => !ready.includes(x));
    for (const x of ready) x.resolve();
  }

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  function compact(): void {
    compactedAt = rv;
    events.length = 0;
  }

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    add(resource, obj) {
      change(resource, 'ADDED', obj as Obj);
    },
    modify(resource, obj) {
      const o = obj as Obj;
      const previous = store[resource].get(key(o));
      if (!previous) throw new Error(`fake kube-apiserver: no ${resource} ${key(o)} to modify`);
      change(resource, 'MODIFIED', o, previous);
    },
    remove(resource, namespace, name) {
      const previous = store[resource].get(`${namespace}/${name}`);
      if (!previous) throw new Error(`fake kube-apiserver: no ${resource} ${namespace}/${name} to delete`);
      change(resource, 'DELETED', previous, previous);
    },
    compact,
    expireWatches() {
      compact();
      for (const w of [...watches]) {
        line(w, 'ERROR', status(410, 'Expired', `too old resource version: ${rv - 1} (${compactedAt})`));
        w.res.end();
        watches.delete(w);
      }
    },
    endWatches() {
      for (const w of [...watches]) {
        w.res.end();
        watches.delete(w);
      }
    },
    failNext(n, code) {
      failures = { n, status: code };
    },
    openWatches: () => watches.size,
    watchOpened(resource, sinceRequest = requests.length) {
      if ([...watches].some((w) => w.resource === resource) && requests.slice(sinceRequest).some((r) => r.watch && r.path.endsWith(`/${resource}`))) {
        return Promise.resolve();
      }
      return new Promise((resolve) => watchWaiters.push({ resource, since: sinceRequest, resolve }));
    },
    async close() {
      for (const w of watches) w.res.destroy();
      watches.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Equality-based and set-based label selectors (`a=b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`). */
export function matchLabels(labels: Record<string, string>, selector: string): boolean {
  if (selector.trim() === '') return true;
  const terms = selector.match(/(?:[^,(]|\([^)]*\))+/g) ?? [];
  return terms.every((raw) => {
    const t = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(t))) {
      const values = m[3]!.split(',').map((v) => v.trim());
      const has = m[1]! in labels && values.includes(labels[m[1]!]!);
      return m[2] === 'in' ? has : !has;
    }
    if ((m = /^(.+?)\s*(==|=|!=)\s*(.*)$/.exec(t))) {
      const eq = labels[m[1]!] === m[3];
      return m[2] === '!=' ? !eq : eq;
    }
    if (t.startsWith('!')) return !(t.slice(1) in labels);
    return t in labels;
  });
}

/** Field selectors over dotted paths (`status.phase=Running`, `metadata.name!=x`). */
export function matchFields(obj: unknown, selector: string): boolean {
  if (selector.trim() === '') return true;
  return selector.split(',').every((raw) => {
    const m = /^(.+?)\s*(==|=|!=)\s*(.*)$/.exec(raw.trim());
    if (!m) return false;
    let v: unknown = obj;
    for (const part of m[1]!.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
    const eq = String(v ?? '') === m[3];
    return m[2] === '!=' ? !eq : eq;
  });
}
