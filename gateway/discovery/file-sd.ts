import { repeat, systemTimers, type Cancel, type Timers } from '../clock/index.ts';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { glob } from 'tinyglobby';
import YAML from 'yaml';
import { describeError } from '../errors.ts';
import { coalescedRefresh } from './refresh.ts';
import {
  cloneGroups,
  LABEL_NAME_RE,
  silentLogger,
  type Discoverer,
  type DiscoveryError,
  type DiscoveryLogger,
  type Labels,
  type SendGroups,
  type TargetGroup,
} from './types.ts';

export const FILEPATH_LABEL = '__meta_filepath';

export interface FileSDOptions {
  /** Glob patterns (tinyglobby syntax) of `.json`, `.yml` or `.yaml` files. */
  files: string[];
  /** Re-read everything this often; 0 disables the timer (watching still works). */
  refreshIntervalMs: number;
  /** Relative patterns resolve against this folder. Default: the process's cwd. */
  baseDir?: string;
  logger?: DiscoveryLogger;
  /** Watch the files' folders with fs.watch. Default true. */
  watch?: boolean;
  /** Quiet time after the last watch event before re-reading. Default 100ms. */
  watchDebounceMs?: number;
  /** Timers for the refresh interval and the watch debounce; the system's unless injected (tests fire them). */
  timers?: Timers;
}

/**
 * File-based discovery (Prometheus `file_sd_configs`).
 *
 * Contract:
 * - Each matched file holds Prometheus target groups,
 *   `[{"targets": ["host:port"], "labels": {...}}]`, as JSON (`.json`) or YAML
 *   (`.yml`, `.yaml`). Each group becomes source `<absolute path>:<index>` with
 *   `__meta_filepath` = the absolute path added to its labels.
 * - Files are re-read when something changes in their folders (fs.watch,
 *   debounced), every `refreshIntervalMs`, and whenever `refresh()` is
 *   called. Refreshes never overlap; `refresh()` resolves once a read that
 *   began after the call has finished.
 * - A file that cannot be read or parsed, or is empty or invalid, keeps its
 *   last good groups (stale beats partial); the failure is logged and listed
 *   by `lastErrors()` until the file reads well again or goes away.
 * - A file that no longer exists (or no longer matches) drops its groups.
 * - `send` receives the full set of all files' groups, ordered by path: once
 *   after the first read (even when empty) and afterwards only when it changed.
 */
export interface FileSDDiscoverer extends Discoverer {
  /** Re-read all files now. Never rejects. */
  refresh(): Promise<void>;
  /** Current per-file failures (files serving stale groups or none). */
  lastErrors(): DiscoveryError[];
}

export function createFileSDDiscoverer(opts: FileSDOptions): FileSDDiscoverer {
  const log = opts.logger ?? silentLogger;
  const baseDir = opts.baseDir ?? process.cwd();
  const patterns = opts.files.map((p) => toPosix(path.resolve(baseDir, p)));
  const debounceMs = opts.watchDebounceMs ?? 100;

  let send: SendGroups | undefined;
  let started = false;
  let stopped = false;
  let byFile = new Map<string, TargetGroup[]>();
  const failures = new Map<string, DiscoveryError>();
  let lastSent: string | undefined;
  const timers = opts.timers ?? systemTimers;
  let timer: Cancel | undefined;
  let debounce: unknown;
  const watchers = new Map<string, FSWatcher>();

  const { refresh, inFlight } = coalescedRefresh(() => readAll(), () => stopped);

  async function readAll(): Promise<void> {
    let paths: string[];
    try {
      paths = (await glob(patterns, { absolute: true, onlyFiles: true, expandDirectories: false })).sort();
    } catch (err) {
      log.warn({ err: describeError(err), patterns }, 'file_sd: listing files failed; keeping the last good targets');
      return;
    }
    const next = new Map<string, TargetGroup[]>();
    for (const file of paths) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted since the listing
        fail(file, err, next);
        continue;
      }
      try {
        next.set(file, parseTargetGroups(text, file));
        failures.delete(file);
      } catch (err) {
        fail(file, err, next);
      }
    }
    for (const file of failures.keys()) if (!next.has(file) && !paths.includes(file)) failures.delete(file);
    byFile = next;
    if (stopped) return;
    syncWatchers();
    const groups = [...byFile.values()].flat();
    const key = JSON.stringify(groups);
    if (key === lastSent) return;
    lastSent = key;
    send?.(cloneGroups(groups));
  }

  function fail(file: string, err: unknown, next: Map<string, TargetGroup[]>): void {
    const error = describeError(err);
    const previous = byFile.get(file);
    if (previous) next.set(file, previous);
    const known = failures.get(file);
    if (known?.error !== error) {
      log.warn({ file, err: error, keptGroups: previous?.length ?? 0 }, 'file_sd: cannot use file; keeping its last good targets');
    }
    failures.set(file, { source: file, error, time: known?.error === error ? known.time : new Date() });
  }

  /** Folders to watch: each pattern's static base (so new files are seen) and each matched file's folder. */
  function wantedDirs(): Set<string> {
    const dirs = new Set<string>();
    for (const p of patterns) {
      const scan = picomatch.scan(p);
      dirs.add(scan.isGlob ? scan.base || '/' : path.dirname(p));
    }
    for (const file of byFile.keys()) dirs.add(path.dirname(file));
    return dirs;
  }

  function syncWatchers(): void {
    if (opts.watch === false || stopped) return;
    const wanted = wantedDirs();
    for (const [dir, w] of watchers) {
      if (!wanted.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => onChange());
        w.on('error', (err) => {
          log.debug({ dir, err: describeError(err) }, 'file_sd: watch failed; relying on the refresh interval');
          w.close();
          watchers.delete(dir);
        });
        watchers.set(dir, w);
      } catch (err) {
        // The folder may not exist yet; the next refresh tries again.
        log.debug({ dir, err: describeError(err) }, 'file_sd: cannot watch folder');
      }
    }
  }

  function onChange(): void {
    if (stopped) return;
    if (debounce) timers.clearTimeout(debounce);
    debounce = timers.setTimeout(() => {
      debounce = undefined;
      refresh().catch((err) => log.error({ err: describeError(err) }, 'file_sd: refresh failed'));
    }, debounceMs);
  }

  return {
    async start(s: SendGroups) {
      if (started || stopped) return;
      started = true;
      send = s;
      syncWatchers(); // before the first read, so no change slips between read and watch
      if (opts.refreshIntervalMs > 0) {
        timer = repeat(timers, opts.refreshIntervalMs, () => {
          refresh().catch((err) => log.error({ err: describeError(err) }, 'file_sd: refresh failed'));
        });
      }
      await refresh();
    },
    async stop() {
      stopped = true;
      timer?.();
      if (debounce) timers.clearTimeout(debounce);
      timer = debounce = undefined;
      for (const w of watchers.values()) w.close();
      watchers.clear();
      await inFlight()?.catch(() => {});
    },
    refresh,
    lastErrors: () => [...failures.values()].map((e) => ({ ...e })),
  };
}

