import type { ScrapeConfig } from '../config/types.ts';
import type { TargetGroup } from '../discovery/types.ts';
import { ScrapePool, type PoolDeps } from './pool.ts';
import type { ScrapeTarget } from './target.ts';
import type { DroppedTargetInfo, ScrapeResult } from './types.ts';

export interface ScrapeManagerOptions extends PoolDeps {
  /** Scrape config for a job that only self-registered targets use (not in gateway.yaml). */
  defaultsFor: (job: string) => ScrapeConfig;
}

/**
 * Owns the scrape pools. `applyConfig` keeps pools whose config did not
 * change (with their targets' health and ETags); `sync` hands every pool its
 * full target set. `scrape()` scrapes now (each selected target's scrape
 * begins after the call; never one already in flight) and resolves when every
 * selected scrape finished (success or failure); it never rejects.
 */
export interface ScrapeManager {
  applyConfig(configs: ScrapeConfig[]): void;
  sync(sets: Map<string, TargetGroup[]>): void;
  scrape(filter?: (t: ScrapeTarget) => boolean): Promise<ScrapeResult[]>;
  targets(): ScrapeTarget[];
  target(id: string): ScrapeTarget | undefined;
  dropped(): DroppedTargetInfo[];
  start(): void;
  stop(): void;
}

const fingerprint = (c: ScrapeConfig) => JSON.stringify(c);

export function createScrapeManager(opts: ScrapeManagerOptions): ScrapeManager {
  const pools = new Map<string, ScrapePool>();
  let configured = new Map<string, ScrapeConfig>();
  let lastSets = new Map<string, TargetGroup[]>();
  let running = false;

  function configFor(job: string): ScrapeConfig {
    return configured.get(job) ?? opts.defaultsFor(job);
  }

  function ensurePool(job: string): ScrapePool {
    const cfg = configFor(job);
    const fp = fingerprint(cfg);
    const existing = pools.get(job);
    if (existing && existing.fingerprint === fp) return existing;
    existing?.stop(true);
    const pool = new ScrapePool(cfg, fp, opts);
    pools.set(job, pool);
    if (running) pool.start();
    return pool;
  }

  function sync(sets: Map<string, TargetGroup[]>): void {
    lastSets = sets;
    const jobs = new Set<string>([...configured.keys(), ...[...sets.entries()].filter(([, g]) => g.length > 0).map(([j]) => j)]);
    for (const [job, pool] of pools) {
      if (!jobs.has(job)) {
        pool.stop(true);
        pools.delete(job);
      }
    }
    for (const job of jobs) ensurePool(job).sync(sets.get(job) ?? []);
  }

  return {
    applyConfig(configs) {
      configured = new Map(configs.map((c) => [c.job_name, c]));
      sync(lastSets);
    },
    sync,
    async scrape(filter) {
      const work: Promise<ScrapeResult>[] = [];
      for (const pool of pools.values()) {
        for (const t of pool.targets.values()) if (!filter || filter(t)) work.push(pool.scrapeTarget(t, 'fresh'));
      }
      return Promise.all(work);
    },
    targets: () => [...pools.values()].flatMap((p) => [...p.targets.values()]),
    target(id) {
      for (const p of pools.values()) {
        const t = p.targets.get(id);
        if (t) return t;
      }
      return undefined;
    },
    dropped: () => [...pools.values()].flatMap((p) => p.dropped),
    start() {
      if (running) return;
      running = true;
      for (const p of pools.values()) p.start();
    },
    stop() {
      running = false;
      for (const p of pools.values()) p.stop();
    },
  };
}
