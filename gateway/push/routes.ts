import type { Router } from '@koa/router';
import { errors } from '../errors.ts';
import type { PushOutbox, PushRecord } from './types.ts';

export interface PushRoutesDeps {
  outbox: Pick<PushOutbox, 'list'>;
}

const STATES = ['pending', 'delivered', 'failed'];
const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** A record as the API shows it: no body, times in RFC 3339 (null when not set), lastError "" when none. */
export function pushView(r: PushRecord) {
  return {
    id: r.id,
    session: r.session,
    upstream: r.upstream,
    format: r.format,
    status: r.status,
    attempts: r.attempts,
    lastError: r.lastError ?? '',
    lastStatus: r.lastStatus ?? null,
    createdAt: iso(r.createdAt),
    lastAttemptAt: iso(r.lastAttemptAt),
    deliveredAt: iso(r.deliveredAt),
    nextAttemptAt: r.status === 'pending' ? iso(r.nextAttemptAt) : null,
  };
}

function one(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw errors.badData(`${name} may be given once`);
  return String(v);
}

/** GET /api/v1/pushes?session=&status=: the push outbox, oldest first. */
export function pushRoutes(deps: PushRoutesDeps) {
  return (router: Router) => {
    router.get('/api/v1/pushes', (ctx) => {
      const session = one(ctx.query.session, 'session');
      const status = one(ctx.query.status, 'status');
      if (status !== undefined && !STATES.includes(status)) throw errors.badData(`status must be pending, delivered or failed, got ${JSON.stringify(status)}`);
      const pushes = deps.outbox.list({ ...(session !== undefined ? { sessionId: session } : {}), ...(status !== undefined ? { status } : {}) }).map(pushView);
      ctx.body = { status: 'success', data: { pushes } };
    });
  };
}
