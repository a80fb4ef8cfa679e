import { systemTimers, type Timers } from '../clock/index.ts';
import type { FileSDConfig, GocSDConfig, KubernetesSDConfig, ScrapeConfig, StaticConfig } from '../config/types.ts';
import { describeError } from '../errors.ts';
import { createFileSDDiscoverer } from './file-sd.ts';
import { createGocSDDiscoverer } from './goc-sd.ts';
import { fetchHttpGet } from './http-get.ts';
import { createKubernetesSDDiscoverer } from './kubernetes-sd.ts';
import { createStaticDiscoverer } from './static.ts';
import {
  cloneGroups,
  silentLogger,
  type Discoverer,
  type DiscoveryError,
  type DiscoveryLogger,
  type HttpGet,
  type TargetGroup,
} from './types.ts';

/** Every job's groups: the full picture, never a diff. A job absent from the map has no targets. */
export type TargetSets = Map<string, TargetGroup[]>;

/** What a config-owned provider is built from. */
export type ProviderSpec =
  | { kind: 'static'; job: string; name: string; configs: StaticConfig[] }
  | { kind: 'file_sd'; job: string; name: string; config: FileSDConfig }
  | { kind: 'goc_sd'; job: string; name: string; config: GocSDConfig }
  | { kind: 'kubernetes_sd'; job: string; name: string; config: KubernetesSDConfig };

export interface ProviderStatus {
  job: string;
  name: string;
  kind: ProviderSpec['kind'] | 'external';
  groups: number;
  targets: number;
  /** The provider's `lastErrors()`, when it has one: sources served stale or not at all. */
  errors: DiscoveryError[];
}

export interface DiscoveryManagerOptions {
  logger?: DiscoveryLogger;
  /** HTTP client for goc_sd. Default: fetch with a timeout. */
  httpGet?: HttpGet;
  /** Folder relative file_sd globs resolve against (the loader normally resolved them already). */
  baseDir?: string;
  /** Coalescing window for notifications. 0 (default): one notification per event-loop turn. */
  updateDelayMs?: number;
  /** How long applyConfig/start wait for a new provider's first send before notifying anyway. Default 10s. */
  providerStartTimeoutMs?: number;
  /** Builds config-owned providers; tests inject fakes to watch starts and stops. */
  providerFactoryForTests?: (spec: ProviderSpec) => Discoverer;
  /** Timers of the manager (coalescing, start timeout) and its file_sd / goc_sd providers; the system's unless injected. */
  timers?: Timers;
}

/**
 * Runs every job's discovery providers and merges their sets (Prometheus
 * `discovery.Manager`).
 *
 * Contract:
 * - `applyConfig` builds one provider per job for `static_configs` (name
 *   `static`) and one per `file_sd_configs` / `goc_sd_configs` /
 *   `kubernetes_sd_configs` entry (`file_sd/<i>`, `goc_sd/<i>`,
 *   `kubernetes_sd/<i>`). A provider whose kind and config are unchanged
 *   is kept running, not restarted (its targets never blink);
 *   changed or removed ones are stopped and their groups dropped; new ones
 *   started. The notification after a reload is sent once the new providers
 *   made their first send (or `providerStartTimeoutMs` passed), so consumers
 *   never see a job half-loaded.
 * - `addProvider(job, name, d)` plugs in a provider the config does not own
 *   (self-registration); the same job and name replaces the previous one.
 *   Such providers survive `applyConfig`.
 * - Subscribers receive the FULL map of all jobs' groups, a fresh copy each
 *   time, on every change, coalesced: bursts of sends yield one
 *   notification. Configured jobs are present even with no groups. `flush()`
 *   delivers a pending notification now. Subscribers do not get a replay;
 *   call `current()` first.
 * - Operations run one at a time in call order; none rejects (failures are
 *   logged). `stop()` is safe before `start()` and twice; after it, nothing
 *   is started and nothing notified.
 */
