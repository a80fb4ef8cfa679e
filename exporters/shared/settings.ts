import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Parses `k=v,k=v` (COVGATE_LABELS). Empty or malformed pairs are skipped. */
export function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of (text ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const k = pair.slice(0, eq).trim();
    const v = pair.slice(eq + 1).trim();
    if (k) labels[k] = v;
  }
  return labels;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a Prometheus-style duration (`500ms`, `60s`, `1m30s`) or a bare
 * number of seconds; returns milliseconds, or undefined when it is not one.
 */
export function parseDurationMs(text: string | number | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (typeof text === 'number') return text * 1000;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const re = /(\d+)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === text.length && matched > 0 ? total : undefined;
}

/** Prometheus-style duration text for milliseconds (`60s`, `1500ms`). */
export function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

/**
 * Build info for the envelope: COVGATE_BUILD_VERSION / COVGATE_BUILD_COMMIT,
 * else the `version` of the package.json in `cwd` (the app's);
 * COVGATE_BUILD_DIFF_FILE (a unified diff file, read once at start) and
 * COVGATE_BUILD_DIFF_BASE (the commit it starts from) as `diff` / `diff_base`.
 */
export function buildInfo(env: NodeJS.ProcessEnv, cwd: string): Record<string, string> {
  const build: Record<string, string> = {};
  let version = env.COVGATE_BUILD_VERSION;
  if (!version) {
    try {
      const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as { version?: unknown };
      if (typeof pkg.version === 'string') version = pkg.version;
    } catch {
      // No package.json: the build is simply unnamed.
    }
  }
  if (version) build.version = version;
  if (env.COVGATE_BUILD_COMMIT) build.commit = env.COVGATE_BUILD_COMMIT;
  // The diff that led to this build (e.g. `git diff <previous> <this>`), for the gateway to carry coverage across builds.
  if (env.COVGATE_BUILD_DIFF_FILE) {
    try {
      build.diff = readFileSync(env.COVGATE_BUILD_DIFF_FILE, 'utf8');
    } catch (err) {
      // The service under test must start anyway: without the diff the gateway merges builds by location.
      process.stderr.write(`covgate: COVGATE_BUILD_DIFF_FILE: ${(err as Error).message}\n`);
    }
  }
  if (env.COVGATE_BUILD_DIFF_BASE) build.diff_base = env.COVGATE_BUILD_DIFF_BASE;
  return build;
}

/** One line on stderr, prefixed so it is recognisable among the app's own output. */
export interface ExporterLogger {
  info(msg: string): void;
  warn(msg: string): void;
}

export function stderrLogger(prefix: string, env: NodeJS.ProcessEnv = process.env): ExporterLogger {
  const silent = env.COVGATE_LOG === 'silent';
  return {
    info: (msg) => {
      if (!silent) process.stderr.write(`${prefix}: ${msg}\n`);
    },
    warn: (msg) => {
      if (!silent) process.stderr.write(`${prefix}: warning: ${msg}\n`);
    },
  };
}
