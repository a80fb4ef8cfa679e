import type { Router } from '@koa/router';
import type { Context } from 'koa';
import ipaddr from 'ipaddr.js';
import { formatDuration } from '../config/duration.ts';
import type { RegistrationConfig } from '../config/types.ts';
import { errors } from '../errors.ts';
import { readBody, readJsonObject } from '../api/body.ts';
import type { Registry } from './registry.ts';
import { parseBody, registrationBodySchema } from '../api/schemas.ts';

export interface RegistryRoutesDeps {
  registry: Registry;
  config: () => RegistrationConfig;
  /**
   * A registration's `build` ({commit, diff, diff_base}): the diff the new
   * build brings for carrying coverage across builds. Throws COVGATE_BAD_DATA
   * (nothing registered) when the diff is not one.
   */
  onBuild?: (job: string, build: Record<string, string>) => Promise<void>;
}

/** Where goc v1 agents serve their profile (they are scraped as `format: gocover`, decided by the job's scrape config or sniffed). */
export const GOC_COVERAGE_PATH = '/v1/cover/profile';
const BODY_LIMIT = 64 * 1024;
/** A registration may bring its build's diff (`build.diff`): room for a large change. */
const REGISTRATION_BODY_LIMIT = 16 * 1024 * 1024;

/**
 * Self-registration endpoints (contract section 2):
 * - `POST /api/v1/targets` `{"job","url","labels","ttl"}` → 201 on a new
 *   lease, 200 on a renewal; `id` and `expiresAt` (RFC 3339) both at the top
 *   level (the contract's short form) and under `data` (the API's shape).
 * - `DELETE /api/v1/targets/:id` → 200 once the final scrape ran and the
 *   lease is gone; 404 for an unknown id.
 * - `POST /v1/cover/register?name=&address=` → the goc v1 agent's call
 *   (`goc build --center=<covgate>`), answered as a goc server does:
 *   200 `{"result":"success"}`. The agent is registered as job `name`
 *   (label `service=name`), scraped at `/v1/cover/profile`. goc agents
 *   register once at start and never renew, so their lease lasts
 *   `registration.max_ttl` unless `ttl=` is given.
 *
 * Refusals are CovgateErrors (403 disabled or outside the allowlist, 400
 * naming the bad field), rendered by the API's error middleware.
 */
export function registryRoutes(deps: RegistryRoutesDeps) {
  return (router: Router): void => {
    router.post('/api/v1/targets', async (ctx) => {
      refuseWhenDisabled(deps.config());
      const body = parseBody(registrationBodySchema, await readJsonObject(ctx, REGISTRATION_BODY_LIMIT), 'registration');
      // The build's diff is checked and kept before the registration: a bad one registers nothing.
      if (body.build && deps.onBuild && typeof body.job === 'string') await deps.onBuild(body.job, body.build);
      const r = await deps.registry.register({ job: body.job, url: body.url, labels: body.labels, ttl: body.ttl });
      const expiresAt = new Date(r.expiresAt).toISOString();
      ctx.status = r.created ? 201 : 200;
      ctx.set('Location', `/api/v1/targets/${encodeURIComponent(r.id)}`);
      ctx.body = { id: r.id, expiresAt, status: 'success', data: { id: r.id, expiresAt, created: r.created } };
    });

    router.delete('/api/v1/targets/:id', async (ctx) => {
      const id = ctx.params.id ?? '';
      const lease = await deps.registry.deregister(id);
      ctx.status = 200;
      ctx.body = { status: 'success', data: { id: lease.id, job: lease.job, url: lease.url } };
    });

    router.post('/v1/cover/register', async (ctx) => {
      const cfg = deps.config();
      refuseWhenDisabled(cfg);
      const name = queryParam(ctx, 'name');
      const address = queryParam(ctx, 'address');
      const ttl = typeof ctx.query.ttl === 'string' && ctx.query.ttl !== '' ? ctx.query.ttl : formatDuration(cfg.max_ttl);
      // goc agents register once per process start: every call is a new process (a new lifetime), see Lease.generation.
      const r = await deps.registry.register({ job: name, url: gocTargetUrl(address, ctx), labels: { service: name }, ttl, newProcess: true });
      ctx.status = 200;
      ctx.body = { result: 'success', id: r.id, expiresAt: new Date(r.expiresAt).toISOString() };
    });

    // goc's `goc remove` (qiniu/goc pkg/cover/server.go removeServices): a ProfileParam
    // {"service":[...],"address":[...]} as JSON or form/query; both at once is refused,
    // neither removes every goc registration. Unknown names are skipped (goc binds it with force).
    router.post('/v1/cover/remove', async (ctx) => {
      const body: Record<string, unknown> = ctx.is('application/x-www-form-urlencoded')
        ? formList(new URLSearchParams((await readBody(ctx, BODY_LIMIT)).toString('utf8')))
        : await readJsonObject(ctx, BODY_LIMIT);
      const services = [...stringList(ctx.query.service, 'service'), ...stringList(body.service, 'service')];
      const addresses = [...stringList(ctx.query.address, 'address'), ...stringList(body.address, 'address')];
      if (services.length > 0 && addresses.length > 0) {
        throw errors.badData("use 'service' or 'address', not both (as goc: the combination is ambiguous)");
      }
      const origins = new Set(addresses.map((a) => gocOrigin(a, ctx)));
      const goc = deps.registry.find((l) => l.generation !== undefined);
      const chosen =
        services.length > 0 ? goc.filter((l) => services.includes(l.job)) : addresses.length > 0 ? goc.filter((l) => origins.has(new URL(l.url).origin)) : goc;
      const lines: string[] = [];
      for (const lease of chosen) {
        await deps.registry.deregister(lease.id); // after one final scrape, as every deregistration
        lines.push(`Register service ${new URL(lease.url).origin} removed from the center.`);
      }
      ctx.status = 200;
      ctx.type = 'text/plain';
      ctx.body = lines.join('');
    });
  };
}

