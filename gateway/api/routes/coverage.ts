import type { Router } from '@koa/router';
import { errors } from '../../errors.ts';
import { encodeCoverage } from '../../formats/index.ts';
import type { OutputFormat } from '../../formats/types.ts';
import { combineCoverage, isSetOp, parseSecondSelector, parseSelector, SET_OPS, SECOND_SELECTOR_PREFIX } from '../../model/index.ts';
import type { CoverageQuery } from '../../merge/index.ts';

export interface CoverageDeps {
  query: CoverageQuery;
}

const OUTPUT_FORMATS: OutputFormat[] = ['istanbul', 'lcov', 'cobertura', 'gocover', 'json-summary', 'text-summary'];

/**
 * GET /api/v1/coverage?<selector>&format=… : the merged coverage of a selection.
 * With `op=merge|subtract|intersect` and a second selector `b.<label>=…`, the
 * set operation A ∘ B of the two merged selections (model/set-ops.ts), in any
 * output format. The response names the operation in `X-Covgate-Op`.
 */
export function coverageRoutes(deps: CoverageDeps) {
  return (router: Router) => {
    router.get('/api/v1/coverage', (ctx) => {
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
      const merged = deps.query.coverage(selector);
      let map = merged.map;
      let missing = merged.missing.length;
      if (op !== undefined) {
        const other = deps.query.coverage(second);
        map = combineCoverage(merged.map, other.map, op);
        missing += other.missing.length;
        ctx.set('X-Covgate-Op', op);
      }
      if (missing > 0) ctx.set('X-Covgate-Missing-Structures', String(missing));
      const encoded = encodeCoverage(map, format);
      ctx.type = encoded.contentType;
      ctx.body = encoded.body;
    });
  };
}
