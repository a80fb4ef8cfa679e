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
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import type { Router } from '@koa/router';
import { errors } from '../errors.ts';
import { createRenderer, type Renderer } from './renderer.ts';
import { safeReportPath } from './sources.ts';
import { applyPathMap, mapPath, expandGoStatements, parseSelector, selectorToString, type CoverageMapData, type PathMap, type Selector } from '../model/index.ts';
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
  /** Most bytes of rendered reports kept on disk (least recently used go first). */
  maxBytes?: number;
  /** Longest a render may take before it is abandoned. */
  renderTimeoutMs?: number;
  /** Where renders run; default a worker thread (tests inject a fake). */
  renderer?: Renderer;
  /**
   * A selection spanning builds carried onto its newest build (diff stage),
   * as /api/v1/coverage answers by default; `/reports/?…&carry=none` merges
   * builds by source location. Absent = never carried.
   */
  carry?: (selector: Selector) => Promise<ReportCarry | undefined>;
}

/** What a report needs of a carry result (diff/index.ts CarryResult). */
export interface ReportCarry {
  mode: 'lines' | 'none';
  map: CoverageMapData;
  newest?: string;
  carriedFrom: string[];
  lastSeen: Record<string, number>;
  notes: string[];
}

/** The banner's words on carrying: from which builds and when they last ran, or why builds were merged by location. */
function carryCaption(c: ReportCarry): string {
  const short = (x: string) => x.slice(0, 12);
  if (c.mode === 'lines') {
    const from = c.carriedFrom.map((x) => `${short(x)} (last run ${new Date(c.lastSeen[x]!).toISOString()})`).join(', ');
    return `counts of ${from} carried onto ${short(c.newest ?? '?')}${c.notes.length > 0 ? `; ${c.notes.join('; ')}` : ''}`;
  }
  return `builds merged by source location: ${c.notes.join('; ')}`;
}

export { findSource, safeReportPath } from './sources.ts';

const PREFIX = 'covgate-reports-';

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

const escHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The strip on top of every report page: back to the status page, and what is shown. */
function bannerOf(selector: Selector, caption?: string): string {
  const shown = selectorToString(selector) || 'everything (all targets)';
  const extra = caption ? ` &middot; <span style="background:#ffd33d;color:#000;padding:0 4px">${escHtml(caption)}</span>` : '';
  return `<div style="font:13px system-ui,sans-serif;background:#24292f;color:#fff;padding:6px 16px"><a href="/" style="color:#fff;font-weight:600">&larr; covgate status</a> &middot; selection: <code>${escHtml(shown)}</code>${extra}</div>`;
}

/** Bytes of the files under `dir`. */
async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  }
  return total;
}

interface Rendered {
  version: string;
  dir: string;
  bytes: number;
}

