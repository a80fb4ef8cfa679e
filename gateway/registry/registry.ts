import { createHash } from 'node:crypto';
import type { Cancel, Clock, Scheduler } from '../clock/index.ts';
import { DURATION_HINT, formatDuration, parseDuration } from '../config/duration.ts';
import type { Labels, RegistrationConfig } from '../config/types.ts';
import type { DiscoveryManager } from '../discovery/manager.ts';
import { LABEL_NAME_RE, REGISTRATION_GENERATION_LABEL, silentLogger, type Discoverer, type DiscoveryLogger, type SendGroups, type TargetGroup } from '../discovery/types.ts';
import { describeError, errors } from '../errors.ts';
import type { KeyValue } from '../store/types.ts';
import { createAllowlist, type Allowlist } from './allowlist.ts';
import { parseTargetUrl } from './target-url.ts';

/** A registered target: what the registry keeps in its LevelDB namespace, keyed by `id`. */
export interface Lease {
  /** Stable: a hash of job and normalised URL, so re-posting renews the same lease. */
  id: string;
  job: string;
  /** Normalised URL (`scheme://host:port[/path]`). */
  url: string;
  labels: Labels;
  ttlMs: number;
  createdAt: number;
  renewedAt: number;
  /** Epoch ms; the lease is removed by the first sweep at or after it. */
  expiresAt: number;
  /**
   * goc registrations only: 1 at the first `POST /v1/cover/register`, +1 on
   * every later one. goc agents register once per process start and never
   * renew, so each registration is a new process at the same address: the
   * scraper uses the generation as the instance (a new lifetime).
   */
  generation?: number;
}

/** What a client posts. Fields are checked at runtime: callers may pass parsed JSON as is. */
export interface RegisterRequest {
  job: unknown;
  url: unknown;
  labels?: unknown;
  /** A Prometheus duration ("60s"); default `registration.default_ttl`, at most `max_ttl`. */
  ttl?: unknown;
  /** Set by the goc route: this registration is a (new) process start; bumps the lease's generation. */
  newProcess?: boolean;
}

export interface RegisterResult {
  id: string;
  /** Epoch ms. */
  expiresAt: number;
  /** false when an existing lease was renewed. */
  created: boolean;
  lease: Lease;
}

/** The part of the discovery manager the registry plugs its per-job providers into. */
export type ProviderHost = Pick<DiscoveryManager, 'addProvider' | 'removeProvider'>;

export interface RegistryDeps {
  kv: KeyValue<Lease>;
  clock: Clock;
  scheduler: Scheduler;
  /** Read on every call, so a reload's new ttl bounds and `enabled` apply at once. */
  config: () => RegistrationConfig;
  /** Default: built from `config().allowed_targets` (rebuilt when that list changes), resolving names with the system DNS. */
  allowlist?: Allowlist;
  /** One last scrape before a lease goes (deregistration or expiry). Its failure is logged and never blocks removal. */
  finalScrape: (lease: Lease) => Promise<void>;
  /** Where each job with leases gets a `registry` provider; omit to use `discoverer(job)` by hand. */
  discovery?: ProviderHost;
  /** Called after every change of the leases (register, renew, deregister, expiry). */
  onChange?: () => void;
  logger?: DiscoveryLogger;
  /** How often `expireDue` runs once started. Default 5s. */
  sweepIntervalMs?: number;
  /** Most leases kept at once; registrations beyond it are refused (403). Default 10000. */
  maxLeases?: number;
}

/**
 * Self-registration leases (contract section 2, `POST /api/v1/targets`).
 *
 * Contract:
 * - `register` validates its input (400 naming the field), refuses URLs the
 *   allowlist refuses (403) and registrations while `registration.enabled`
 *   is false (403); it resolves only after the lease is durable in LevelDB,
 *   so an acknowledged registration survives kill -9. Posting the same job
 *   and URL again renews that lease (same id, new expiry, new labels).
 * - `deregister` and expiry give the target one final scrape first, then
 *   remove the lease; a failing final scrape is logged and never keeps a
 *   lease. Nothing but the lease is removed: scraped coverage stays in the
 *   store.
 * - Operations on one lease run one at a time, so a renewal racing an expiry
 *   either wins (the lease stays) or comes after it (a new lease).
 * - Leases are exposed to discovery as one group per job, `source:
 *   registry/<job>`, every send a full set. Once started, a job gets a
 *   `registry` provider in `discovery` when its first lease appears and loses
 *   it when its last lease goes.
 * - `open()` loads the leases; `start()` publishes them and begins the
 *   expiry sweep; `stop()` is safe before start and twice, waits for
 *   operations in flight and keeps every lease on disk.
 */
