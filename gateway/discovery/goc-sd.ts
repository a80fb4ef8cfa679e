import { repeat, systemTimers, type Cancel, type Timers } from '../clock/index.ts';
import { describeError } from '../errors.ts';
import { coalescedRefresh } from './refresh.ts';
import { fetchHttpGet } from './http-get.ts';
import {
  cloneGroups,
  silentLogger,
  type Discoverer,
  type DiscoveryError,
  type DiscoveryLogger,
  type HttpGet,
  type Labels,
  type SendGroups,
  type TargetGroup,
} from './types.ts';

export const GOC_SERVICE_LABEL = '__meta_goc_service';
export const GOC_SERVER_LABEL = '__meta_goc_server';

export interface GocSDOptions {
  /** Base URL of the goc server (`http://goc-server:7777`); `http://` is assumed without a scheme. */
  server: string;
  /** Poll this often; 0 disables the timer (tests call `refresh()`). */
  refreshIntervalMs: number;
  httpGet?: HttpGet;
  /** Per-request timeout. Default: the refresh interval, at most 10s. */
  timeoutMs?: number;
  logger?: DiscoveryLogger;
  /** Timers for the refresh interval; the system's unless injected (tests fire them). */
  timers?: Timers;
}

/**
 * Discovery from a goc server's registry (`GET <server>/v1/cover/list`,
 * answering `{"<service>": ["http://addr:port", ...], ...}`).
 *
 * Contract:
 * - The full set is one group, source `goc/<server>`, labels
 *   `{__meta_goc_server}`; each registered address is a target with
 *   `__address__` (host:port, default port filled in), `__scheme__` and
 *   `__meta_goc_service`. Services are ordered by name; duplicates dropped.
 * - It polls on start, every `refreshIntervalMs`, and on `refresh()`.
 *   Polls never overlap.
 * - A failed poll (transport error, non-200, a body that is not the map
 *   above) keeps the last good set and is listed by `lastErrors()`; nothing
 *   is sent before the first good poll. An address that cannot be parsed is
 *   skipped and logged, without failing the rest.
 * - `send` happens after the first good poll and then only on change.
 */
export interface GocSDDiscoverer extends Discoverer {
  /** Poll the server now. Never rejects. */
  refresh(): Promise<void>;
  /** The last poll's failure, while the last good set is served. */
  lastErrors(): DiscoveryError[];
}

export function createGocSDDiscoverer(opts: GocSDOptions): GocSDDiscoverer {
  const log = opts.logger ?? silentLogger;
  const httpGet = opts.httpGet ?? fetchHttpGet;
  const server = /^[a-z][a-z0-9+.-]*:\/\//i.test(opts.server) ? opts.server : `http://${opts.server}`;
  const listUrl = `${server.replace(/\/+$/, '')}/v1/cover/list`;
  const timeoutMs = opts.timeoutMs ?? Math.min(opts.refreshIntervalMs > 0 ? opts.refreshIntervalMs : 10_000, 10_000);
  const source = `goc/${server}`;

  let send: SendGroups | undefined;
  let started = false;
  let stopped = false;
  let lastSent: string | undefined;
  let failure: DiscoveryError | undefined;
  const timers = opts.timers ?? systemTimers;
  let timer: Cancel | undefined;
  const abort = new AbortController();

  const { refresh, inFlight } = coalescedRefresh(() => poll(), () => stopped);

  async function poll(): Promise<void> {
    let groups: TargetGroup[];
    try {
      const res = await httpGet(listUrl, { timeoutMs, signal: abort.signal });
      if (res.status !== 200) throw new Error(`GET ${listUrl}: HTTP ${res.status}`);
      let body: unknown;
      try {
        body = JSON.parse(res.body);
      } catch (err) {
        throw new Error(`GET ${listUrl}: invalid JSON: ${describeError(err)}`);
      }
      groups = [toGroup(body)];
    } catch (err) {
      if (stopped) return;
      const error = describeError(err);
      if (failure?.error !== error) log.warn({ server, err: error }, 'goc_sd: listing services failed; keeping the last good targets');
      failure = { source: listUrl, error, time: failure?.error === error ? failure.time : new Date() };
      return;
    }
    failure = undefined;
    if (stopped) return;
    const key = JSON.stringify(groups);
    if (key === lastSent) return;
    lastSent = key;
    send?.(cloneGroups(groups));
  }

  function toGroup(body: unknown): TargetGroup {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new Error(`GET ${listUrl}: expected an object of service name to address list`);
    }
    const targets: Labels[] = [];
    const entries = Object.entries(body as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [service, list] of entries) {
      if (!Array.isArray(list)) throw new Error(`GET ${listUrl}: service ${JSON.stringify(service)}: expected a list of addresses`);
      const seen = new Set<string>();
      for (const raw of list) {
        const parsed = typeof raw === 'string' ? parseAddress(raw) : undefined;
        if (parsed === undefined) {
          log.warn({ server, service, address: raw }, 'goc_sd: skipping an address that is not http(s)://host:port');
          continue;
        }
        const id = `${parsed.scheme}://${parsed.address}`;
        if (seen.has(id)) continue;
        seen.add(id);
        targets.push({ __address__: parsed.address, __scheme__: parsed.scheme, [GOC_SERVICE_LABEL]: service });
      }
    }
    return { source, labels: { [GOC_SERVER_LABEL]: server }, targets };
  }

  return {
    async start(s: SendGroups) {
      if (started || stopped) return;
      started = true;
      send = s;
      if (opts.refreshIntervalMs > 0) {
        timer = repeat(timers, opts.refreshIntervalMs, () => {
          refresh().catch((err) => log.error({ err: describeError(err) }, 'goc_sd: refresh failed'));
        });
      }
      await refresh();
    },
    async stop() {
      stopped = true;
      timer?.();
      timer = undefined;
      abort.abort();
      await inFlight()?.catch(() => {});
    },
    refresh,
    lastErrors: () => (failure ? [{ ...failure }] : []),
  };
}

/**
 * `http://10.0.0.1:7777` → `{scheme: 'http', address: '10.0.0.1:7777'}`.
 * Without a scheme, http is assumed (goc agents register bare host:port too);
 * without a port, the scheme's default is filled in. Paths are ignored.
 */
export function parseAddress(raw: string): { scheme: 'http' | 'https'; address: string } | undefined {
  const text = raw.trim();
  if (text === '') return undefined;
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    return undefined;
  }
  const scheme = url.protocol.slice(0, -1);
  if ((scheme !== 'http' && scheme !== 'https') || url.hostname === '') return undefined;
  const port = url.port || (scheme === 'https' ? '443' : '80');
  return { scheme, address: `${url.hostname}:${port}` };
}
