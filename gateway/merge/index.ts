/**
 * Stage: answers "what is the merged coverage of this selection", with caches
 * keyed by the store's version so repeated reads (API, /metrics, reports) do
 * not redo the merge while nothing was scraped.
 */
import { CounterSet, matchesSelector, summarize, summarizeFiles, selectorToString, type CoverageMapData, type Selector, type Summary } from '../model/index.ts';
import type { StoreReader } from '../store/index.ts';
import { Summarizer } from './fast-summary.ts';
import { ServiceTotals } from './service-totals.ts';

export interface MergedCoverage {
  map: CoverageMapData;
  /** Structures that could not be found (reported, never failing the merge). */
  missing: string[];
  summary: Summary;
}

export interface ServiceCoverage {
  job: string;
  service: string;
  summary: Summary;
  files?: Map<string, Summary>;
}

/**
 * A source of extra coverage the selection may include (sessions, push
 * ingest). Given the selector, it returns a set to use *instead of* the
 * targets' windows (session selection), or undefined when the selector does
 * not concern it.
 */
export type SelectionResolver = (selector: Selector) => CounterSet | undefined;

/** The same selection as a SelectionResolver gives, split by build (for carrying across builds); undefined when it does not concern the selector. */
export type BuildResolver = (selector: Selector) => Array<{ commit?: string; firstSeen: number; lastSeen: number; set: CounterSet }> | undefined;

export interface CoverageQuery {
  /** Merged coverage of a selection. Target labels select targets' whole window; a resolver may take over (sessions). */
  coverage(selector: Selector): MergedCoverage;
  /**
   * The selection's coverage per build (`build.commit` of each lifetime; no
   * commit = `commit` undefined), newest build first (the build first scraped
   * most recently: the latest deployment), for carrying coverage
   * across builds. When a resolver (sessions) takes the selector, its
   * build resolver splits it; undefined without one.
   */
  byBuild(selector: Selector): Array<{ commit?: string; lastSeen: number; coverage: MergedCoverage }> | undefined;
  /** Merge of an arbitrary counter set (sessions, pushes). */
  fromSet(set: CounterSet): MergedCoverage;
  /**
   * Per (job, service) summaries for /metrics; with per-file summaries when
   * asked. `include` keeps only the services that still exist (configured or
   * registered): a service removed from config leaves /metrics, while its
   * coverage stays in the store.
   */
  services(perFile: boolean, include?: (job: string, service: string) => boolean): ServiceCoverage[];
  /** Lines summary of one target (for /api/v1/targets). */
  targetSummary(targetId: string): Summary;
  setResolver(resolver: SelectionResolver | undefined, byBuild?: BuildResolver): void;
  /** Version that changes when anything the query reads changed. */
  version(): string;
  bump(): void;
}

/** A service's key: its job and its `service` label (the job when unlabelled), as /metrics groups them. */
export function serviceKey(t: { job: string; labels: Record<string, string> }): string {
  return `${t.job}\0${t.labels.service ?? t.job}`;
}

