import { startCenterServer, type Answer, type CenterRequest } from './center-http.ts';

/**
 * A fake Coveralls (or Coveralls Enterprise) built from its API reference
 * (docs.coveralls.io/api-jobs-endpoint, /api-parallel-build-webhook):
 * - `POST /api/v1/jobs`: multipart/form-data whose `json_file` part is the
 *   job JSON; the repo_token must name the repository (422
 *   `{"message":"Couldn't find a repository matching this job.","error":true}`
 *   otherwise); every source file needs a name, a 32-hex source_digest,
 *   a coverage array of null or non-negative integers and branches as
 *   quadruples; a parallel job needs service_number. Answers
 *   `{"message":"Job ##<build>.<n>","url":…}`.
 * - `POST /webhook?repo_token=…` with `{"payload":{"build_num","status":"done"}}`
 *   closes the build (422 when no job of that build arrived).
 * Parsing is undici's (Request.formData), the platform's multipart parser.
 */
export interface CoverallsJob {
  id: number;
  build: string | undefined;
  serviceJobId: string;
  flag: string | undefined;
  parallel: boolean;
  git: { head?: { id?: string }; branch?: string } | undefined;
  sourceFiles: Array<{ name: string; source_digest: string; coverage: Array<number | null>; branches: number[] }>;
  /** Whether the build was already closed when this job arrived. */
  afterDone: boolean;
}

const unprocessable = (message: string): Answer => ({ status: 422, body: { message, error: true } });

export async function startCoveralls(opts: { repoToken: string }) {
  const jobs: CoverallsJob[] = [];
  const closed: Array<{ build: string; jobs: number }> = [];
  let base = '';

  async function postJob(req: CenterRequest): Promise<Answer> {
    const type = String(req.headers['content-type'] ?? '');
    if (!type.startsWith('multipart/form-data')) return unprocessable('expected multipart/form-data with json_file');
    const form = await new Request('http://fake/api/v1/jobs', { method: 'POST', headers: { 'content-type': type }, body: req.body }).formData();
    const file = form.get('json_file');
    if (!file || typeof file === 'string') return unprocessable('json_file is missing or not a file');
    const job = JSON.parse(await file.text()) as Record<string, unknown>;
    if (job.repo_token !== opts.repoToken) return unprocessable("Couldn't find a repository matching this job.");
    if (!Array.isArray(job.source_files)) return unprocessable('source_files is required');
    for (const f of job.source_files as Array<Record<string, unknown>>) {
      if (typeof f.name !== 'string' || !f.name) return unprocessable('source file without name');
      if (typeof f.source_digest !== 'string' || !/^[0-9a-f]{32}$/.test(f.source_digest)) return unprocessable(`${f.name}: source_digest must be an MD5 hex digest`);
      if (!Array.isArray(f.coverage) || f.coverage.some((c) => c !== null && !(Number.isInteger(c) && (c as number) >= 0))) return unprocessable(`${f.name}: coverage must be null or hit counts`);
      const br = (f.branches ?? []) as unknown[];
      if (!Array.isArray(br) || br.length % 4 !== 0 || br.some((v) => !Number.isInteger(v) || (v as number) < 0)) return unprocessable(`${f.name}: branches must be [line, block, branch, hits] quadruples`);
    }
    const parallel = job.parallel === true;
    const build = job.service_number === undefined ? undefined : String(job.service_number);
    if (parallel && build === undefined) return unprocessable('parallel jobs need service_number');
    const id = jobs.length + 1;
    jobs.push({
      id,
      build,
      serviceJobId: String(job.service_job_id ?? ''),
      flag: job.flag_name as string | undefined,
      parallel,
      git: job.git as CoverallsJob['git'],
      sourceFiles: job.source_files as CoverallsJob['sourceFiles'],
      afterDone: closed.some((c) => c.build === build),
    });
    const n = jobs.filter((j) => j.build === build).length;
    return { status: 200, body: { message: `Job ##${build ?? id}.${n}`, url: `${base}/jobs/${id}` } };
  }

  function webhook(req: CenterRequest): Answer {
    if (req.url.searchParams.get('repo_token') !== opts.repoToken) return unprocessable("Couldn't find a repository matching this job.");
    const body = JSON.parse(req.body.toString('utf8')) as { payload?: { build_num?: unknown; status?: unknown } };
    if (body.payload?.status !== 'done' || body.payload.build_num === undefined) return unprocessable('payload.build_num and payload.status "done" are required');
    const build = String(body.payload.build_num);
    const count = jobs.filter((j) => j.build === build).length;
    if (count === 0) return unprocessable(`No build matching CI build number ${build} found`);
    closed.push({ build, jobs: count });
    return { status: 200, body: { done: true, url: `${base}/builds/${build}`, jobs: count } };
  }

  const server = await startCenterServer(async (req) => {
    if (req.method === 'POST' && req.url.pathname === '/api/v1/jobs') return postJob(req);
    if (req.method === 'POST' && req.url.pathname === '/webhook') return webhook(req);
    return { status: 404, body: { message: 'not found', error: true } };
  });
  base = server.url;
  return { ...server, jobs, closed };
}
