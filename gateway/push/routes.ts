import type { Router } from '@koa/router';
import { errors } from '../errors.ts';
import type { UpstreamConfig } from '../config/types.ts';
import type { CoverageMapData } from '../model/index.ts';
import { sonarReport } from './centers/index.ts';
import type { PushOutbox, PushRecord } from './types.ts';

export interface PushRoutesDeps {
  outbox: Pick<PushOutbox, 'list'>;
}

const STATES = ['pending', 'delivered', 'failed'];
/** What a non-http kind sends (its record's `format` is only the http setting, unused by it). */
const KIND_FORMAT: Record<string, string> = {
  codecov: 'codecov-json',
  coveralls: 'coveralls-json',
  sonarqube: 'sonarqube-generic-xml',
  canyon: 'istanbul',
};
const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** A record as the API shows it: no body, times in RFC 3339 (null when not set), lastError "" when none. */
export function pushView(r: PushRecord) {
  return {
    id: r.id,
    session: r.session,
    upstream: r.upstream,
    kind: r.kind ?? 'http',
    format: KIND_FORMAT[r.kind ?? 'http'] ?? r.format,
    status: r.status,
    attempts: r.attempts,
    lastError: r.lastError ?? '',
    lastStatus: r.lastStatus ?? null,
    createdAt: iso(r.createdAt),
    lastAttemptAt: iso(r.lastAttemptAt),
    deliveredAt: iso(r.deliveredAt),
    nextAttemptAt: r.status === 'pending' ? iso(r.nextAttemptAt) : null,
    /** What the center answered on delivery (Codecov's report url, the SonarQube report's path…); null before. */
    answer: r.answer ?? null,
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

export interface SonarqubeRoutesDeps {
  releaseCoverage(service: string, release: string): CoverageMapData | undefined;
  upstreams(): UpstreamConfig[];
}

/**
 * GET /api/v1/sonarqube/:service/:release.xml: SonarQube's generic test
 * coverage report of a release on a service (every finished session labelled
 * release=<release>), for the scanner's sonar.coverageReportPaths. Served
 * while a `kind: sonarqube` upstream is configured (its strip_prefix applies).
 */
export function sonarqubeRoutes(deps: SonarqubeRoutesDeps) {
  return (router: Router) => {
    router.get('/api/v1/sonarqube/:service/:file', (ctx) => {
      const up = deps.upstreams().find((u) => u.kind === 'sonarqube');
      if (!up) throw errors.notFound('no upstream of kind sonarqube is configured');
      const service = ctx.params.service!;
      const file = ctx.params.file!;
      if (!file.endsWith('.xml') || file.length === 4) throw errors.notFound(`expected /api/v1/sonarqube/<service>/<release>.xml, got ${JSON.stringify(file)}`);
      const release = file.slice(0, -4);
      const map = deps.releaseCoverage(service, release);
      if (!map) throw errors.notFound(`no finished session of release ${JSON.stringify(release)} covered service ${JSON.stringify(service)}`);
      ctx.type = 'application/xml';
      ctx.body = sonarReport(map, up.strip_prefix);
    });
  };
}
