import { createHash } from 'node:crypto';
import { startCenterServer, type Answer, type CenterRequest } from './center-http.ts';

/**
 * A fake Canyon collect API, following canyon-project/canyon
 * app/src/api/routes/collect.ts and app/src/shared/schemas/coverage.ts:
 * - `POST /api/coverage/map/init`: sha must be 40 hex, coverage non-empty,
 *   sha/provider/repoID/instrumentCwd required (400 `{success:false,
 *   message}`); upserts the build under buildHash = sha1(stable JSON of
 *   {sha, provider, repoID, instrumentCwd, buildTarget}).
 * - `POST /api/coverage/client`: keeps entries carrying buildHash, drops
 *   files whose `s` are all 0 (400 when none is left), 502 when the
 *   buildHash was never initialised, and answers a byte-identical repeat
 *   `idempotent: true` without counting it again.
 * The stable JSON and sha1 are written here from Canyon's helpers.ts
 * independently of the gateway's code.
 */
function stable(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${stable(o[k])}`).join(',')}}`;
}
const sig = (v: unknown) => createHash('sha1').update(stable(v)).digest('hex');

export interface CanyonReport {
  buildHash: string;
  sceneKey: string;
  scene: Record<string, unknown>;
  coverage: Record<string, { s: Record<string, number>; f: Record<string, number>; b: Record<string, number[]> }>;
}

export async function startCanyon() {
  const builds = new Map<string, { sha: string; provider: string; repoID: string; instrumentCwd: string; buildTarget: string; files: string[] }>();
  const reports: CanyonReport[] = [];
  const seen = new Set<string>();

  const fail = (status: number, message: string): Answer => ({ status, body: { success: false, message } });
  const json = (req: CenterRequest) => {
    if (!String(req.headers['content-type']).startsWith('application/json')) throw new Error('expected application/json');
    return JSON.parse(req.body.toString('utf8')) as Record<string, unknown>;
  };

  function init(req: CenterRequest): Answer {
    const b = json(req);
    if (b.sha !== undefined && !(typeof b.sha === 'string' && /^[a-f0-9]{40}$/i.test(b.sha))) return fail(400, 'sha: Invalid string: must match pattern /^[a-f0-9]{40}$/i');
    const cov = b.coverage as Record<string, Record<string, unknown>> | undefined;
    if (!cov || typeof cov !== 'object' || Object.keys(cov).length === 0) return fail(400, 'Coverage data is empty, cannot extract parameters.');
    const { sha, provider, repoID, instrumentCwd } = b as Record<string, string | undefined>;
    if (!sha || !provider || !repoID || !instrumentCwd) return fail(400, '缺少必要参数：sha, provider, repoID, instrumentCwd');
    const buildTarget = (b.buildTarget as string | undefined) ?? '';
    for (const [p, e] of Object.entries(cov)) if (!e.statementMap || !e.fnMap || !e.branchMap) return fail(400, `${p}: statementMap, fnMap and branchMap are required`);
    const buildHash = sig({ sha, provider, repoID, instrumentCwd, buildTarget });
    builds.set(buildHash, { sha, provider, repoID, instrumentCwd, buildTarget, files: Object.keys(cov) });
    return { status: 200, body: { success: true, message: 'ok', data: { buildHash } } };
  }

  function client(req: CenterRequest): Answer {
    const b = json(req);
    const payloadHash = sig(b);
    const cov = Object.fromEntries(Object.entries((b.coverage ?? {}) as Record<string, Record<string, unknown>>).filter(([, e]) => e && typeof e === 'object' && 'buildHash' in e));
    if (Object.keys(cov).length === 0) return fail(400, 'coverage 中无带 buildHash 的有效文件条目');
    const kept = Object.fromEntries(Object.entries(cov).filter(([, e]) => e.s && typeof e.s === 'object' && Object.values(e.s as object).some((n) => n !== 0 && n != null)));
    if (Object.keys(kept).length === 0) return fail(400, '过滤后无有效覆盖率文件');
    const buildHash = String(Object.values(kept)[0]!.buildHash);
    const build = builds.get(buildHash);
    if (!build) return fail(502, '找不到对应的 coverage 记录，请先通过 /api/coverage/map/init 接口上传覆盖率映射数据');
    for (const p of Object.keys(kept)) if (!build.files.includes(p)) return fail(400, `${p} was not in map/init`);
    const scene = (b.scene ?? {}) as Record<string, unknown>;
    const sceneKey = sig(scene);
    const base = { success: true, buildHash, sceneKey, coverageLength: Object.keys(kept).length, provider: build.provider, repoID: build.repoID, sha: build.sha, buildTarget: build.buildTarget, instrumentCwd: build.instrumentCwd };
    if (seen.has(payloadHash)) return { status: 200, body: { ...base, idempotent: true, message: '重复负载，已忽略（幂等）' } };
    seen.add(payloadHash);
    reports.push({ buildHash, sceneKey, scene, coverage: kept as CanyonReport['coverage'] });
    return { status: 200, body: base };
  }

  const server = await startCenterServer((req) => {
    if (req.method === 'POST' && req.url.pathname === '/api/coverage/map/init') return init(req);
    if (req.method === 'POST' && req.url.pathname === '/api/coverage/client') return client(req);
    return { status: 404, body: { success: false, message: 'Not Found' } };
  });
  return { ...server, builds, reports, buildHashOf: sig };
}
