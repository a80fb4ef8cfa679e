import type { Router } from '@koa/router';
import { readBody } from '../api/body.ts';
import type { Clock } from '../clock/index.ts';
import { decodePayload } from '../formats/index.ts';
import type { Ingester } from '../ingest/index.ts';
import { PUSH_TARGET_PREFIX } from '../store/target-source.ts';
import type { Forwarder } from './forwarder.ts';
import { FLUSH_PATH, FORWARD_PATH, FORWARDED_TARGET_HEADER, decodeForwardedTarget } from './protocol.ts';
import { errors } from '../errors.ts';

export interface ForwardRoutesDeps {
  /** The only writer: forwarded lifetimes are stored as scrapes and pushes are. */
  ingester: Ingester;
  bodyLimit: () => number;
  onIngested?: (stored: boolean) => void;
  /** The shard side, when `forward:` is configured. */
  forwarder?: () => Forwarder | undefined;
  /** Scrapes the selection now (a flush with `scrape: true`). */
  scrape: (selector: Record<string, unknown> | undefined) => Promise<void>;
}

/**
 * Central side: `POST /api/v1/forward` stores a shard's forwarded lifetime
 * under the shard's own target id, job and labels (so sessions, queries and
 * /metrics see the targets a single gateway would). A counters-only envelope
 * whose structure the central does not hold is a 409 (the shard sends the
 * full data again). The data is durable when the 202 is sent.
 *
 * Shard side: `POST /api/v1/forward/flush` (body `{"scrape"?: bool, "selector"?}`)
 * optionally scrapes, then delivers everything pending to the central before
 * answering 200; 503 when the central could not take it.
 */
export function forwardRoutes(deps: ForwardRoutesDeps) {
  return (router: Router) => {
    router.post(FORWARD_PATH, async (ctx) => {
      const target = decodeForwardedTarget(ctx.get(FORWARDED_TARGET_HEADER) || undefined);
      const body = await readBody(ctx, deps.bodyLimit());
      if (body.length === 0) throw errors.badData('request body is empty: send a covgate envelope');
      const decoded = await decodePayload(body, {
        declaredFormat: 'covgate',
        contentType: ctx.get('Content-Type') || undefined,
        counters: 'cumulative',
        previousCounters: deps.ingester.previousCounters(target.id),
      });
      if (decoded.instance === undefined) throw errors.badData('a forwarded envelope needs an "instance" (the shard lifetime it carries)');
      // The shard sends each lifetime's cumulative state; a forwarded target keeps the source it has on the shard.
      const r = await deps.ingester.ingest({
        decoded: { ...decoded, counters: 'cumulative' },
        source: target.id.startsWith(PUSH_TARGET_PREFIX) ? 'push' : 'scrape',
        target,
      });
      deps.onIngested?.(r.changed);
      ctx.status = 202;
      ctx.body = { status: 'success', data: { target: target.id, lifetime: r.lifetimeId, changed: r.changed } };
    });

    router.post(FLUSH_PATH, async (ctx) => {
      const f = deps.forwarder?.();
      if (!f) throw errors.badData('forward is not configured on this gateway (forward: {url} in gateway.yaml)');
      const raw = ctx.request.length ? await readBody(ctx, 1024 * 1024) : Buffer.alloc(0);
      let req: { scrape?: unknown; selector?: unknown } = {};
      if (raw.length > 0) {
        try {
          req = JSON.parse(raw.toString('utf8')) as typeof req;
        } catch {
          throw errors.badData('body must be JSON {"scrape"?: boolean, "selector"?: {…}}');
        }
        if (!req || typeof req !== 'object') throw errors.badData('body must be a JSON object');
      }
      if (req.scrape !== undefined && typeof req.scrape !== 'boolean') throw errors.badData('"scrape" must be a boolean');
      if (req.selector !== undefined && (typeof req.selector !== 'object' || req.selector === null)) throw errors.badData('"selector" must be an object');
      if (req.scrape) await deps.scrape(req.selector as Record<string, unknown> | undefined);
      await f.flush();
      ctx.body = { status: 'success', data: f.stats() };
    });

    router.get('/api/v1/forward', (ctx) => {
      const f = deps.forwarder?.();
      ctx.body = { status: 'success', data: f ? { enabled: true, ...f.stats() } : { enabled: false } };
    });
  };
}
