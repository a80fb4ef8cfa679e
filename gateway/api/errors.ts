import type { Context, Next } from 'koa';
import { isCovgateError } from '../errors.ts';
import type { Logger } from '../log/index.ts';

/**
 * The one error path of the API: a CovgateError becomes the contract's JSON
 * (`{"status":"error","errorType","error"}`) with its status; anything else is
 * logged with its stack and answered as a 500 `internal` without details.
 */
export function errorMiddleware(logger: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { status: 'error', errorType: 'not_found', error: `no route for ${ctx.method} ${ctx.path}` };
      }
    } catch (err) {
      if (isCovgateError(err)) {
        ctx.status = err.status;
        ctx.body = { status: 'error', errorType: err.errorType, error: err.message, code: err.code };
        if (err.status >= 500) logger.warn({ err: err.message, code: err.code, path: ctx.path }, 'request failed');
        return;
      }
      const e = err as { status?: number; expose?: boolean; message?: string };
      if (typeof e.status === 'number' && e.status < 500 && e.expose) {
        ctx.status = e.status;
        ctx.body = { status: 'error', errorType: 'bad_data', error: e.message };
        return;
      }
      logger.error({ err, path: ctx.path, method: ctx.method }, 'unhandled error');
      ctx.status = 500;
      ctx.body = { status: 'error', errorType: 'internal', error: 'internal error (see the gateway log)' };
    }
  };
}