export interface DiscoveryManager {
  applyConfig(scrapeConfigs: readonly ScrapeConfig[]): Promise<void>;
  addProvider(job: string, name: string, discoverer: Discoverer): Promise<void>;
  removeProvider(job: string, name: string): Promise<void>;
  subscribe(cb: (sets: TargetSets) => void): () => void;
  current(): TargetSets;
  providers(): ProviderStatus[];
  flush(): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface Entry {
  job: string;
  name: string;
  kind: ProviderStatus['kind'];
  /** Identity of the config it was built from; undefined for external providers. */
  fingerprint?: string;
  discoverer: Discoverer;
  groups: TargetGroup[];
  state: 'idle' | 'started' | 'stopped';
}

export function createDiscoveryManager(opts: DiscoveryManagerOptions = {}): DiscoveryManager {
  const log = opts.logger ?? silentLogger;
  const httpGet = opts.httpGet ?? fetchHttpGet;
  const startTimeoutMs = opts.providerStartTimeoutMs ?? 10_000;
  const timers = opts.timers ?? systemTimers;
  const factory =
    opts.providerFactoryForTests ??
    ((spec: ProviderSpec): Discoverer => {
      switch (spec.kind) {
        case 'static':
          return createStaticDiscoverer(spec.configs);
        case 'file_sd':
          return createFileSDDiscoverer({
            files: spec.config.files,
            refreshIntervalMs: spec.config.refresh_interval,
            ...(opts.baseDir === undefined ? {} : { baseDir: opts.baseDir }),
            logger: log,
            timers,
          });
        case 'goc_sd':
          return createGocSDDiscoverer({ server: spec.config.server, refreshIntervalMs: spec.config.refresh_interval, httpGet, logger: log, timers });
        case 'kubernetes_sd':
          return createKubernetesSDDiscoverer({ config: spec.config, logger: log, timers });
      }
    });

  let state: 'new' | 'running' | 'stopped' = 'new';
  let configJobs: string[] = [];
  let configEntries = new Map<string, Entry[]>();
  const externalEntries = new Map<string, Map<string, Entry>>();
  const subscribers = new Set<(sets: TargetSets) => void>();

  // --- notifications -------------------------------------------------------
  let dirty = false;
  let held = 0;
  let scheduled: { cancel(): void } | undefined;

  function markDirty(): void {
    dirty = true;
    schedule();
  }

  function schedule(): void {
    if (!dirty || scheduled || held > 0 || state !== 'running') return;
    const delay = opts.updateDelayMs ?? 0;
    if (delay > 0) {
      const t = timers.setTimeout(deliver, delay);
      scheduled = { cancel: () => timers.clearTimeout(t) };
    } else {
      const i = setImmediate(deliver);
      scheduled = { cancel: () => clearImmediate(i) };
    }
  }

  function deliver(): void {
    scheduled = undefined;
    if (!dirty || state !== 'running') return;
    dirty = false;
    for (const cb of [...subscribers]) {
      try {
        cb(current());
      } catch (err) {
        log.error({ err: describeError(err) }, 'discovery: subscriber failed');
      }
    }
  }

  function flush(): void {
    scheduled?.cancel();
    scheduled = undefined;
    deliver();
  }

  // --- state ---------------------------------------------------------------
  function current(): TargetSets {
    const sets: TargetSets = new Map();
    for (const job of configJobs) sets.set(job, []);
    for (const job of [...externalEntries.keys()].sort()) if (!sets.has(job)) sets.set(job, []);
    for (const [job, entries] of configEntries) for (const e of entries) sets.get(job)!.push(...cloneGroups(e.groups));
    for (const [job, entries] of externalEntries) for (const e of entries.values()) sets.get(job)!.push(...cloneGroups(e.groups));
    return sets;
  }

  function allEntries(): Entry[] {
    return [...[...configEntries.values()].flat(), ...[...externalEntries.values()].flatMap((m) => [...m.values()])];
  }

  // --- provider lifecycle --------------------------------------------------
  async function startEntry(e: Entry): Promise<void> {
    if (e.state !== 'idle' || state !== 'running') return;
    e.state = 'started';
    const send = (groups: TargetGroup[]) => {
      if (e.state !== 'started') return;
      e.groups = cloneGroups(groups);
      markDirty();
    };
    let timer: unknown;
    try {
      const started = Promise.resolve(e.discoverer.start(send));
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = timers.setTimeout(() => resolve('timeout'), startTimeoutMs);
      });
      if ((await Promise.race([started, timeout])) === 'timeout') {
        log.warn({ job: e.job, provider: e.name, timeoutMs: startTimeoutMs }, 'discovery: provider is slow to start; going on without it');
        started.catch((err: unknown) => log.error({ job: e.job, provider: e.name, err: describeError(err) }, 'discovery: provider failed to start'));
      }
    } catch (err) {
      log.error({ job: e.job, provider: e.name, err: describeError(err) }, 'discovery: provider failed to start');
    } finally {
      timers.clearTimeout(timer);
    }
  }

  async function stopEntry(e: Entry): Promise<void> {
    const wasActive = e.state !== 'stopped';
    e.state = 'stopped';
    if (e.groups.length > 0) markDirty();
    e.groups = [];
    if (!wasActive) return;
    try {
      await e.discoverer.stop();
    } catch (err) {
      log.error({ job: e.job, provider: e.name, err: describeError(err) }, 'discovery: provider failed to stop');
    }
  }

  // --- serialised operations -------------------------------------------------
  let queue: Promise<void> = Promise.resolve();
  function enqueue(op: () => Promise<void>): Promise<void> {
    const run = async () => {
      held++;
      try {
        await op();
      } catch (err) {
        log.error({ err: describeError(err) }, 'discovery: operation failed');
      } finally {
        held--;
        schedule();
      }
    };
    queue = queue.then(run, run);
    return queue;
  }

  function specsOf(cfg: ScrapeConfig): Array<{ spec: ProviderSpec; fingerprint: string }> {
    const job = cfg.job_name;
    const out: Array<{ spec: ProviderSpec; fingerprint: string }> = [];
    if (cfg.static_configs.length > 0) {
      out.push({ spec: { kind: 'static', job, name: 'static', configs: cfg.static_configs }, fingerprint: 'static:' + stableJson(cfg.static_configs) });
    }
    cfg.file_sd_configs.forEach((config, i) =>
      out.push({ spec: { kind: 'file_sd', job, name: `file_sd/${i}`, config }, fingerprint: 'file_sd:' + stableJson(config) }),
    );
    cfg.goc_sd_configs.forEach((config, i) =>
      out.push({ spec: { kind: 'goc_sd', job, name: `goc_sd/${i}`, config }, fingerprint: 'goc_sd:' + stableJson(config) }),
    );
    cfg.kubernetes_sd_configs.forEach((config, i) =>
      out.push({ spec: { kind: 'kubernetes_sd', job, name: `kubernetes_sd/${i}`, config }, fingerprint: 'kubernetes_sd:' + stableJson(config) }),
    );
    return out;
  }

  function applyConfig(scrapeConfigs: readonly ScrapeConfig[]): Promise<void> {
    return enqueue(async () => {
      if (state === 'stopped') return;
      const nextJobs: string[] = [];
      const wanted = new Map<string, Array<{ spec: ProviderSpec; fingerprint: string }>>();
      for (const cfg of scrapeConfigs) {
        if (!wanted.has(cfg.job_name)) {
          nextJobs.push(cfg.job_name);
          wanted.set(cfg.job_name, []);
        }
        wanted.get(cfg.job_name)!.push(...specsOf(cfg));
      }

      const next = new Map<string, Entry[]>();
      const created: Entry[] = [];
      const obsolete: Entry[] = [];
      for (const job of nextJobs) {
        const old = [...(configEntries.get(job) ?? [])];
        const entries: Entry[] = [];
        for (const { spec, fingerprint } of wanted.get(job)!) {
          const i = old.findIndex((e) => e.fingerprint === fingerprint);
          if (i >= 0) {
            const kept = old.splice(i, 1)[0]!;
            kept.name = spec.name;
            entries.push(kept);
            continue;
          }
          let discoverer: Discoverer;
          try {
            discoverer = factory(spec);
          } catch (err) {
            log.error({ job, provider: spec.name, err: describeError(err) }, 'discovery: cannot create provider');
            continue;
          }
          const e: Entry = { job, name: spec.name, kind: spec.kind, fingerprint, discoverer, groups: [], state: 'idle' };
          entries.push(e);
          created.push(e);
        }
        obsolete.push(...old);
        next.set(job, entries);
      }
      for (const [job, entries] of configEntries) if (!next.has(job)) obsolete.push(...entries);

      configJobs = nextJobs;
      configEntries = next;
      markDirty();
      await Promise.all(obsolete.map(stopEntry));
      await Promise.all(created.map(startEntry));
      if (created.length + obsolete.length > 0) {
        log.info({ jobs: nextJobs.length, started: created.length, stopped: obsolete.length }, 'discovery: config applied');
      }
    });
  }

  function addProvider(job: string, name: string, discoverer: Discoverer): Promise<void> {
    return enqueue(async () => {
      if (state === 'stopped') return;
      let byName = externalEntries.get(job);
      if (!byName) externalEntries.set(job, (byName = new Map()));
      const previous = byName.get(name);
      const e: Entry = { job, name, kind: 'external', discoverer, groups: [], state: 'idle' };
      byName.set(name, e);
      markDirty();
      if (previous) await stopEntry(previous);
      await startEntry(e);
    });
  }

  function removeProvider(job: string, name: string): Promise<void> {
    return enqueue(async () => {
      const byName = externalEntries.get(job);
      const e = byName?.get(name);
      if (!byName || !e) return;
      byName.delete(name);
      if (byName.size === 0) externalEntries.delete(job);
      markDirty();
      await stopEntry(e);
    });
  }

  return {
    applyConfig,
    addProvider,
    removeProvider,
    subscribe(cb) {
      subscribers.add(cb);
      return () => void subscribers.delete(cb);
    },
    current,
    providers: () =>
      allEntries().map((e) => {
        const withErrors = e.discoverer as Discoverer & { lastErrors?: () => DiscoveryError[] };
        return {
          job: e.job,
          name: e.name,
          kind: e.kind,
          groups: e.groups.length,
          targets: e.groups.reduce((n, g) => n + g.targets.length, 0),
          errors: typeof withErrors.lastErrors === 'function' ? withErrors.lastErrors() : [],
        };
      }),
    flush,
    start() {
      return enqueue(async () => {
        if (state !== 'new') return;
        state = 'running';
        dirty = true; // subscribers always get the initial full map
        await Promise.all(allEntries().map(startEntry));
      });
    },
    stop() {
      const wasRunning = state !== 'stopped';
      state = 'stopped';
      scheduled?.cancel();
      scheduled = undefined;
      if (!wasRunning) return queue;
      return enqueue(async () => {
        await Promise.all(allEntries().map(stopEntry));
      });
    },
  };
}

/** JSON with object keys sorted, so equal configs compare equal whatever their key order. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
