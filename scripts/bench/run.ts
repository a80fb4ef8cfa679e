/**
 * `npm run bench`: runs every benchmark script in scripts/bench/ (each in its
 * own process, one after another so they never share the two cores), collects
 * the rows they report and writes BENCHMARKS.md with the machine and versions.
 * `npm run bench -- --quick` runs smaller workloads; `-- <name>...` runs only
 * the named scripts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus, totalmem, release } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { fmt, type BenchRow } from './lib/harness.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const args = process.argv.slice(2);
const quickRun = args.includes('--quick');
const only = args.filter((a) => !a.startsWith('--'));
const scripts = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .filter((f) => only.length === 0 || only.some((o) => f === o || f === `${o}.ts`))
  .sort();

const dir = mkdtempSync(join(tmpdir(), 'covgate-bench-'));
const rows: Array<BenchRow & { script: string }> = [];
const failed: string[] = [];
try {
  for (const script of scripts) {
    const file = join(dir, `${script}.jsonl`);
    console.log(`\n== ${script}`);
    const started = Date.now();
    const res = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(here, script), ...(quickRun ? ['--quick'] : [])], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, COVGATE_BENCH_ROWS: file, ...(quickRun ? { COVGATE_BENCH_QUICK: '1' } : {}) },
    });
    console.log(`== ${script}: exit ${res.status ?? res.signal} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (res.status !== 0) failed.push(script);
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trim()) rows.push({ ...(JSON.parse(line) as BenchRow), script });
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const require = createRequire(import.meta.url);
const version = (pkg: string): string => {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'not installed';
  }
};
const cpu = cpus();
const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const lines = [
  '# Benchmarks',
  '',
  `Written by \`npm run bench${quickRun ? ' -- --quick' : ''}\` on ${new Date().toISOString().slice(0, 10)}. Every ratio is measured against the baseline in the same run,`,
  'alternating the two (CPU-time medians unless the row says otherwise); absolute figures are for this machine only.',
  '',
  `- Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}`,
  `- Node ${process.version}; istanbul-lib-coverage ${version('istanbul-lib-coverage')}, v8-to-istanbul ${version('v8-to-istanbul')}, istanbul-lib-instrument ${version('istanbul-lib-instrument')}, nyc ${version('nyc')}, level ${version('level')}`,
  '',
  '| | Item | covgate | Baseline | Value | Baseline value | Ratio | Target | Script |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.met ? 'met' : '**missed**'} | ${esc(r.item)} | ${esc(r.covgate)} | ${esc(r.baseline ?? '')} | ${fmt(r.value)} ${r.unit} | ${
        r.baselineValue !== undefined ? `${fmt(r.baselineValue)} ${r.unit}` : ''
      } | ${r.ratio !== undefined ? `${r.ratio.toFixed(2)}×` : ''} | ${esc(r.target)} | ${r.script} |`,
  ),
  '',
  ...rows.filter((r) => r.notes).map((r) => `- ${esc(r.item)}: ${r.notes}`),
  ...(failed.length ? ['', `Scripts that failed: ${failed.join(', ')}.`] : []),
  '',
];
writeFileSync(join(root, 'BENCHMARKS.md'), lines.join('\n'));
console.log(`\nwrote BENCHMARKS.md: ${rows.length} rows, ${rows.filter((r) => !r.met).length} missed${failed.length ? `, failed: ${failed.join(', ')}` : ''}`);
process.exitCode = failed.length ? 1 : 0;
