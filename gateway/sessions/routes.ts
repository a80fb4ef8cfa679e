import type { Router } from '@koa/router';
import { readJsonObject } from '../api/body.ts';
import { parseBody, sessionBodySchema } from '../api/schemas.ts';
import { parseSelector } from '../model/index.ts';
import type { Sessions } from './sessions.ts';

export interface SessionRoutesDeps {
  sessions: Sessions;
}

/** POST /test-started, POST /test-finished, GET /api/v1/sessions[/:id]. */
export function sessionRoutes(deps: SessionRoutesDeps) {
  return (router: Router) => {
    router.post('/test-started', async (ctx) => {
      const body = parseBody(sessionBodySchema, await readJsonObject(ctx), 'body');
      const { session, created } = await deps.sessions.start(body as never);
      ctx.status = created ? 201 : 200;
      ctx.body = { status: 'success', session: session.id, data: session };
    });

    router.post('/test-finished', async (ctx) => {
      const body = parseBody(sessionBodySchema, await readJsonObject(ctx), 'body');
      const wait = body.wait === true || body.wait === 'true' || ctx.query.wait === 'true';
      const { session } = await deps.sessions.finish({ ...(body as object), wait } as never);
      ctx.status = wait ? 200 : 202;
      ctx.body = { status: 'success', session: session.id, summary: session.summary, push: session.push, data: session };
    });

    router.get('/api/v1/sessions', (ctx) => {
      ctx.body = { status: 'success', data: { sessions: deps.sessions.list(parseSelector(ctx.query as Record<string, unknown>)) } };
    });

    router.get('/api/v1/sessions/:id', (ctx) => {
      ctx.body = { status: 'success', data: deps.sessions.get(ctx.params.id!) };
    });
  };
}
