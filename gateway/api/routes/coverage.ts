import type { Router } from '@koa/router';
import { errors } from '../../errors.ts';
import { encodeCoverage } from '../../formats/index.ts';
import type { OutputFormat } from '../../formats/types.ts';
import { combineCoverage, isSetOp, parseSecondSelector, parseSelector, SET_OPS, SECOND_SELECTOR_PREFIX, type CoverageMapData, type Selector, applyPathMap, type PathMap } from '../../model/index.ts';
import type { CoverageQuery } from '../../merge/index.ts';
import type { CarryResult } from '../../diff/index.ts';
import type { Context } from 'koa';

export interface CoverageDeps {
  query: CoverageQuery;
  /** Carry older builds onto the newest (diff stage); without it every query is carry=none. */
  carry?: (selector: Selector) => Promise<CarryResult | undefined>;
  /** The `path_map` of the selected jobs: applied to LCOV and Cobertura file names (gocover and istanbul keep Go import paths, which `go tool cover` resolves). */
  pathMap?: (selector: Selector) => PathMap;
}

const CARRY_MODES = ['none', 'lines'] as const;

const MAPPED_FORMATS = new Set<OutputFormat>(['lcov', 'cobertura']);

const OUTPUT_FORMATS: OutputFormat[] = ['istanbul', 'lcov', 'cobertura', 'gocover', 'json-summary', 'text-summary'];

/**
 * GET /api/v1/coverage?<selector>&format=… : the merged coverage of a selection.
 * With `op=merge|subtract|intersect` and a second selector `b.<label>=…`, the
 * set operation A ∘ B of the two merged selections (model/set-ops.ts), in any
 * output format. The response names the operation in `X-Covgate-Op`.
 * `carry=lines` (the default) carries older builds of a selection that spans
 * builds onto the newest through the diff between their commits
 * (diff/carry.ts); `carry=none` merges builds by source location. Headers
 * say what happened: `X-Covgate-Carry` (lines|none), `X-Covgate-Carry-Note`,
 * `X-Covgate-Carried-From`, `X-Covgate-Carried-Last-Seen` (per carried build,
 * when it was last scraped), and lines covered observed on the newest build
 * versus carried (`X-Covgate-Observed-Lines`, `X-Covgate-Carried-Lines`).
 * GET /api/v1/carry?<selector> answers the same in JSON, with every carried
 * line and when it was last seen run (carryReport).
 */
/** The carry headers of a response (/api/v1/coverage, /api/v1/diff-coverage, reports). */
export function setCarryHeaders(ctx: Context, carried: CarryResult): void {
  ctx.set('X-Covgate-Carry', carried.mode);
  if (carried.notes.length > 0) ctx.set('X-Covgate-Carry-Note', carried.notes.join('; ').replace(/[^\x20-\x7e]+/g, ' ').slice(0, 1000));
  if (carried.carriedFrom.length > 0) {
    ctx.set('X-Covgate-Carried-From', `${carried.carriedFrom.join(',')} -> ${carried.newest}`);
    ctx.set('X-Covgate-Carried-Last-Seen', carried.carriedFrom.map((c) => `${c}=${new Date(carried.lastSeen[c]!).toISOString()}`).join(','));
  }
  const o = carried.observed.lines;
  ctx.set('X-Covgate-Observed-Lines', `${o.covered}/${o.total}`);
  ctx.set('X-Covgate-Carried-Lines', String(carried.combined.lines.covered - o.covered));
}

/**
 * The JSON of GET /api/v1/carry: what carrying did for the selection, and
 * every carried line with its carried hits, the newest build's own hits, and
 * when (and on which build) it was last seen run.
 */