export interface Registry {
  open(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
  register(req: RegisterRequest): Promise<RegisterResult>;
  deregister(id: string): Promise<Lease>;
  /** Leases matching `pred` (a snapshot; callers deregister them one by one). */
  find(pred: (lease: Lease) => boolean): Lease[];
  /** Removes the leases due at `clock.now()`, each after one final scrape; resolves with their ids. */
  expireDue(): Promise<string[]>;
  list(): Lease[];
  get(id: string): Lease | undefined;
  /** Target groups of one job, as the job's provider sends them. */
  groups(job: string): TargetGroup[];
  /** A discovery provider serving `job`'s leases; it sends again whenever they change. */
  discoverer(job: string): Discoverer;
}

export const REGISTRY_PROVIDER = 'registry';
export const REGISTRATION_ID_LABEL = '__meta_registration_id';
const MIN_TTL_MS = 1000;
const MAX_LABELS = 64;
const MAX_VALUE_LENGTH = 1024;
const MAX_JOB_LENGTH = 256;

/** Stable lease id: the same job and URL always give the same id, across restarts. */
export function leaseId(job: string, normalizedUrl: string): string {
  return createHash('sha256').update(job).update('\0').update(normalizedUrl).digest('hex').slice(0, 16);
}

/** The discovery target of one lease: address, scheme, path from the URL, its id as meta label, its labels. */
export function leaseTarget(lease: Lease): Labels {
  const u = parseTargetUrl(lease.url);
  return {
    ...lease.labels,
    __address__: u.address,
    __scheme__: u.scheme,
    // No path in the URL: the job's coverage_path (default /coverage) applies.
    ...(u.path === '' ? {} : { __coverage_path__: u.path }),
    [REGISTRATION_ID_LABEL]: lease.id,
    ...(lease.generation !== undefined ? { [REGISTRATION_GENERATION_LABEL]: String(lease.generation) } : {}),
  };
}

// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

function validateJob(job: unknown): string {
  if (typeof job !== 'string' || job.trim() === '') throw errors.badData(`job must be a non-empty string, got ${JSON.stringify(job ?? null)}`);
  if (job.length > MAX_JOB_LENGTH) throw errors.badData(`job must be at most ${MAX_JOB_LENGTH} characters`);
  if (CONTROL_RE.test(job)) throw errors.badData(`job must not contain control characters, got ${JSON.stringify(job)}`);
  return job;
}

function validateLabels(labels: unknown, job: string): Labels {
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== 'object' || Array.isArray(labels)) throw errors.badData(`labels must be an object of label name to string value, got ${JSON.stringify(labels)}`);
  const entries = Object.entries(labels as Record<string, unknown>);
  if (entries.length > MAX_LABELS) throw errors.badData(`labels: at most ${MAX_LABELS} labels, got ${entries.length}`);
  const out: Labels = {};
  for (const [name, value] of entries) {
    if (!LABEL_NAME_RE.test(name)) throw errors.badData(`labels: ${JSON.stringify(name)} is not a valid label name (${LABEL_NAME_RE.source})`);
    if (name.startsWith('__')) throw errors.badData(`labels: ${JSON.stringify(name)} is reserved (names starting with "__" are internal)`);
    if (typeof value !== 'string') throw errors.badData(`labels.${name} must be a string, got ${JSON.stringify(value)}`);
    if (value.length > MAX_VALUE_LENGTH) throw errors.badData(`labels.${name} must be at most ${MAX_VALUE_LENGTH} characters`);
    if (name === 'job') {
      if (value !== job) throw errors.badData(`labels.job ${JSON.stringify(value)} differs from job ${JSON.stringify(job)}; set the job with the "job" field`);
      continue;
    }
    out[name] = value;
  }
  return out;
}

function validateTtl(ttl: unknown, cfg: RegistrationConfig): number {
  if (ttl === undefined || ttl === null) return cfg.default_ttl;
  if (typeof ttl !== 'string') throw errors.badData(`ttl must be a duration string like "60s", got ${JSON.stringify(ttl)}`);
  let ms: number;
  try {
    ms = parseDuration(ttl);
  } catch {
    throw errors.badData(`ttl: bad duration ${JSON.stringify(ttl)} (${DURATION_HINT})`);
  }
  if (ms < MIN_TTL_MS) throw errors.badData(`ttl must be at least ${formatDuration(MIN_TTL_MS)}, got ${JSON.stringify(ttl)}`);
  if (ms > cfg.max_ttl) throw errors.badData(`ttl ${ttl} exceeds registration.max_ttl ${formatDuration(cfg.max_ttl)}`);
  return ms;
}

