/**
 * What every benchmark in scripts/bench/ shares: CPU-time measurement of
 * covgate and its baseline alternately in the same run, and one row per
 * measured item. `npm run bench` (scripts/bench/run.ts) runs each script in a
 * child process, collects the rows each writes (COVGATE_BENCH_ROWS names a
 * JSON-lines file) and writes BENCHMARKS.md. Run alone, a script just prints.
 */
import { appendFileSync } from 'node:fs';

export interface BenchRow {
  /** Issue item or area, e.g. "11.1 full Istanbul payload". */
  item: string;
  /** What was measured on covgate's side. */
  covgate: string;
  /** The baseline a user would otherwise run (empty when the target is an absolute figure). */
  baseline?: string;
  /** covgate's median (in `unit`). */
  value: number;
  /** The baseline's median, same unit, measured in the same run. */
  baselineValue?: number;
  unit: 'ms' | 'µs' | 'bytes' | 'kB' | 'MB' | '%' | 's' | 'x' | 'count';
  /** baselineValue / value when lower is better (speed-up), as printed. */
  ratio?: number;
  /** The target from the issue, e.g. "≥3× baseline", "≤50 ms". */
  target: string;
  met: boolean;
  notes?: string;
}

/** Records one row: printed, and appended to the runner's file when run by `npm run bench`. */
export function reportRow(row: BenchRow): void {
  const ratio = row.ratio !== undefined ? `  ${row.ratio.toFixed(2)}×` : '';
  const base = row.baselineValue !== undefined ? `  (baseline ${fmt(row.baselineValue)} ${row.unit})` : '';
  console.log(`${row.met ? 'MET ' : 'MISS'} ${row.item}: ${fmt(row.value)} ${row.unit}${base}${ratio}  target ${row.target}`);
  const file = process.env.COVGATE_BENCH_ROWS;
  if (file) appendFileSync(file, `${JSON.stringify(row)}\n`);
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** CPU time (user + system, ms) of one synchronous call of `fn`. */
export function cpuMs(fn: () => void): number {
  const start = process.cpuUsage();
  fn();
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/** CPU time (ms) of one awaited call. Only meaningful when nothing else runs in this process meanwhile. */
export async function cpuMsAsync(fn: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  await fn();
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/**
 * Runs `a` and `b` alternately `rounds` times (after one warm-up each) and
 * returns their CPU-time medians, so both see the same machine load.
 */
export async function alternate(
  a: () => unknown | Promise<unknown>,
  b: () => unknown | Promise<unknown>,
  rounds = 7,
): Promise<{ a: number; b: number }> {
  const ta: number[] = [];
  const tb: number[] = [];
  await a();
  await b();
  for (let i = 0; i < rounds; i++) {
    const first = i % 2 === 0;
    for (const which of first ? ['a', 'b'] : ['b', 'a']) {
      const fn = which === 'a' ? a : b;
      (which === 'a' ? ta : tb).push(await cpuMsAsync(async () => fn()));
    }
  }
  return { a: median(ta), b: median(tb) };
}

/** Whether the runner asked for a short run (`npm run bench -- --quick`). */
export const quick = process.env.COVGATE_BENCH_QUICK === '1' || process.argv.includes('--quick');
