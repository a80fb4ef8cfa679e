import type { Router } from '@koa/router';
import type { Context } from 'koa';
import { errors } from '../../errors.ts';
import { renderDiffHtml, renderDiffText, withCarried, type CarryResult, type DiffCoverageService } from '../../diff/index.ts';
import { setCarryHeaders } from './coverage.ts';
import { combineCoverage, isSetOp, parseSecondSelector, parseSelector, SET_OPS, type CoverageMapData, type Selector } from '../../model/index.ts';
import type { CoverageQuery } from '../../merge/index.ts';
import { readBody } from '../body.ts';

export interface DiffCoverageDeps {
  diff: DiffCoverageService;
  query: CoverageQuery;
  /** Carry older builds onto the newest (as /api/v1/coverage does with carry=lines). */
  carry?: (selector: Selector) => Promise<CarryResult | undefined>;
  /** Largest diff body accepted, bytes. */
  bodyLimit: number;
  /** Opens the Istanbul report of a selection with lines highlighted; returns its key (`format=report`). */
  openReport?: (selector: Selector, highlight: Record<string, number[]>, caption: string, carry: 'lines' | 'none') => string;
}

const FORMATS = ['json', 'text', 'html', 'report'] as const;
/** This endpoint's own parameters: never label matchers. */
const OWN_PARAMS = ['diff', 'base', 'head'];

function one(ctx: Context, key: string): string | undefined {
  const v = ctx.query[key];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw errors.badData(`query parameter ${key} given more than once`);
  return v;
}

/**
 * GET|POST /api/v1/diff-coverage?<selector>&format=json|text|html|report : coverage
 * of the lines a change added or modified. The diff is the POST body (a
 * unified diff, e.g. `git diff main...HEAD`), or `diff=<name>` from config,
 * or `base=<rev>&head=<rev>` diffed in the job's repository. The selection
 * may be a set operation (`op=…&b.<label>=…`) like /api/v1/coverage, and
 * `carry=lines` (default) carries older builds onto the newest first, so an
 * older build's counts never land on lines the newest build changed (a
 * location merge would put them there); `X-Covgate-Carry` tells which.
 * `format=report` redirects to the selection's Istanbul HTML report with the
 * changed lines highlighted on each file's page.
 */
export function diffCoverageRoutes(deps: DiffCoverageDeps) {
  const handle = async (ctx: Context) => {
    const format = one(ctx, 'format') ?? 'json';
    if (!(FORMATS as readonly string[]).includes(format)) throw errors.badData(`format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
    const labelQuery = Object.fromEntries(Object.entries(ctx.query).filter(([k]) => !OWN_PARAMS.includes(k)));
    const selector = parseSelector(labelQuery);
    const op = one(ctx, 'op');
    if (op !== undefined && !isSetOp(op)) throw errors.badData(`op must be one of ${SET_OPS.join(', ')}, got ${JSON.stringify(op)}`);
    const second = parseSecondSelector(labelQuery);
    if (op !== undefined && Object.keys(second).length === 0) throw errors.badData(`op=${op} needs a second selector written b.<label>=…`);
    let diffText: string | undefined;
    if (ctx.method === 'POST') {
      diffText = (await readBody(ctx, deps.bodyLimit)).toString('utf8');
      if (one(ctx, 'diff') !== undefined || one(ctx, 'base') !== undefined) throw errors.badData('send either a diff body or diff=/base=&head=, not both');
    }
    const carryMode = one(ctx, 'carry') ?? 'lines';
    if (carryMode !== 'lines' && carryMode !== 'none') throw errors.badData(`carry must be one of none, lines, got ${JSON.stringify(carryMode)}`);
    let firstCarried: CarryResult | undefined;
    const carryOf = async (sel: Selector, first: boolean): Promise<CoverageMapData | undefined> => {
      if (carryMode === 'none' || !deps.carry) return undefined;
      const carried = await deps.carry(sel);
      if (first && carried) {
        setCarryHeaders(ctx, carried);
        firstCarried = carried;
      }
      return carried?.map;
    };
    let coverage: CoverageMapData | ((sel: Selector) => Promise<CoverageMapData | undefined>) = (sel) => carryOf(sel, true);
    if (op !== undefined) {
      const a = (await carryOf(selector, true)) ?? deps.query.coverage(selector).map;
      const b = (await carryOf(second, false)) ?? deps.query.coverage(second).map;
      coverage = combineCoverage(a, b, op);
    }
    const result = await deps.diff.report({ selector, diffText, name: one(ctx, 'diff'), base: one(ctx, 'base'), head: one(ctx, 'head') }, coverage);
    // Which changed lines owe their count to older builds, and when they were last seen run (a set operation's result has no single origin).
    if (firstCarried && op === undefined) result.report = withCarried(result.report, firstCarried.lines);
    if (format === 'report') {
      // The selection's Istanbul report with the changed lines highlighted on their pages.
      if (!deps.openReport) throw errors.notFound('reports are not available');
      const highlight: Record<string, number[]> = {};
      for (const f of result.report.files) highlight[f.coveragePath] = f.lines.map((l) => l.line);
      const t = result.report.totals;
      const key = deps.openReport(selector, highlight, `${result.title}: ${t.covered}/${t.coverable} changed lines covered`, carryMode);
      ctx.redirect(`/reports/${key}/index.html`);
      return;
    }
    if (format === 'text') {
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = renderDiffText(result.report, result.title);
    } else if (format === 'html') {
      ctx.type = 'text/html; charset=utf-8';
      ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
      ctx.body = renderDiffHtml(result.report, result.title);
    } else {
      ctx.body = { status: 'success', data: { diff: { title: result.title, ...result.source }, ...result.report } };
    }
  };
  return (router: Router) => {
    router.get('/api/v1/diff-coverage', handle);
    router.post('/api/v1/diff-coverage', handle);
  };
}