export function createReports(deps: ReportDeps) {
  removeStaleReportDirs();
  const root = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
  const renderer = deps.renderer ?? createRenderer({ timeoutMs: deps.renderTimeoutMs });
  const selectors = new Map<string, Selector>();
  /** Reports opened with changed lines to highlight (diff coverage): key → coverage path → lines, and a caption. */
  const extras = new Map<string, { highlight: Record<string, number[]>; caption: string }>();
  /** Reports opened with carry=none. */
  const noCarry = new Set<string>();
  // Insertion order is recency: a hit moves its entry to the end.
  const rendered = new Map<string, Rendered>();
  const inFlight = new Map<string, { version: string; done: Promise<string> }>();
  let seq = 0;
  const maxReports = deps.maxReports ?? 32;
  const maxBytes = deps.maxBytes ?? 512 << 20;

  function keyOf(selector: Selector, carry: 'lines' | 'none' = 'lines'): string {
    const key = createHash('sha256').update(selectorToString(selector)).update(carry === 'none' ? '\0carry=none' : '').digest('base64url').slice(0, 16);
    selectors.set(key, selector);
    if (carry === 'none') noCarry.add(key);
    if (selectors.size > maxReports * 4) {
      const oldest = selectors.keys().next().value!;
      selectors.delete(oldest);
      extras.delete(oldest);
      noCarry.delete(oldest);
    }
    return key;
  }

  /** A report key for a selector with lines to highlight (diff coverage): served at /reports/<key>/index.html. */
  function openHighlighted(selector: Selector, highlight: Record<string, number[]>, caption: string, carry: 'lines' | 'none' = 'lines'): string {
    const key = createHash('sha256').update(selectorToString(selector)).update('\0').update(JSON.stringify(highlight)).update(caption).update(carry).digest('base64url').slice(0, 16);
    selectors.set(key, selector);
    if (carry === 'none') noCarry.add(key);
    extras.set(key, { highlight, caption });
    if (selectors.size > maxReports * 4) {
      const oldest = selectors.keys().next().value!;
      selectors.delete(oldest);
      extras.delete(oldest);
      noCarry.delete(oldest);
    }
    return key;
  }

  /** Drops the least recently used reports until the count and byte budgets hold (never `keep`). */
  async function evict(keep: string): Promise<void> {
    const doomed: string[] = [];
    let bytes = 0;
    for (const r of rendered.values()) bytes += r.bytes;
    for (const [key, r] of rendered) {
      if (rendered.size <= maxReports && bytes <= maxBytes) break;
      if (key === keep) continue;
      rendered.delete(key);
      bytes -= r.bytes;
      doomed.push(r.dir);
    }
    await Promise.all(doomed.map((d) => rm(d, { recursive: true, force: true })));
  }

  async function renderNow(key: string, selector: Selector, version: string, roots: string[], pathMap: PathMap | undefined): Promise<string> {
    const dir = join(root, `${key}-${seq++}`);
    const carried = !noCarry.has(key) && deps.carry ? await deps.carry(selector) : undefined;
    const merged = carried ?? deps.query.coverage(selector);
    // The renderer sees only sanitised relative paths; originals stay for the source lookup.
    const originals: Record<string, string> = Object.create(null);
    const safeMap: Record<string, unknown> = Object.create(null);
    // path_map: Go import paths become repository paths, shown and looked up under the roots
    for (const [path, data] of Object.entries(applyPathMap(merged.map, pathMap) as Record<string, unknown>)) {
      let safe = safeReportPath(path);
      for (let n = 2; Object.hasOwn(originals, safe); n++) safe = `${safeReportPath(path)}~${n}`;
      originals[safe] = path;
      safeMap[safe] = { ...(data as object), path: safe };
    }
    // changed lines (diff coverage) by the page they land on
    const extra = extras.get(key);
    let highlight: Record<string, number[]> | undefined;
    if (extra) {
      highlight = {};
      const safeOf = new Map(Object.entries(originals).map(([safe, original]) => [original, safe]));
      for (const [path, lines] of Object.entries(extra.highlight)) {
        const safe = safeOf.get(pathMap ? mapPath(path, pathMap) : path);
        if (safe !== undefined) highlight[safe] = lines;
      }
    }
    mkdirSync(dir, { recursive: true });
    try {
      // Go files: statements weighted by numStmts, as every other covgate summary (model/summary.ts).
      await renderer.render({ dir, map: expandGoStatements(safeMap as never) as never, originals: { ...originals }, roots, banner: bannerOf(selector, [extra?.caption, carried ? carryCaption(carried) : undefined].filter(Boolean).join(' · ') || undefined), highlight });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    const old = rendered.get(key);
    rendered.delete(key);
    rendered.set(key, { version, dir, bytes: await sizeOf(dir) });
    if (old) await rm(old.dir, { recursive: true, force: true });
    await evict(key);
    return dir;
  }

  /** The folder of an up-to-date rendering of `key`; concurrent callers share one render. */
  async function render(key: string): Promise<string> {
    const selector = selectors.get(key);
    if (!selector) throw errors.notFound(`report ${key} is not known (open /reports/?<selector> again)`);
    const roots = deps.sourceRoots?.(selector) ?? [];
    // a reload that changes the roots renders again
    const pathMap = deps.pathMap?.(selector);
    const version = `${deps.query.version()}\0${JSON.stringify(roots)}\0${JSON.stringify(pathMap ?? {})}`;
    const hit = rendered.get(key);
    if (hit && hit.version === version) {
      rendered.delete(key);
      rendered.set(key, hit);
      return hit.dir;
    }
    const running = inFlight.get(key);
    if (running && running.version === version) return running.done;
    const done = renderNow(key, selector, version, roots, pathMap).finally(() => {
      if (inFlight.get(key)?.done === done) inFlight.delete(key);
    });
    inFlight.set(key, { version, done });
    return done;
  }

  return {
    openHighlighted,
    routes() {
      return (router: Router) => {
        router.get('/reports/', (ctx) => {
          const carry = ctx.query.carry ?? 'lines';
          if (carry !== 'lines' && carry !== 'none') throw errors.badData(`carry must be one of none, lines, got ${JSON.stringify(carry)}`);
          const key = keyOf(parseSelector(ctx.query as Record<string, unknown>), carry);
          ctx.redirect(`/reports/${key}/index.html`);
        });
        router.get('/reports/:key/{*file}', async (ctx) => {
          const dir = await render(ctx.params.key!);
          let rel: string;
          try {
            rel = normalize(decodeURIComponent(ctx.params.file || 'index.html'));
          } catch {
            throw errors.badData('bad report path: malformed percent-encoding');
          }
          const file = join(dir, rel);
          if (!file.startsWith(dir + sep)) throw errors.badData('bad report path');
          try {
            if (!(await stat(file)).isFile()) throw new Error('not a file');
            ctx.body = await readFile(file);
          } catch {
            throw errors.notFound(`no report file ${rel}`);
          }
          ctx.type = TYPES[extname(file)] ?? 'application/octet-stream';
        });
      };
    },
    async stop() {
      await renderer.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
