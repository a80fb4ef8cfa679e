/**
 * Line coverage of each service over time, for the status page's plots.
 * A point is taken from the merged snapshots (the query stage) on a timer
 * (every `intervalMs`) and when a session finishes; a point is stored only
 * when the figure changed, so a quiet campaign costs nothing. Points live in
 * the store (sublevel `history`) and survive restarts; each series keeps its
 * newest `maxPoints`.
 */
import type { Clock } from '../clock/index.ts';
import type { CoverageQuery } from '../merge/index.ts';
import type { KeyValue } from '../store/index.ts';

export interface HistoryPoint {
  /** Epoch ms. */
  t: number;
  covered: number;
  total: number;
}

export interface History {
  /** Loads the stored series (start-up). */
  open(): Promise<void>;
  /** Takes a point of every service whose line figure changed. */
  record(): Promise<void>;
  series(job: string, service: string): HistoryPoint[];
}

const keyOf = (job: string, service: string) => `${job}\u0000${service}`;
/** Store key: series, then zero-padded time so keys sort by time. */
const storeKey = (series: string, t: number) => `${series}\u0000${String(t).padStart(15, '0')}`;

export function createHistory(deps: { kv: KeyValue<HistoryPoint>; clock: Clock; query: CoverageQuery; maxPoints?: number }): History {
  const maxPoints = deps.maxPoints ?? 2000;
  const all = new Map<string, HistoryPoint[]>();
  let chain: Promise<void> = Promise.resolve();

  async function take(): Promise<void> {
    const now = deps.clock.now();
    const ops: Array<{ type: 'put'; key: string; value: HistoryPoint } | { type: 'del'; key: string }> = [];
    for (const s of deps.query.services(false)) {
      const key = keyOf(s.job, s.service);
      const series = all.get(key) ?? [];
      const last = series.at(-1);
      const { covered, total } = s.summary.lines;
      if (last && last.covered === covered && last.total === total) continue;
      const t = last && now <= last.t ? last.t + 1 : now; // strictly increasing, also with a fake clock
      const point = { t, covered, total };
      series.push(point);
      ops.push({ type: 'put', key: storeKey(key, t), value: point });
      while (series.length > maxPoints) ops.push({ type: 'del', key: storeKey(key, series.shift()!.t) });
      all.set(key, series);
    }
    if (ops.length) await deps.kv.batch(ops);
  }

  return {
    async open() {
      for await (const [k, v] of deps.kv.entries()) {
        const series = k.slice(0, k.lastIndexOf('\u0000'));
        let list = all.get(series);
        if (!list) all.set(series, (list = []));
        list.push(v);
      }
    },
    record() {
      // one at a time: a timer tick and a finished session may ask together
      const next = chain.then(take);
      chain = next.catch(() => undefined);
      return next;
    },
    series(job, service) {
      return all.get(keyOf(job, service)) ?? [];
    },
  };
}