function isLease(v: unknown): v is Lease {
  const l = v as Lease;
  return (
    typeof l === 'object' &&
    l !== null &&
    typeof l.id === 'string' &&
    typeof l.job === 'string' &&
    typeof l.url === 'string' &&
    typeof l.labels === 'object' &&
    l.labels !== null &&
    typeof l.expiresAt === 'number'
  );
}

export function createRegistry(deps: RegistryDeps): Registry {
  const log = deps.logger ?? silentLogger;
  const sweepIntervalMs = deps.sweepIntervalMs ?? 5000;
  const maxLeases = deps.maxLeases ?? 10_000;
  const leases = new Map<string, Lease>();
  let state: 'new' | 'open' | 'started' | 'stopped' = 'new';
  let cancelSweep: Cancel | undefined;
  let sweeping: Promise<string[]> | undefined;

  // --- the allowlist, rebuilt when the configured entries change ------------
  let cachedAllowlist: { key: string; allowlist: Allowlist } | undefined;
  function allowlist(): Allowlist {
    if (deps.allowlist) return deps.allowlist;
    const entries = deps.config().allowed_targets;
    const key = JSON.stringify(entries);
    if (cachedAllowlist?.key !== key) cachedAllowlist = { key, allowlist: createAllowlist(entries) };
    return cachedAllowlist.allowlist;
  }

  // --- one operation at a time per lease ------------------------------------
  const locks = new Map<string, Promise<void>>();
  async function withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = locks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const mine = prev.then(() => gate);
    locks.set(id, mine);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (locks.get(id) === mine) locks.delete(id);
    }
  }

  // --- discovery ------------------------------------------------------------
  function groups(job: string): TargetGroup[] {
    const mine = [...leases.values()].filter((l) => l.job === job).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (mine.length === 0) return [];
    return [{ source: `registry/${job}`, labels: {}, targets: mine.map(leaseTarget) }];
  }

  interface JobDiscoverer extends Discoverer {
    job: string;
    update(): void;
  }
  const discoverers = new Set<JobDiscoverer>();
  const managed = new Map<string, JobDiscoverer>();

  function discoverer(job: string): JobDiscoverer {
    let send: SendGroups | undefined;
    let last: string | undefined;
    const d: JobDiscoverer = {
      job,
      start(s) {
        send = s;
        discoverers.add(d);
        last = undefined;
        d.update();
      },
      update() {
        if (!send) return;
        const g = groups(job);
        const text = JSON.stringify(g);
        if (text === last) return; // a renewal that changed nothing sends nothing
        last = text;
        send(g);
      },
      async stop() {
        send = undefined;
        discoverers.delete(d);
      },
    };
    return d;
  }

  /** Brings `job`'s providers up to date with its leases. */
  function publish(job: string): void {
    for (const d of discoverers) if (d.job === job) d.update();
    if (state === 'started' && deps.discovery) {
      const has = [...leases.values()].some((l) => l.job === job);
      if (has && !managed.has(job)) {
        const d = discoverer(job);
        managed.set(job, d);
        deps.discovery.addProvider(job, REGISTRY_PROVIDER, d).catch((err: unknown) => log.error({ err: describeError(err), job }, 'registry: adding the discovery provider failed'));
      } else if (!has && managed.has(job)) {
        managed.delete(job);
        deps.discovery.removeProvider(job, REGISTRY_PROVIDER).catch((err: unknown) => log.error({ err: describeError(err), job }, 'registry: removing the discovery provider failed'));
      }
    }
    try {
      deps.onChange?.();
    } catch (err) {
      log.error({ err: describeError(err) }, 'registry: onChange failed');
    }
  }

  // --- lifecycle --------------------------------------------------------------
  function ensureOpen(): void {
    if (state === 'new') throw errors.unavailable('the target registry is not open yet');
    if (state === 'stopped') throw errors.unavailable('the target registry is stopped');
  }

  async function finalScrape(lease: Lease, why: 'deregistered' | 'expired'): Promise<void> {
    try {
      await deps.finalScrape(lease);
    } catch (err) {
      log.warn({ id: lease.id, job: lease.job, url: lease.url, reason: why, err: describeError(err) }, 'registry: final scrape failed; removing the lease anyway');
    }
  }

  async function remove(lease: Lease): Promise<void> {
    await deps.kv.del(lease.id);
    leases.delete(lease.id);
    publish(lease.job);
  }

  async function expireDue(): Promise<string[]> {
    if (state !== 'open' && state !== 'started') return [];
    const now = deps.clock.now();
    const due = [...leases.values()].filter((l) => l.expiresAt <= now);
    const removed = await Promise.all(
      due.map((l) =>
        withLock(l.id, async () => {
          const current = leases.get(l.id);
          if (!current || current.expiresAt > now) return undefined; // renewed or removed meanwhile
          await finalScrape(current, 'expired');
          try {
            await remove(current);
          } catch (err) {
            log.error({ id: current.id, err: describeError(err) }, 'registry: cannot remove an expired lease; will retry');
            return undefined;
          }
          log.info({ id: current.id, job: current.job, url: current.url }, 'registry: lease expired');
          return current.id;
        }),
      ),
    );
    return removed.filter((id): id is string => id !== undefined);
  }

  function sweep(): void {
    if (sweeping) return; // the previous sweep still waits for final scrapes
    sweeping = expireDue()
      .catch((err: unknown) => {
        log.error({ err: describeError(err) }, 'registry: expiry sweep failed');
        return [];
      })
      .finally(() => (sweeping = undefined));
  }

  return {
    async open() {
      if (state !== 'new') return;
      for await (const [key, value] of deps.kv.entries()) {
        if (isLease(value) && value.id === key) leases.set(key, value);
        else log.warn({ key }, 'registry: skipping an unreadable lease record');
      }
      state = 'open';
      log.info({ leases: leases.size }, 'registry: leases loaded');
    },

    start() {
      if (state !== 'open') return;
      state = 'started';
      for (const job of [...new Set([...leases.values()].map((l) => l.job))].sort()) publish(job);
      cancelSweep = deps.scheduler.every(sweepIntervalMs, sweepIntervalMs, sweep);
    },

    async stop() {
      if (state === 'stopped') return;
      state = 'stopped';
      cancelSweep?.();
      cancelSweep = undefined;
      await sweeping;
      await Promise.allSettled([...locks.values()]);
      for (const d of [...discoverers]) await d.stop();
    },

    async register(req) {
      ensureOpen();
      const cfg = deps.config();
      if (!cfg.enabled) throw errors.forbidden('self-registration is disabled on this gateway (registration.enabled: false)');
      if (typeof req !== 'object' || req === null) throw errors.badData('registration must be a JSON object {"job","url","labels","ttl"}');
      const job = validateJob(req.job);
      const target = parseTargetUrl(req.url);
      const labels = validateLabels(req.labels, job);
      const ttlMs = validateTtl(req.ttl, cfg);
      await allowlist().check(target);

      const id = leaseId(job, target.normalized);
      return withLock(id, async () => {
        ensureOpen();
        const now = deps.clock.now();
        const prev = leases.get(id);
        if (!prev && leases.size >= maxLeases) {
          throw errors.forbidden(`registration of ${target.raw} refused: the gateway already holds ${leases.size} leases (the limit)`);
        }
        const lease: Lease = {
          id,
          job,
          url: target.normalized,
          labels,
          ttlMs,
          createdAt: prev?.createdAt ?? now,
          renewedAt: now,
          expiresAt: now + ttlMs,
          ...(req.newProcess ? { generation: (prev?.generation ?? 0) + 1 } : prev?.generation !== undefined ? { generation: prev.generation } : {}),
        };
        await deps.kv.put(id, lease);
        leases.set(id, lease);
        publish(job);
        if (!prev) log.info({ id, job, url: lease.url, ttl: formatDuration(ttlMs) }, 'registry: target registered');
        else log.debug({ id, job, url: lease.url }, 'registry: lease renewed');
        return { id, expiresAt: lease.expiresAt, created: !prev, lease };
      });
    },

    async deregister(id) {
      ensureOpen();
      return withLock(id, async () => {
        const lease = leases.get(id);
        if (!lease) throw errors.notFound(`no registered target with id ${JSON.stringify(id)} (never registered, deregistered, or its lease expired)`);
        await finalScrape(lease, 'deregistered');
        await remove(lease);
        log.info({ id, job: lease.job, url: lease.url }, 'registry: target deregistered');
        return lease;
      });
    },

    expireDue,
    find: (pred) => [...leases.values()].filter(pred),
    list: () => [...leases.values()].sort((a, b) => (a.job === b.job ? (a.id < b.id ? -1 : 1) : a.job < b.job ? -1 : 1)),
    get: (id) => leases.get(id),
    groups,
    discoverer,
  };
}
