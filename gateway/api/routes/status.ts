import type { Router } from '@koa/router';
import { errors } from '../../errors.ts';
import type { ApiContext } from '../app.ts';

export interface StatusDeps extends ApiContext {
  /** Re-reads gateway.yaml; rejects with COVGATE_BAD_CONFIG and leaves the running config untouched. */
  reload(): Promise<void>;
}

/** /-/healthy, /-/ready, /-/reload (Prometheus' management endpoints). */
export function statusRoutes(deps: StatusDeps) {
  return (router: Router) => {
    router.get('/-/healthy', (ctx) => {
      ctx.type = 'text/plain';
      ctx.body = 'covgate is Healthy.\n';
    });
    router.get('/-/ready', (ctx) => {
      if (!deps.isReady()) throw errors.unavailable('covgate is not ready: the store is not open or the config is not loaded yet');
      const reason = deps.notReadyReason?.();
      if (reason) throw errors.unavailable(`covgate is not ready: ${reason}`);
      ctx.type = 'text/plain';
      ctx.body = 'covgate is Ready.\n';
    });
    router.post('/-/reload', async (ctx) => {
      await deps.reload();
      ctx.body = { status: 'success', data: { reloaded: true } };
    });
    router.get('/api/v1/status/buildinfo', (ctx) => {
      ctx.body = { status: 'success', data: { version: deps.version } };
    });
  };
}