function toPosix(p: string): string {
  return path.sep === '\\' ? p.replaceAll('\\', '/') : p;
}

/**
 * Parses one file_sd file into target groups. Throws an Error naming the
 * problem when the file is empty, malformed, or not a list of
 * `{targets: string[], labels?: {name: value}}` with valid label names.
 */
export function parseTargetGroups(text: string, file: string): TargetGroup[] {
  if (text.trim() === '') throw new Error(`${file}: file is empty (write [] for no targets)`);
  const ext = path.extname(file).toLowerCase();
  let doc: unknown;
  let yaml = false;
  if (ext === '.json') {
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new Error(`${file}: invalid JSON: ${describeError(err)}`);
    }
  } else if (ext === '.yml' || ext === '.yaml') {
    yaml = true;
    try {
      // failsafe: every scalar is text, so `release: 2026.10` stays "2026.10"
      // (Go's yaml reads string fields the same way).
      doc = YAML.parse(text, { schema: 'failsafe' });
    } catch (err) {
      throw new Error(`${file}: invalid YAML: ${describeError(err)}`);
    }
  } else {
    throw new Error(`${file}: unsupported extension ${JSON.stringify(ext)} (want .json, .yml or .yaml)`);
  }
  if (!Array.isArray(doc)) throw new Error(`${file}: expected a list of target groups`);

  return doc.map((raw: unknown, i): TargetGroup => {
    const where = `${file}: group ${i}`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${where}: expected an object with targets and labels`);
    const g = raw as Record<string, unknown>;
    for (const key of Object.keys(g)) {
      if (key !== 'targets' && key !== 'labels') throw new Error(`${where}: unknown key ${JSON.stringify(key)}`);
    }
    // In YAML an empty value (`labels:`) is absent, as in Go's yaml.
    const absent = (v: unknown) => v === undefined || v === null || (yaml && v === '');
    const targets = absent(g.targets) ? [] : g.targets;
    if (!Array.isArray(targets)) throw new Error(`${where}: targets must be a list of host:port strings`);
    const labels: Labels = {};
    if (!absent(g.labels)) {
      if (typeof g.labels !== 'object' || Array.isArray(g.labels)) throw new Error(`${where}: labels must be a map of strings`);
      for (const [name, value] of Object.entries(g.labels as Record<string, unknown>)) {
        if (!LABEL_NAME_RE.test(name)) throw new Error(`${where}: invalid label name ${JSON.stringify(name)}`);
        if (typeof value !== 'string') throw new Error(`${where}: label ${name} must be a string`);
        if (value !== '') labels[name] = value; // an empty value means "not set", as in Prometheus
      }
    }
    labels[FILEPATH_LABEL] = file;
    return {
      source: `${file}:${i}`,
      labels,
      targets: targets.map((t: unknown, j) => {
        if (typeof t !== 'string' || t === '') throw new Error(`${where}: target ${j} must be a non-empty host:port string`);
        return { __address__: t };
      }),
    };
  });
}
