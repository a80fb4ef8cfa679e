import type { Labels, ScrapeConfig } from '../config/types.ts';
import { targetsFromGroup, targetId, scrapeOffset } from '../discovery/target.ts';
import type { TargetGroup } from '../discovery/types.ts';
import type { Cancel, Scheduler } from '../clock/index.ts';
import { ScrapeTarget, type ScrapeTargetDeps } from './target.ts';
import type { DroppedTargetInfo, ScrapeObserver, ScrapeResult } from './types.ts';

export interface PoolDeps extends ScrapeTargetDeps {
  scheduler: Scheduler;
  observer: ScrapeObserver;
  seed: bigint;
}

/** Sources whose groups come from the self-registration registry. */
export const REGISTRY_SOURCE_PREFIX = 'registry/';

/**
 * The scrape pool of one job: turns its target groups into ScrapeTargets
 * (relabeling, dropping), keeps one loop per target, and keeps a target's
 * state when a new target set still contains it.
 */
export class ScrapePool {
  readonly targets = new Map<string, ScrapeTarget>();
  dropped: DroppedTargetInfo[] = [];
  private readonly loops = new Map<string, Cancel>();
  private readonly observed = new WeakSet<ScrapeResult>();
  private running = false;

  constructor(
    public config: ScrapeConfig,
    readonly fingerprint: string,
    private readonly deps: PoolDeps,
  ) {}

  get job(): string {
    return this.config.job_name;
  }

  /**
   * The target id: the hash of its labels, plus its path and query when they
   * differ from the job's coverage_path, so several targets on one address
   * (three registrations of host:port with different paths) are all scraped,
   * while targets at the usual path keep the id they always had (their stored
   * coverage continues).
   */
  private idOf(labels: Labels, url: string): string {
    let rest = '';
    try {
      const u = new URL(url);
      rest = `${u.pathname}${u.search}`;
    } catch {
      rest = url;
    }
    return rest === this.config.coverage_path ? targetId(labels) : targetId({ ...labels, __scrape_path__: rest });
  }

  /** Replaces the target set with the one the groups describe (a full set, never a diff). */
  sync(groups: TargetGroup[]): void {
    const next = new Map<string, ScrapeTarget>();
    const dropped: DroppedTargetInfo[] = [];
    for (const group of groups) {
      const source = group.source.startsWith(REGISTRY_SOURCE_PREFIX) ? 'registered' : 'discovered';
      for (const r of targetsFromGroup(group, this.config)) {
        if (r.dropped) {
          dropped.push({ job: this.job, discoveredLabels: r.discoveredLabels });
          continue;
        }
        const id = this.idOf(r.labels, r.url);
        if (next.has(id)) continue; // the same target from two groups is scraped once
        const existing = this.targets.get(id);
        if (existing && existing.url === r.url) existing.discoveredLabels = r.discoveredLabels;
        next.set(
          id,
          existing && existing.url === r.url
            ? existing
            : new ScrapeTarget(id, r.labels, r.discoveredLabels, r.url, this.config, source, this.deps, r.scrapeIntervalMs, r.scrapeTimeoutMs),
        );
      }
    }
    for (const [id, t] of this.targets) {
      if (!next.has(id)) {
        this.loops.get(id)?.();
        this.loops.delete(id);
        this.deps.observer.targetRemoved(t.job, t.instance);
      }
    }
    this.targets.clear();
    for (const [id, t] of next) this.targets.set(id, t);
    this.dropped = dropped;
    if (this.running) for (const t of this.targets.values()) this.startLoop(t);
  }

  private startLoop(t: ScrapeTarget): void {
    if (this.loops.has(t.id)) return;
    const now = this.deps.clock.now();
    const offset = scrapeOffset(t.id, t.intervalMs, this.deps.seed);
    const wait = (((offset - (now % t.intervalMs)) % t.intervalMs) + t.intervalMs) % t.intervalMs;
    const cancel = this.deps.scheduler.every(t.intervalMs, wait, () => {
      this.scrapeTarget(t, 'join').catch((err: unknown) => this.deps.logger.error({ err, target: t.id }, 'scrape loop: scrape crashed'));
    });
    this.loops.set(t.id, cancel);
  }

  /** 'fresh' (explicit scrapes) waits for a scrape begun after the call; 'join' (the interval loop) may share one in flight. */
  async scrapeTarget(t: ScrapeTarget, mode: 'fresh' | 'join' = 'fresh') {
    const r = await t.scrape(mode);
    // Callers sharing one scrape get the same result object: count the scrape once.
    if (!this.observed.has(r)) {
      this.observed.add(r);
      this.deps.observer.scrapeFinished(r);
      if (r.restarted) this.deps.observer.targetRestarted(r.job, r.instance);
    }
    return r;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const t of this.targets.values()) this.startLoop(t);
  }

  /** Stops every loop. Safe before start and twice. Does not forget the targets' coverage (that lives in the store). */
  stop(removeSeries = false): void {
    this.running = false;
    for (const cancel of this.loops.values()) cancel();
    this.loops.clear();
    if (removeSeries) for (const t of this.targets.values()) this.deps.observer.targetRemoved(t.job, t.instance);
  }
}
