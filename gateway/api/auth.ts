import { timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { AuthConfig } from '../config/types.ts';
import { errors } from '../errors.ts';

const OPEN_WRITES = new Set<string>(); // every write endpoint needs the token when auth is on
/** POSTs that only read (the body is a query argument, e.g. a diff): treated as reads. */
const READ_POSTS = new Set<string>(['/api/v1/diff-coverage']);

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!.trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Bearer-token auth (contract section 2): with `server.auth` set, every write
 * (any method but GET/HEAD/OPTIONS) needs `Authorization: Bearer <token>`;
 * reads too when `protect_reads`. Health endpoints stay open for probes.
 */
export function authMiddleware(auth: () => AuthConfig | undefined) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const cfg = auth();
    if (cfg?.bearer_token) {
      const isRead = ctx.method === 'GET' || ctx.method === 'HEAD' || ctx.method === 'OPTIONS' || (ctx.method === 'POST' && READ_POSTS.has(ctx.path));
      const isProbe = ctx.path === '/-/healthy' || ctx.path === '/-/ready';
      const needs = isRead ? cfg.protect_reads && !isProbe : !OPEN_WRITES.has(ctx.path);
      if (needs && !tokenMatches(ctx.get('Authorization'), cfg.bearer_token)) {
        ctx.set('WWW-Authenticate', 'Bearer realm="covgate"');
        throw errors.unauthorized(`${ctx.method} ${ctx.path} requires "Authorization: Bearer <token>" (server.auth)`);
      }
    }
    await next();
  };
}
