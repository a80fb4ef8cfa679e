/**
 * A realistic Istanbul coverage map: real packages from node_modules
 * instrumented with istanbul-lib-instrument (what nyc / babel-plugin-istanbul
 * put in `__coverage__`), with counters filled from a seed. Used by the
 * ingest benchmarks and by tests of the Istanbul fast path.
 */
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInstrumenter } from 'istanbul-lib-instrument';
import type { CoverageMapData, FileCoverageData } from '../../../gateway/model/index.ts';

/** Plain .js files under `dir` (no minified bundles, no tests), in a stable order. */
function jsFiles(dir: string, out: string[], limit: number): void {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const name of names) {
    if (out.length >= limit) return;
    if (name === 'typescript' || name === 'test' || name === 'tests' || name === '__tests__' || name.startsWith('.')) continue;
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) jsFiles(p, out, limit);
    else if (name.endsWith('.js') && !name.endsWith('.min.js') && st.size > 300 && st.size < 12_000) out.push(p);
  }
}

export interface BigMapOptions {
  /** Files to instrument (the big service has 1,313). */
  files: number;
  /** Packages to take them from, in order (folders under node_modules). */
  packages?: string[];
  root?: string;
}

const DEFAULT_PACKAGES = ['lodash', 'koa', 'axios', 'yaml', 'istanbul-reports', 'istanbul-lib-coverage', 'semver', 'mocha', 'chai', 'nock', 'zod', '@babel', ''];

/** Instruments up to `files` real source files; each file's coverage has zero counters. */
export function instrumentedMap(opts: BigMapOptions): CoverageMapData {
  const root = opts.root ?? join(import.meta.dirname, '..', '..', '..', 'node_modules');
  const paths: string[] = [];
  for (const pkg of opts.packages ?? DEFAULT_PACKAGES) jsFiles(join(root, pkg), paths, opts.files * 2);
  const instrumenter = createInstrumenter({ esModules: true, produceSourceMap: false, compact: true });
  const map: CoverageMapData = {};
  for (const p of [...new Set(paths)]) {
    if (Object.keys(map).length >= opts.files) break;
    try {
      instrumenter.instrumentSync(readFileSync(p, 'utf8'), p);
    } catch {
      continue; // syntax babel does not take without plugins: skip the file
    }
    const fc = instrumenter.lastFileCoverage() as unknown as FileCoverageData;
    map[`/srv/app/${p.slice(root.length + 1)}`] = { ...fc, path: `/srv/app/${p.slice(root.length + 1)}` };
  }
  return map;
}

/**
 * `instrumentedMap` cached as JSON in the OS temp folder (instrumenting 1,300
 * files takes tens of seconds on a loaded 2-core machine; the benchmarks run
 * often).
 */
export function cachedInstrumentedMap(opts: BigMapOptions): CoverageMapData {
  const file = join(tmpdir(), `covgate-bench-instrumented-${opts.files}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as CoverageMapData;
  const map = instrumentedMap(opts);
  writeFileSync(file, JSON.stringify(map));
  return map;
}

/** The same map with counters that depend on `seed` (a later scrape of the same build). */
export function withCounters(map: CoverageMapData, seed: number): CoverageMapData {
  const out: CoverageMapData = {};
  let n = seed;
  const next = () => {
    n = (n * 1103515245 + 12345) % 2147483648;
    return n % 7 === 0 ? 0 : n % 50;
  };
  for (const [path, fc] of Object.entries(map)) {
    const s: Record<string, number> = {};
    const f: Record<string, number> = {};
    const b: Record<string, number[]> = {};
    for (const id of Object.keys(fc.statementMap)) s[id] = next();
    for (const id of Object.keys(fc.fnMap)) f[id] = next();
    for (const [id, br] of Object.entries(fc.branchMap)) b[id] = br.locations.map(() => next());
    out[path] = { ...fc, s, f, b };
  }
  return out;
}

/** Statements in a map. */
export function statementCount(map: CoverageMapData): number {
  let n = 0;
  for (const fc of Object.values(map)) n += Object.keys(fc.statementMap).length;
  return n;
}
