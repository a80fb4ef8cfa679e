import Koa from 'koa';
import { Router } from '@koa/router';
import type { GatewayConfig } from '../config/types.ts';
import type { Logger } from '../log/index.ts';
import { errorMiddleware } from './errors.ts';
import { authMiddleware } from './auth.ts';

/** What every route module may use; the composition root fills it. */
export interface ApiContext {
  logger: Logger;
  version: string;
  config(): GatewayConfig;
  isReady(): boolean;
  /** Why the gateway is not ready right now (e.g. the store is not writable), shown by /-/ready's 503. */
  notReadyReason?(): string | undefined;
}

/** A route module registers its routes; it receives only the dependencies it asks for. */
export type RouteModule = (router: Router) => void;

/**
 * Builds the koa application: error middleware first (one error path), then
 * auth for write endpoints, then the routes of every module.
 */
export function createApiApp(ctx: ApiContext, modules: RouteModule[]): Koa {
  const app = new Koa();
  app.proxy = false;
  app.silent = true; // errors are handled (and logged) by errorMiddleware
  app.use(errorMiddleware(ctx.logger));
  app.use(authMiddleware(() => ctx.config().server.auth));
  const router = new Router();
  for (const register of modules) register(router);
  app.use(router.routes());
  // Not throwing: the router then sets `Allow`; the error middleware writes the JSON body
  // (405 also for methods the router does not know, which it would answer 501).
  app.use(router.allowedMethods({ throw: false }));
  return app;
}
