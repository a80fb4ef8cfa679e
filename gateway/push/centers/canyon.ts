import { createHash } from 'node:crypto';
import { errors } from '../../errors.ts';
import type { CoverageMapData } from '../../model/index.ts';
import { pushErrors } from '../errors.ts';
import { exchange } from '../send.ts';
import { COMMIT_RE, gitMeta } from './git.ts';
import type { Center } from './types.ts';

/**
 * kind canyon: Canyon's collect API (github.com/canyon-project/canyon,
 * app/src/api/routes/collect.ts with its schemas in
 * app/src/shared/schemas/coverage.ts, mounted under /api/coverage):
 * 1. `POST {url}/api/coverage/map/init` `{sha, provider, repoID,
 *    instrumentCwd, buildTarget, build, coverage: {path: {statementMap,
 *    fnMap, branchMap, …}}}` registers the build's structure (an upsert);
 * 2. `POST {url}/api/coverage/client` `{coverage: {path: {…, s, f, b,
 *    buildHash}}, scene}`; Canyon takes only entries carrying `buildHash`,
 *    drops files whose statements are all 0 (400 when none is left), answers
 *    502 when map/init was not called for that buildHash, and ignores a
 *    byte-identical repeat (idempotent by a hash of the payload), so a
 *    retry or a restart never counts a session twice.
 * `buildHash` is computed as Canyon does (calculateBuildHash: sha1 of the
 * key-sorted JSON of {sha, provider, repoID, instrumentCwd, buildTarget}).
 * The scene is the session id and its flag labels, so Canyon keeps each
 * session apart. provider is `git_service`, repoID the session label
 * `repo_id` or `slug:`; instrumentCwd the `strip_prefix` (the build's cwd)
 * or, without it, the directory all covered files share.
 */

/** Canyon's stableStringify (app/src/api/lib/collect/helpers.ts): JSON with keys sorted at every level. */
function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  return `{${Object.keys(v)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`)
    .join(',')}}`;
}

/** Canyon's generateObjectSignature. */
export const canyonSignature = (v: unknown): string => createHash('sha1').update(stableStringify(v)).digest('hex');

function commonDir(paths: string[]): string {
  if (paths.length === 0) return '/';
  const parts = paths.map((p) => p.split('/').slice(0, -1));
  const first = parts[0]!;
  let n = first.length;
  for (const p of parts) {
    let i = 0;
    while (i < n && p[i] === first[i]) i++;
    n = i;
  }
  return first.slice(0, n).join('/') || '/';
}

export const canyonCenter: Center = {
  prepare(job, up) {
    const where = `upstream ${JSON.stringify(up.name)} (kind canyon)`;
    const git = gitMeta(job);
    if (git.commit === undefined || !COMMIT_RE.test(git.commit) || git.commit.length !== 40) {
      throw errors.badData(`${where} needs the commit as a 40-hex SHA: set the session label "commit" (or "build.commit" in the exporters' envelope)`);
    }
    const repoID = job.labels.repo_id ?? up.slug ?? git.slug;
    if (!repoID) throw errors.badData(`${where} needs the repository: set slug: in the upstream or the session label "repo_id"`);
    const paths = Object.keys(job.coverage);
    const instrumentCwd = up.strip_prefix?.replace(/\/+$/, '') ?? commonDir(paths);
    const buildTarget = job.labels.build_target ?? '';
    const sha = git.commit.toLowerCase();
    const provider = up.git_service;
    const buildHash = canyonSignature({ sha, provider, repoID, instrumentCwd, buildTarget });
    const mapCoverage: CoverageMapData = {};
    const clientCoverage: Record<string, unknown> = {};
    for (const path of paths.sort()) {
      const fc = job.coverage[path]!;
      mapCoverage[path] = { ...fc, path };
      // Canyon drops files none of whose statements ran; sending them would only make it answer 400.
      if (Object.values(fc.s).some((n) => n > 0)) clientCoverage[path] = { path, s: fc.s, f: fc.f, b: fc.b, buildHash };
    }
    const scene: Record<string, string> = { session: job.sessionId };
    for (const l of up.flag_labels) if (job.labels[l] !== undefined) scene[l] = job.labels[l]!;
    const body = {
      init: { sha, provider, repoID, instrumentCwd, buildTarget, ...(job.build ? { build: job.build } : {}), coverage: mapCoverage },
      client: Object.keys(clientCoverage).length > 0 ? { coverage: clientCoverage, scene } : null,
    };
    return { contentType: 'application/json', body: JSON.stringify(body), bodyEncoding: 'utf8', query: [], headers: {}, meta: { buildHash } };
  },

  async deliver(ctx) {
    const { upstream: up, request } = ctx;
    const base = `${up.url.replace(/\/+$/, '')}/api/coverage`;
    const headers: Record<string, string> = { ...up.headers, 'Content-Type': 'application/json' };
    if (up.token !== undefined) headers.Authorization = `Bearer ${up.token}`;
    const { init, client } = JSON.parse(request.body) as { init: { coverage: object }; client: unknown };
    const buildHash = String(request.meta?.buildHash ?? '');
    if (Object.keys(init.coverage).length === 0) return { status: 0, answer: { buildHash, note: 'the session covered no file: nothing to send' } };
    await exchange(ctx.http, up, { method: 'POST', url: `${base}/map/init`, headers, body: Buffer.from(JSON.stringify(init)), step: 'map/init' }, ctx.signal, ctx.now);
    if (client === null) return { status: 200, answer: { buildHash, note: 'no statement ran in the session: map only' } };
    const res = await exchange(ctx.http, up, { method: 'POST', url: `${base}/client`, headers, body: Buffer.from(JSON.stringify(client)), step: 'client' }, ctx.signal, ctx.now);
    let answer: { success?: unknown; sceneKey?: unknown; idempotent?: unknown; message?: unknown } = {};
    try {
      answer = JSON.parse(res.text) as typeof answer;
    } catch {
      throw pushErrors.rejected(`client: answer is not JSON: ${res.text.slice(0, 200)}`, { status: res.status });
    }
    if (answer.success !== true) throw pushErrors.rejected(`client: ${String(answer.message ?? 'success is not true')}`, { status: res.status });
    const out: Record<string, string> = { buildHash };
    if (typeof answer.sceneKey === 'string') out.sceneKey = answer.sceneKey;
    if (answer.idempotent === true) out.idempotent = 'true';
    return { status: res.status, answer: out };
  },
};