export function carryReport(carried: CarryResult | undefined) {
  if (!carried) return { carry: 'none', notes: ['the selection has at most one build: nothing to carry'], builds: [], files: [] };
  const o = carried.observed.lines;
  return {
    carry: carried.mode,
    ...(carried.newest !== undefined ? { newest: carried.newest } : {}),
    notes: carried.notes,
    builds: carried.carriedFrom.map((commit) => ({ commit, lastSeen: new Date(carried.lastSeen[commit]!).toISOString(), diff: carried.via[commit] })),
    lines: { observed: { covered: o.covered, total: o.total }, combined: { covered: carried.combined.lines.covered, total: carried.combined.lines.total }, carried: carried.combined.lines.covered - o.covered },
    files: Object.entries(carried.lines)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([path, lines]) => ({
        path,
        lines: Object.entries(lines).map(([line, l]) => ({ line: Number(line), hits: l.hits, observed: l.observed, lastSeen: new Date(l.lastSeen).toISOString(), from: l.from })),
      })),
  };
}

export function coverageRoutes(deps: CoverageDeps) {
  return (router: Router) => {
    /** A selection's map, carried across builds when asked and possible; sets the carry headers for the first selection. */
    async function mapOf(ctx: Context, selector: Selector, carryMode: string, headers: boolean): Promise<{ map: CoverageMapData; missing: number }> {
      const merged = deps.query.coverage(selector);
      if (carryMode === 'none' || !deps.carry) return { map: merged.map, missing: merged.missing.length };
      const carried = await deps.carry(selector);
      if (!carried) return { map: merged.map, missing: merged.missing.length };
      if (headers) setCarryHeaders(ctx, carried);
      return { map: carried.map, missing: merged.missing.length };
    }

    router.get('/api/v1/carry', async (ctx) => {
      const selector = parseSelector(ctx.query as Record<string, unknown>);
      const carried = deps.carry ? await deps.carry(selector) : undefined;
      if (carried) setCarryHeaders(ctx, carried);
      ctx.body = { status: 'success', data: carryReport(carried) };
    });

    router.get('/api/v1/coverage', async (ctx) => {
      const query = ctx.query as Record<string, unknown>;
      const format = String(query.format ?? 'istanbul') as OutputFormat;
      if (!OUTPUT_FORMATS.includes(format)) throw errors.badData(`format must be one of ${OUTPUT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
      const op = query.op;
      if (op !== undefined && !isSetOp(op)) throw errors.badData(`op must be one of ${SET_OPS.join(', ')}, got ${JSON.stringify(op)}`);
      const selector = parseSelector(query);
      const second = parseSecondSelector(query);
      const hasSecond = Object.keys(query).some((k) => k.startsWith(SECOND_SELECTOR_PREFIX));
      if (op !== undefined && Object.keys(second).length === 0) {
        throw errors.badData(`op=${op} needs a second selector written ${SECOND_SELECTOR_PREFIX}<label>=… (e.g. ${SECOND_SELECTOR_PREFIX}test_type=AT)`);
      }
      if (op === undefined && hasSecond) throw errors.badData(`a second selector (${SECOND_SELECTOR_PREFIX}…) needs op=${SET_OPS.join('|')}`);
      const carry = String(query.carry ?? 'lines');
      if (!(CARRY_MODES as readonly string[]).includes(carry)) throw errors.badData(`carry must be one of ${CARRY_MODES.join(', ')}, got ${JSON.stringify(carry)}`);
      const a = await mapOf(ctx, selector, carry, true);
      let map = a.map;
      let missing = a.missing;
      if (op !== undefined) {
        const other = await mapOf(ctx, second, carry, false);
        map = combineCoverage(a.map, other.map, op);
        missing += other.missing;
        ctx.set('X-Covgate-Op', op);
      }
      if (missing > 0) ctx.set('X-Covgate-Missing-Structures', String(missing));
      if (MAPPED_FORMATS.has(format)) map = applyPathMap(map, deps.pathMap?.(selector));
      const encoded = encodeCoverage(map, format);
      ctx.type = encoded.contentType;
      ctx.body = encoded.body;
    });
  };
}
