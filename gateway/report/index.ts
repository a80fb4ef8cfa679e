/**
 * Stage: Istanbul HTML reports of a selection. `GET /reports/?<selector>`
 * redirects to `/reports/<key>/index.html`, where key names the selector, so
 * the report's relative links keep working. Reports are rendered with
 * istanbul-reports' `html` into a temp folder, once per selector and
 * coverage version, and served from there.
 *
 * Hostile paths: coverage file paths come from targets and pushers. The
 * renderer gets a sanitised relative tree (no leading "/", every ".." and "."
 * segment renamed), so it cannot write outside its temp folder; sources are
 * read only through our sourceFinder: files under the selected jobs'
 * `sources:` roots (realpath'd, so symlinks and ".." cannot leave a root) or
 * text carried in the data (inputSourceMap.sourcesContent). Nothing else on
 * the gateway's disk is ever read. Temp folders are named after the pid;
 * folders of dead gateways (a crash) are removed at start-up.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, isAbsolute, join, normalize, sep } from 'node:path';
import type { Router } from '@koa/router';
import libCoverage from 'istanbul-lib-coverage';
import libReport from 'istanbul-lib-report';
import reports from 'istanbul-reports';
import { errors } from '../errors.ts';
import { applyPathMap, expandGoStatements, parseSelector, selectorToString, type PathMap, type Selector } from '../model/index.ts';
import type { CoverageQuery } from '../merge/index.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css',
  '.js': 'application/javascript',
  '.png': 'image/png',
  '.json': 'application/json',
};

export interface ReportDeps {
  query: CoverageQuery;
  /**
   * Source roots the report of a selection may read from: the `sources:` of
   * the jobs the selector names (all jobs when it names none). Absent = none.
   */
  sourceRoots?: (selector: Selector) => string[];
  /** The `path_map` of the selected jobs: Go import paths become repository paths (shown, and looked up under the roots). */
  pathMap?: (selector: Selector) => PathMap;
  /** Most selectors kept rendered at once. */
  maxReports?: number;
}

const PREFIX = 'covgate-reports-';
const SOURCE_LIMIT = 8 << 20; // a source bigger than this is not rendered

/** Removes report folders left by gateways that are no longer running (a crash, a SIGKILL). */
export function removeStaleReportDirs(base = tmpdir()): void {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return;
  }
  for (const name of names) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = pid === process.pid;
    if (!alive) {
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === 'EPERM';
      }
    }
    if (!alive) rmSync(join(base, name), { recursive: true, force: true });
  }
}