export function createCoverageQuery(store: StoreReader): CoverageQuery {
  let resolver: SelectionResolver | undefined;
  let buildResolver: BuildResolver | undefined;
  let extra = 0;
  const version = () => `${store.version()}.${extra}`;
  const selCache = new Map<string, { version: string; value: MergedCoverage }>();
  const targetCache = new Map<string, { version: number; summary: Summary }>();
  let servicesCache: { version: string; perFile: boolean; value: ServiceCoverage[] } | undefined;
  // Summaries straight from counters (per-structure index), and per-service
  // sums updated from each target's change rather than re-merged per read.
  const summarizer = new Summarizer((h) => store.structure(h));
  const serviceTotals = new Map<string, ServiceTotals>();
  // Per-target sums for /api/v1/targets, kept the same way (one member each).
  const targetTotals = new Map<string, ServiceTotals>();
  // Sums follow appends as they happen, so a read only summarises the files that changed.
  store.onChange((c) => {
    for (const totals of serviceTotals.values()) if (totals.has(c.targetId)) totals.change(c);
    targetTotals.get(c.targetId)?.change(c);
  });

  /** The kept sums of one service (serviceKey), made on first use. */
  function totalsOf(key: string): ServiceTotals {
    let totals = serviceTotals.get(key);
    if (!totals) serviceTotals.set(key, (totals = new ServiceTotals(store, summarizer)));
    return totals;
  }

  /**
   * When `selector` selects exactly one service's targets (`service=…`, with
   * or without its job: the one-service query), the sum that service's
   * totals keep up to date from each append, copied into a new set, instead
   * of adding up every target's counters again (at 100 targets × 4k
   * statements that sum was most of the query). Undefined otherwise.
   */
  function serviceSet(selector: Selector): CounterSet | undefined {
    let key: string | undefined;
    const ids: string[] = [];
    const group: string[] = [];
    const all = store.targets();
    for (const t of all) {
      if (!matchesSelector({ ...t.labels, job: t.job }, selector)) continue;
      const k = serviceKey(t);
      if (key === undefined) key = k;
      else if (k !== key) return undefined;
      ids.push(t.id);
    }
    if (key === undefined) return undefined;
    for (const t of all) if (serviceKey(t) === key) group.push(t.id);
    if (group.length !== ids.length) return undefined;
    const totals = totalsOf(key);
    totals.sync(ids);
    const set = new CounterSet();
    for (const [path, byHash] of totals.entries()) for (const [hash, c] of byHash) set.addFile(path, hash, c);
    return set;
  }

  function fromSet(set: CounterSet): MergedCoverage {
    const { map, missing } = set.toCoverageMap((h) => store.structure(h));
    // Summarised on first read: GET /api/v1/coverage encodes the map and never reads it.
    let summary: Summary | undefined;
    return {
      map,
      missing,
      get summary(): Summary {
        return (summary ??= summarize(map));
      },
    };
  }

  return {
    coverage(selector) {
      const key = selectorToString(selector);
      const v = version();
      const hit = selCache.get(key);
      if (hit && hit.version === v) return hit.value;
      const set = resolver?.(selector) ?? serviceSet(selector) ?? store.counterSet(selector);
      const value = fromSet(set);
      if (selCache.size > 256) selCache.clear();
      selCache.set(key, { version: v, value });
      return value;
    },
    fromSet,
    byBuild(selector) {
      const groups = resolver?.(selector) ? buildResolver?.(selector) : store.counterSetsByBuild(selector);
      if (!groups) return undefined;
      return groups
        .sort((a, b) => b.firstSeen - a.firstSeen || b.lastSeen - a.lastSeen)
        .map((g) => {
          // Merged on first read: a caller that only counts builds (carrying for /metrics
          // stops at one build) must not pay a full merge of every service per scrape.
          let merged: MergedCoverage | undefined;
          return {
            ...(g.commit !== undefined ? { commit: g.commit } : {}),
            lastSeen: g.lastSeen,
            get coverage(): MergedCoverage {
              return (merged ??= fromSet(g.set));
            },
          };
        });
    },
    services(perFile, include) {
      const v = version();
      if (servicesCache && servicesCache.version === v && servicesCache.perFile === perFile) return servicesCache.value;
      const groups = new Map<string, { job: string; service: string; ids: string[] }>();
      for (const t of store.targets()) {
        const service = t.labels.service ?? t.job;
        if (include && !include(t.job, service)) continue;
        const key = serviceKey(t);
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { job: t.job, service, ids: [] }));
        g.ids.push(t.id);
      }
      const value: ServiceCoverage[] = [];
      for (const [key, g] of groups) {
        const totals = totalsOf(key);
        totals.sync(g.ids);
        const entry: ServiceCoverage = { job: g.job, service: g.service, summary: totals.summary() };
        if (perFile) entry.files = totals.perFile();
        value.push(entry);
      }
      // A service no longer listed (removed from config) gives its sums back.
      for (const key of serviceTotals.keys()) if (!groups.has(key)) serviceTotals.delete(key);
      servicesCache = { version: v, perFile, value };
      return value;
    },
    targetSummary(targetId) {
      const v = store.targetVersion(targetId);
      const hit = targetCache.get(targetId);
      if (hit && hit.version === v) return hit.summary;
      let totals = targetTotals.get(targetId);
      if (!totals) targetTotals.set(targetId, (totals = new ServiceTotals(store, summarizer)));
      totals.sync([targetId]);
      const summary = totals.summary();
      targetCache.set(targetId, { version: v, summary });
      return summary;
    },
    setResolver(r, byBuild) {
      resolver = r;
      buildResolver = byBuild;
      extra++;
    },
    version,
    bump() {
      extra++;
    },
  };
}