function formList(params: URLSearchParams): Record<string, unknown> {
  return { service: params.getAll('service'), address: params.getAll('address') };
}

function stringList(v: unknown, name: string): string[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const x of list) if (typeof x !== 'string' || x.trim() === '') throw errors.badData(`${name} must be a string or a list of non-empty strings, got ${JSON.stringify(v)}`);
  return (list as string[]).map((x) => x.trim());
}

/** The origin (`http://host:port`) of a goc agent address, as registrations store it. */
function gocOrigin(address: string, ctx: Context): string {
  return new URL(gocTargetUrl(address, ctx)).origin;
}

function refuseWhenDisabled(cfg: RegistrationConfig): void {
  if (!cfg.enabled) throw errors.forbidden('self-registration is disabled on this gateway (registration.enabled: false)');
}

function queryParam(ctx: Context, name: string): string {
  const v = ctx.query[name];
  if (typeof v !== 'string' || v.trim() === '') throw errors.badData(`query parameter ${name} is required (POST /v1/cover/register?name=<service>&address=<http://ip:port>)`);
  return v.trim();
}

/**
 * A goc agent's `address` (`http://ip:port` or `ip:port`) as the URL to
 * scrape. Like a goc server: no path allowed, and an empty host means the
 * caller's own address.
 */
function gocTargetUrl(address: string, ctx: Context): string {
  const withScheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(address) ? address : `http://${address}`;
  const m = /^([^:]+:\/\/)([^/?#]*)(.*)$/s.exec(withScheme);
  if (!m) throw errors.badData(`address must be http://ip:port or ip:port, got ${JSON.stringify(address)}`);
  const [, scheme, hostPort, rest] = m as unknown as [string, string, string, string];
  if (rest !== '' && rest !== '/') throw errors.badData(`address must not have a path, got ${JSON.stringify(address)}`);
  let authority = hostPort;
  if (authority.startsWith(':')) authority = `${callerHost(ctx)}${authority}`;
  return `${scheme}${authority}${GOC_COVERAGE_PATH}`;
}

function callerHost(ctx: Context): string {
  const raw = ctx.request.ip;
  if (!ipaddr.isValid(raw)) throw errors.badData('address has no host and the caller address is unknown');
  const ip = ipaddr.process(raw);
  return ip.kind() === 'ipv6' ? `[${ip.toString()}]` : ip.toString();
}
