import type { Router } from '@koa/router';
import { errors } from '../../errors.ts';
import { encodeCoverage } from '../../formats/index.ts';
import type { OutputFormat } from '../../formats/types.ts';
import { applyPathMap, parseSelector, type PathMap, type Selector } from '../../model/index.ts';
import type { CoverageQuery } from '../../merge/index.ts';

export interface CoverageDeps {
  query: CoverageQuery;
  /** The `path_map` of the selected jobs: applied to LCOV and Cobertura file names (gocover and istanbul keep Go import paths, which `go tool cover` resolves). */
  pathMap?: (selector: Selector) => PathMap;
}

const MAPPED_FORMATS = new Set<OutputFormat>(['lcov', 'cobertura']);

const OUTPUT_FORMATS: OutputFormat[] = ['istanbul', 'lcov', 'cobertura', 'gocover', 'json-summary', 'text-summary'];

/** GET /api/v1/coverage?<selector>&format=… : the merged coverage of a selection. */
export function coverageRoutes(deps: CoverageDeps) {
  return (router: Router) => {
    router.get('/api/v1/coverage', (ctx) => {
      const format = String(ctx.query.format ?? 'istanbul') as OutputFormat;
      if (!OUTPUT_FORMATS.includes(format)) throw errors.badData(`format must be one of ${OUTPUT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
      const selector = parseSelector(ctx.query as Record<string, unknown>);
      const merged = deps.query.coverage(selector);
      if (merged.missing.length > 0) ctx.set('X-Covgate-Missing-Structures', String(merged.missing.length));
      const map = MAPPED_FORMATS.has(format) ? applyPathMap(merged.map, deps.pathMap?.(selector)) : merged.map;
      const encoded = encodeCoverage(map, format);
      ctx.type = encoded.contentType;
      ctx.body = encoded.body;
    });
  };
}