/** One path segment safe as a file name: never "", ".", ".." nor containing a separator or NUL. */
function safeSegment(seg: string): string {
  const cleaned = seg.replace(/[\u0000-\u001f\\:*?"<>|]/g, '_');
  if (cleaned === '..') return '__up__';
  if (cleaned === '.') return '__dot__';
  return cleaned.slice(0, 200);
}

/** The relative tree the renderer sees for a coverage path. */
export function safeReportPath(path: string): string {
  const segs = path.split(/[\\/]+/).filter((s) => s !== '').map(safeSegment);
  return segs.length ? segs.join('/') : '__empty__';
}

/** Whether `file` (realpath'd) lies under one of `roots` (realpath'd). */
function underRoot(file: string, roots: string[]): boolean {
  return roots.some((r) => file === r || file.startsWith(r.endsWith(sep) ? r : r + sep));
}

/**
 * Source text of an original coverage path: from the data itself, else a
 * regular file under one of `roots` (absolute paths must lie under a root,
 * relative ones are looked up in each root). undefined = not available.
 */
export function findSource(path: string, data: unknown, roots: string[]): string | undefined {
  const carried = carriedSource(path, data);
  if (carried !== undefined) return carried;
  if (!roots.length || path.includes('\0')) return undefined;
  const real = roots.flatMap((r) => {
    try {
      return [realpathSync(r)];
    } catch {
      return [];
    }
  });
  const candidates = isAbsolute(path) ? [path] : real.map((r) => join(r, path));
  for (const c of candidates) {
    try {
      const resolved = realpathSync(c); // follows symlinks: the target must still be under a root
      if (!underRoot(resolved, real)) continue;
      const st = statSync(resolved);
      if (!st.isFile() || st.size > SOURCE_LIMIT) continue;
      return readFileSync(resolved, 'utf8');
    } catch {
      /* not there: try the next root */
    }
  }
  return undefined;
}

function carriedSource(path: string, data: unknown): string | undefined {
  const ism = (data as { inputSourceMap?: { sources?: unknown; sourcesContent?: unknown } } | undefined)?.inputSourceMap;
  if (!ism || !Array.isArray(ism.sources) || !Array.isArray(ism.sourcesContent)) return undefined;
  const sources = ism.sources as unknown[];
  const contents = ism.sourcesContent as unknown[];
  let i = sources.findIndex((s) => typeof s === 'string' && (s === path || path.endsWith(`/${s.replace(/^(\.\/)+/, '')}`)));
  if (i < 0 && sources.length === 1) i = 0;
  const text = i >= 0 ? contents[i] : undefined;
  return typeof text === 'string' ? text : undefined;
}

export function createReports(deps: ReportDeps) {
  removeStaleReportDirs();
  const root = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
  const selectors = new Map<string, Selector>();
  const rendered = new Map<string, { version: string; dir: string }>();
  let seq = 0;
  const max = deps.maxReports ?? 32;

  function keyOf(selector: Selector): string {
    const key = createHash('sha256').update(selectorToString(selector)).digest('base64url').slice(0, 16);
    selectors.set(key, selector);
    if (selectors.size > max * 4) selectors.delete(selectors.keys().next().value!);
    return key;
  }

  function render(key: string): string {
    const selector = selectors.get(key);
    if (!selector) throw errors.notFound(`report ${key} is not known (open /reports/?<selector> again)`);
    const roots = deps.sourceRoots?.(selector) ?? [];
    // a reload that changes the roots renders again
    const pathMap = deps.pathMap?.(selector);
    const version = `${deps.query.version()}\0${JSON.stringify(roots)}\0${JSON.stringify(pathMap ?? {})}`;
    const hit = rendered.get(key);
    if (hit && hit.version === version) return hit.dir;
    const dir = join(root, `${key}-${seq++}`);
    const merged = deps.query.coverage(selector);
    // The renderer sees only sanitised relative paths; originals stay here for the source lookup.
    const originals = new Map<string, { path: string; data: unknown }>();
    const safeMap: Record<string, unknown> = {};
    for (const [path, data] of Object.entries(applyPathMap(merged.map, pathMap) as Record<string, unknown>)) {
      let safe = safeReportPath(path);
      for (let n = 2; originals.has(safe); n++) safe = `${safeReportPath(path)}~${n}`;
      originals.set(safe, { path, data });
      safeMap[safe] = { ...(data as object), path: safe };
    }
    const context = libReport.createContext({
      dir,
      // Go files: statements weighted by numStmts, as every other covgate summary (model/summary.ts).
      coverageMap: libCoverage.createCoverageMap(expandGoStatements(safeMap as never) as never),
      defaultSummarizer: 'nested',
      sourceFinder: (safe: string) => {
        const o = originals.get(safe);
        const text = o ? findSource(o.path, o.data, roots) : undefined;
        if (text === undefined) {
          // istanbul-reports then shows this message (unescaped, with the stack) instead of the source
          const e = new Error('source not available');
          e.stack = '';
          throw e;
        }
        return text;
      },
    } as never);
    reports.create('html', { subdir: '', skipEmpty: false } as never).execute(context);
    if (hit) rmSync(hit.dir, { recursive: true, force: true });
    rendered.set(key, { version, dir });
    if (rendered.size > max) {
      const [oldKey, old] = rendered.entries().next().value!;
      rendered.delete(oldKey);
      rmSync(old.dir, { recursive: true, force: true });
    }
    return dir;
  }

  return {
    routes() {
      return (router: Router) => {
        router.get('/reports/', (ctx) => {
          const key = keyOf(parseSelector(ctx.query as Record<string, unknown>));
          ctx.redirect(`/reports/${key}/index.html`);
        });
        router.get('/reports/:key/{*file}', async (ctx) => {
          const dir = render(ctx.params.key!);
          const rel = normalize(decodeURIComponent(ctx.params.file || 'index.html'));
          const file = join(dir, rel);
          if (!file.startsWith(dir + sep)) throw errors.badData('bad report path');
          try {
            if (!(await stat(file)).isFile()) throw new Error('not a file');
          } catch {
            throw errors.notFound(`no report file ${rel}`);
          }
          ctx.type = TYPES[extname(file)] ?? 'application/octet-stream';
          ctx.body = await readFile(file);
        });
      };
    },
    stop() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}
