import type { Router } from '@koa/router';
import { readBody } from '../api/body.ts';
import { targetId } from '../discovery/target.ts';
import { errors } from '../errors.ts';
import { decodePayload } from '../formats/index.ts';
import type { ScrapeFormat } from '../formats/types.ts';
import { PUSH_TARGET_PREFIX, type Ingester } from './index.ts';
import { LABEL_NAME_RE as LABEL_RE } from '../model/labels.ts';
import { SCRAPE_FORMATS } from '../config/formats.ts';

export interface PushIngestDeps {
  ingester: Ingester;
  /** Largest accepted body, after decompression (`server.body_size_limit`, read per request so a reload applies). */
  bodyLimit: () => number;
  /** Called after each acknowledged push; `stored` says whether a snapshot was written. */
  onIngested?: (stored: boolean) => void;
}

const FORMATS = new Set<string>(SCRAPE_FORMATS);

/**
 * POST /api/v1/coverage?job=…&<label>=… : push ingest for batch jobs, unit-test
 * runs and CLI programs that exit before a scrape. The body is any format of
 * the exporter protocol (gzip allowed). Each push without an `instance`
 * (envelope field or X-Coverage-Instance header) is its own process run, so
 * pushes add up: pushes of the same build accumulate in one lifetime (the
 * ingester's foldedInstance); pushes with the same instance replace each other
 * (cumulative) or add up (counters: delta). The data is durable when the 202 is sent.
 */
export function pushIngestRoutes(deps: PushIngestDeps) {
  return (router: Router) => {
    router.post('/api/v1/coverage', async (ctx) => {
      const q = ctx.query as Record<string, string | string[] | undefined>;
      const one = (k: string) => (Array.isArray(q[k]) ? (q[k] as string[])[0] : (q[k] as string | undefined));
      const job = one('job');
      if (!job) throw errors.badData('query parameter "job" is required (POST /api/v1/coverage?job=<name>&<label>=<value>)');
      const format = one('format') ?? 'auto';
      if (!FORMATS.has(format)) throw errors.badData(`format must be one of ${[...FORMATS].join(', ')}, got ${JSON.stringify(format)}`);
      const labels: Record<string, string> = { job };
      for (const [k, v] of Object.entries(q)) {
        if (k === 'job' || k === 'format' || v === undefined) continue;
        if (!LABEL_RE.test(k)) throw errors.badData(`label name ${JSON.stringify(k)} is not a valid Prometheus label name`);
        if (k.startsWith('__')) throw errors.badData(`label name ${JSON.stringify(k)} is reserved (names starting with "__" are internal)`);
        labels[k] = Array.isArray(v) ? v.join(',') : v;
      }
      labels.service ??= job;
      labels.instance ??= 'push';
      const body = await readBody(ctx, deps.bodyLimit());
      if (body.length === 0) throw errors.badData('request body is empty: send a coverage profile in any supported format');
      const id = `${PUSH_TARGET_PREFIX}${targetId(labels)}`;
      const decoded = await decodePayload(body, {
        declaredFormat: format as ScrapeFormat,
        contentType: ctx.get('Content-Type') || undefined,
        instanceHeader: ctx.get('X-Coverage-Instance') || undefined,
        counters: 'cumulative',
        requireFiles: true, // an empty push is a mistake, not a process that ran nothing
        previousCounters: deps.ingester.previousCounters(id),
      });
      const r = await deps.ingester.ingest({ decoded, source: 'push', target: { id, job, labels } });
      deps.onIngested?.(r.changed);
      ctx.status = 202;
      ctx.body = { status: 'success', data: { target: id, labels, lifetime: r.lifetimeId, files: r.files, format: decoded.format } };
    });
  };
}
