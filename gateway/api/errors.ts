import type { Context, Next } from 'koa';
import { errors, isCovgateError } from '../errors.ts';
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
      } else if ((ctx.status === 405 || ctx.status === 501) && (ctx.body === undefined || ctx.body === null)) {
        // From the router's allowedMethods: the path exists, the method does not.
        const allow = ctx.response.get('Allow');
        const err = errors.methodNotAllowed(`method ${ctx.method} not allowed on ${ctx.path} (allowed: ${allow || 'none'})`);
        ctx.status = err.status;
        ctx.set('Allow', allow);
        ctx.body = { status: 'error', errorType: err.errorType, error: err.message, code: err.code };
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
      // A real bug: logged with its stack (pino serialises `err`), answered without details.
      logger.error({ err: err instanceof Error ? err : new Error(String(err)), path: ctx.path, method: ctx.method }, 'unhandled error');
      ctx.status = 500;
      ctx.body = { status: 'error', errorType: 'internal', error: 'internal error (see the gateway log)' };
    }
  };
}
