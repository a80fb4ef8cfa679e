import type { Router } from '@koa/router';
import { errors } from '../../errors.ts';
import { encodeCoverage } from '../../formats/index.ts';
import type { OutputFormat } from '../../formats/types.ts';
import { parseSelector } from '../../model/index.ts';
import type { CoverageQuery } from '../../merge/index.ts';

export interface CoverageDeps {
  query: CoverageQuery;
}

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
      const encoded = encodeCoverage(merged.map, format);
      ctx.type = encoded.contentType;
      ctx.body = encoded.body;
    });
  };
}
