import { createHash } from 'node:crypto';
import { errors } from '../../errors.ts';
import { coverageLines } from '../../formats/encode/lines.ts';
import type { CoverageMapData } from '../../model/index.ts';
import { pushErrors } from '../errors.ts';
import { exchange } from '../send.ts';
import { gitMeta } from './git.ts';
import type { Center } from './types.ts';

/**
 * kind coveralls: Coveralls' API (docs.coveralls.io/api-jobs-endpoint and
 * docs.coveralls.io/api-parallel-build-webhook; Coveralls Enterprise at
 * another base url):
 * - `POST {url}/api/v1/jobs`, multipart/form-data with the job as the file
 *   part `json_file` (the documented `curl -F json_file=@coverage.json`):
 *   `{repo_token, service_name, service_job_id, service_number, flag_name,
 *   parallel, git: {head: {id}, branch}, run_at, source_files: [{name,
 *   source_digest (MD5 of the source), coverage: [hits|null per line],
 *   branches: [line, block, branch, hits, …]}]}`; the answer is
 *   `{"message": "Job #…", "url": "…"}`.
 * - With `parallel: true`, a `/test-finished` carrying `done: true` also
 *   queues, after the job, `POST {url}/webhook?repo_token=…` with
 *   `{"payload": {"build_num": <service_number>, "status": "done"}}`
 *   (coverage-reporter src/coverage_reporter/api/webhook.cr sends the same
 *   payload), which closes the build; it runs on the same ordered worker, so
 *   every job queued before it has been delivered first.
 * The repo token is added at send time (never written to the outbox).
 * Coveralls has no idempotency key: a job whose answer was lost is sent
 * again; with the same service_job_id Coveralls replaces it in the build.
 */

interface CoverallsSource {
  name: string;
  source_digest: string;
  coverage: Array<number | null>;
  branches: number[];
}

function sourceFiles(map: CoverageMapData, stripPrefix: string | undefined, sourceOf: (path: string, data: unknown) => string | undefined, where: string): CoverallsSource[] {
  const out: CoverallsSource[] = [];
  for (const f of coverageLines(map, stripPrefix)) {
    const data = map[f.source];
    const text = sourceOf(f.source, data);
    if (text === undefined) throw errors.badData(`${where} needs the source of ${f.source} (Coveralls requires its MD5): add its directory to the job's sources:`);
    const lineCount = text.split(/\r?\n/).length;
    const coverage: Array<number | null> = new Array(lineCount).fill(null);
    // A line only a branch starts on has no statement count: null (not relevant), as lcov has no DA for it.
    for (const [line, hit] of f.lines) if (line <= lineCount && !hit.branchOnly) coverage[line - 1] = hit.hits;
    // branches: per istanbul branch (block) and path (branch): [line, block, branch, hits].
    const branches: number[] = [];
    for (const [id, b] of Object.entries(data?.branchMap ?? {})) {
      const line = b.line ?? b.loc?.start.line ?? b.locations?.[0]?.start.line;
      const counts = data?.b?.[id] ?? [];
      if (!line) continue;
      counts.forEach((hits, path) => branches.push(line, Number(id), path, hits));
    }
    out.push({ name: f.path, source_digest: createHash('md5').update(text).digest('hex'), coverage, branches });
  }
  return out;
}

export const coverallsCenter: Center = {
  prepare(job, up, now, ports) {
    const where = `upstream ${JSON.stringify(up.name)} (kind coveralls)`;
    const git = gitMeta(job);
    if (!ports.sourceOf) throw errors.internal(`${where}: no source reader wired`);
    if (up.parallel && git.build === undefined) throw errors.badData(`${where} is parallel and needs the build number: set the session label "build"`);
    const flag = up.flag_labels.map((l) => job.labels[l]).filter((v): v is string => v !== undefined && v !== '');
    const body = {
      service_name: up.service_name,
      service_job_id: job.sessionId,
      ...(git.build !== undefined ? { service_number: git.build } : {}),
      ...(flag.length > 0 ? { flag_name: flag.join('-') } : {}),
      parallel: up.parallel,
      ...(git.commit !== undefined ? { git: { head: { id: git.commit }, ...(git.branch !== undefined ? { branch: git.branch } : {}) } } : {}),
      run_at: new Date(now).toISOString(),
      source_files: sourceFiles(job.coverage, up.strip_prefix, ports.sourceOf, where),
    };
    const first = { contentType: 'application/json', body: JSON.stringify(body), bodyEncoding: 'utf8' as const, query: [], headers: {}, meta: { step: 'job' } };
    if (!(up.parallel && job.done)) return first;
    const done = { contentType: 'application/json', body: JSON.stringify({ payload: { build_num: git.build, status: 'done' } }), bodyEncoding: 'utf8' as const, query: [], headers: {}, meta: { step: 'done' } };
    return [first, done];
  },

  async deliver(ctx) {
    const { upstream: up, request } = ctx;
    const base = up.url.replace(/\/+$/, '');
    const token = up.token ?? '';
    let res;
    if (request.meta?.step === 'done') {
      const url = `${base}/webhook?repo_token=${encodeURIComponent(token)}`;
      res = await exchange(ctx.http, up, { method: 'POST', url, headers: { ...up.headers, 'Content-Type': 'application/json' }, body: Buffer.from(request.body), step: 'close parallel build' }, ctx.signal, ctx.now);
    } else {
      const job = { repo_token: token, ...(JSON.parse(request.body) as object) };
      const form = new FormData();
      form.append('json_file', new Blob([JSON.stringify(job)], { type: 'application/json' }), 'json_file');
      // Encoded by the platform's own multipart encoder (undici), boundary and all.
      const encoded = new Response(form);
      const body = Buffer.from(await encoded.arrayBuffer());
      const headers = { ...up.headers, 'Content-Type': encoded.headers.get('content-type')! };
      res = await exchange(ctx.http, up, { method: 'POST', url: `${base}/api/v1/jobs`, headers, body, step: 'create job' }, ctx.signal, ctx.now);
    }
    let answer: { url?: unknown; message?: unknown; error?: unknown } = {};
    try {
      answer = JSON.parse(res.text) as typeof answer;
    } catch {
      /* a 2xx without JSON still delivered */
    }
    if (answer.error === true) throw pushErrors.rejected(`coveralls: ${String(answer.message ?? 'error')}`, { status: res.status });
    const out: Record<string, string> = {};
    if (typeof answer.url === 'string') out.url = answer.url;
    if (typeof answer.message === 'string') out.message = answer.message;
    return { status: res.status, answer: out };
  },
};

