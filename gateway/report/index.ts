/**
 * Stage: Istanbul HTML reports of a selection. `GET /reports/?<selector>`
 * redirects to `/reports/<key>/index.html`, where key names the selector, so
 * the report's relative links keep working. Reports are rendered with
 * istanbul-reports' `html` into a temp folder, once per selector and
 * coverage version, and served from there.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import type { Router } from '@koa/router';
import libCoverage from 'istanbul-lib-coverage';
import libReport from 'istanbul-lib-report';
import reports from 'istanbul-reports';
import { errors } from '../errors.ts';
import { expandGoStatements, parseSelector, selectorToString, type Selector } from '../model/index.ts';
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
  /** Most selectors kept rendered at once. */
  maxReports?: number;
}

export function createReports(deps: ReportDeps) {
  const root = mkdtempSync(join(tmpdir(), 'covgate-reports-'));
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
    const version = deps.query.version();
    const hit = rendered.get(key);
    if (hit && hit.version === version) return hit.dir;
    const dir = join(root, `${key}-${seq++}`);
    const merged = deps.query.coverage(selector);
    const context = libReport.createContext({
      dir,
      // Go files: statements weighted by numStmts, as every other covgate summary (model/summary.ts).
      coverageMap: libCoverage.createCoverageMap(expandGoStatements(merged.map)),
      defaultSummarizer: 'nested',
    });
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
