import { createHash } from 'node:crypto';
import type { Summary } from '../model/index.ts';
import type { MetricsLogger } from './types.ts';

/**
 * Which files of a service get per-file series when there are more than
 * `limit`: the first `limit` paths in code-unit order.
 *
 * Why path order and not "lowest coverage first": the chosen set must be
 * stable across scrapes. Picking by coverage would make files enter and leave
 * the set as tests run, and every change ends a series in Prometheus (a gap
 * and a staleness marker) and starts another — churn that costs more than the
 * series are worth, and a dashboard that shows holes. By path, the set only
 * changes when files are added or removed, and a team that wants a part of the
 * tree in it can move the cut by relabelling / splitting services.
 */
export function selectFiles(paths: Iterable<string>, limit: number): { kept: string[]; dropped: string[] } {
  const sorted = [...paths].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const n = Math.max(0, Math.floor(limit));
  return { kept: sorted.slice(0, n), dropped: sorted.slice(n) };
}

/**
 * Remembers, per service, which files the cap cut, so that the warning is
 * logged once when the cut set changes and not on every scrape.
 */
export class PerFileCapTracker {
  private readonly cut = new Map<string, string>();

  constructor(private readonly logger: MetricsLogger | undefined) {}

  /** Selects the files of `service` and logs one warning if the cut differs from last time. */
  select(service: string, files: Map<string, Summary>, limit: number): string[] {
    const { kept, dropped } = selectFiles(files.keys(), limit);
    if (dropped.length === 0) {
      this.cut.delete(service);
      return kept;
    }
    const h = createHash('sha1');
    for (const p of dropped) h.update(p).update('\0');
    const signature = h.digest('hex');
    if (this.cut.get(service) !== signature) {
      this.cut.set(service, signature);
      this.logger?.warn(
        { service, files: files.size, limit, dropped: dropped.length, firstDropped: dropped[0] },
        `per-file coverage metrics of service "${service}" capped at ${limit} of ${files.size} files (metrics.per_file); ${dropped.length} files have no covgate_file_coverage_ratio series`,
      );
    }
    return kept;
  }

  /** Forgets services no longer present, so a service that comes back is warned about again. */
  retain(services: Set<string>): void {
    for (const s of this.cut.keys()) if (!services.has(s)) this.cut.delete(s);
  }
}
