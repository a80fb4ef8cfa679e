import type { Router } from '@koa/router';

export interface MetricsDeps {
  metrics: { render(): Promise<{ contentType: string; body: string }> };
}

/** GET /metrics: Prometheus exposition. */
export function metricsRoutes(deps: MetricsDeps) {
  return (router: Router) => {
    router.get('/metrics', async (ctx) => {
      const { contentType, body } = await deps.metrics.render();
      ctx.type = contentType;
      ctx.body = body;
    });
  };
}
