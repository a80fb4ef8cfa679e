import { createHash, randomUUID } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { startCenterServer, type Answer, type CenterRequest } from './center-http.ts';

/**
 * A fake Codecov built from codecov-cli's client source (the requests it
 * sends: codecov_cli/services/commit, report, upload/upload_sender.py) and
 * the answers codecov-api gives (upload/views: 201 with the created object,
 * get-or-create for commits and reports; DRF-style `{"detail": …}` errors):
 * - every API call needs `Authorization: token <token>`, `Content-Type:
 *   application/json`, a git service codecov-cli accepts and a slug encoded
 *   like encode_slug (owner:::subgroup::::repo) naming the expected repo;
 * - a report needs its commit, an upload needs its report (else 404);
 * - flags must match ^[\w.-]{1,45}$ (400 otherwise);
 * - the upload answer carries a presigned `raw_upload_location`; the PUT
 *   there needs the signature, no token, and a body in upload_sender's
 *   payload shape whose coverage file is base64+compressed Codecov custom
 *   coverage JSON, which is validated line by line.
 */
export interface CodecovUpload {
  id: string;
  commit: string;
  code: string;
  flags: string[];
  name: string | null;
  jobCode: string | null;
  /** Decoded custom-coverage JSON of the PUT body, once stored. */
  coverage?: Record<string, Record<string, number | string>>;
  puts: number;
}

const SERVICES = new Set(['github', 'gitlab', 'bitbucket', 'github_enterprise', 'gitlab_enterprise', 'bitbucket_server', 'github-actions']);
const ENCODED_SLUG_RE = /^[^:\s]+(:::[^:\s]+)*(::::[^:\s]+){1}$/;
const FLAG_RE = /^[\w.-]{1,45}$/;

function decodeSlug(s: string): string {
  const [owner, repo] = s.split('::::', 2) as [string, string];
  return `${owner.split(':::').join('/')}/${repo}`;
}

/** Codecov's custom coverage format: {"coverage": {path: {line: hits | "c/t" | null}}}. Throws what is wrong. */
export function validateCodecovCustomCoverage(doc: unknown): Record<string, Record<string, number | string>> {
  if (!doc || typeof doc !== 'object' || !('coverage' in doc)) throw new Error('custom coverage: no "coverage" key');
  const cov = (doc as { coverage: unknown }).coverage;
  if (!cov || typeof cov !== 'object' || Array.isArray(cov)) throw new Error('custom coverage: "coverage" must be an object');
  for (const [path, lines] of Object.entries(cov)) {
    if (!lines || typeof lines !== 'object' || Array.isArray(lines)) throw new Error(`custom coverage: ${path}: lines must be an object`);
    for (const [line, v] of Object.entries(lines as Record<string, unknown>)) {
      if (!/^[1-9]\d*$/.test(line)) throw new Error(`custom coverage: ${path}: line "${line}" is not a positive integer`);
      const ok = (typeof v === 'number' && Number.isInteger(v) && v >= 0) || (typeof v === 'string' && /^\d+\/\d+$/.test(v) && Number(v.split('/')[0]) <= Number(v.split('/')[1]));
      if (!ok) throw new Error(`custom coverage: ${path}:${line}: ${JSON.stringify(v)} is neither hits nor "covered/total"`);
    }
  }
  return cov as Record<string, Record<string, number | string>>;
}

export async function startCodecov(opts: { token: string; slug: string }) {
  const commits = new Map<string, { branch: unknown }>();
  const reports = new Set<string>();
  const uploads: CodecovUpload[] = [];
  const signatures = new Map<string, string>();
  let failPuts = 0;
  let base = '';

  const detail = (status: number, d: string): Answer => ({ status, body: { detail: d } });

  function json(req: CenterRequest): Record<string, unknown> {
    if (!String(req.headers['content-type']).startsWith('application/json')) throw new Error('Content-Type must be application/json');
    const v = JSON.parse(req.body.toString('utf8')) as unknown;
    if (!v || typeof v !== 'object') throw new Error('body must be a JSON object');
    return v as Record<string, unknown>;
  }

  function put(req: CenterRequest): Answer {
    const id = req.url.pathname.split('/').pop()!;
    const up = uploads.find((u) => u.id === id);
    if (!up || signatures.get(id) !== req.url.searchParams.get('X-Amz-Signature')) return { status: 403, body: '<Error><Code>SignatureDoesNotMatch</Code></Error>' };
    if (req.headers.authorization) return { status: 400, body: '<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>' };
    if (failPuts > 0) {
      failPuts--;
      return { status: 503, body: '<Error><Code>SlowDown</Code></Error>' };
    }
    const payload = JSON.parse(req.body.toString('utf8')) as { coverage_files?: Array<{ filename: string; format: string; data: string; labels: string }>; report_fixes?: unknown; network_files?: unknown };
    if (!Array.isArray(payload.coverage_files) || payload.coverage_files.length !== 1) throw new Error('payload: expected one coverage file');
    if (!payload.report_fixes || !Array.isArray(payload.network_files)) throw new Error('payload: report_fixes and network_files are required');
    const f = payload.coverage_files[0]!;
    if (f.format !== 'base64+compressed') throw new Error(`payload: format ${f.format}`);
    up.coverage = validateCodecovCustomCoverage(JSON.parse(inflateSync(Buffer.from(f.data, 'base64')).toString('utf8')));
    up.puts++;
    return { status: 200, body: '' };
  }

  const server = await startCenterServer((req) => {
    if (req.method === 'PUT' && req.url.pathname.startsWith('/storage/')) return put(req);
    const m = /^\/upload\/([^/]+)\/([^/]+)\/commits(?:\/([^/]+)\/reports(?:\/([^/]+)\/uploads)?)?$/.exec(req.url.pathname);
    if (!m || req.method !== 'POST') return detail(404, 'Not found.');
    const [, service, slug, sha, code] = m as unknown as [string, string, string, string | undefined, string | undefined];
    if (req.headers.authorization !== `token ${opts.token}`) return detail(401, 'Not valid tokenless upload');
    if (!SERVICES.has(service)) return detail(404, `Service not found: ${service}`);
    if (!ENCODED_SLUG_RE.test(slug) || decodeSlug(slug) !== opts.slug) return detail(404, 'Repository not found');
    const body = json(req);
    if (sha === undefined) {
      const id = body.commitid;
      if (typeof id !== 'string' || !/^[0-9a-f]{40}$/.test(id)) return { status: 400, body: { commitid: ['This field is required.'] } };
      if (commits.has(id)) return { status: 200, body: { commitid: id, branch: commits.get(id)!.branch } };
      commits.set(id, { branch: body.branch ?? null });
      return { status: 201, body: { commitid: id, parent_commit_id: body.parent_commit_id ?? null, pullid: body.pullid ?? null, branch: body.branch ?? null, repository: { name: opts.slug.split('/').pop() } } };
    }
    if (!commits.has(sha)) return detail(404, 'No Commit matches the given query.');
    if (code === undefined) {
      if (typeof body.code !== 'string') return { status: 400, body: { code: ['This field is required.'] } };
      const key = `${sha}/${body.code}`;
      const created = !reports.has(key);
      reports.add(key);
      return { status: created ? 201 : 200, body: { external_id: createHash('sha1').update(key).digest('hex'), created_at: new Date().toISOString(), code: body.code } };
    }
    if (!reports.has(`${sha}/${code}`)) return detail(404, 'No Report matches the given query.');
    const flags = body.flags ?? [];
    if (!Array.isArray(flags) || flags.some((f) => typeof f !== 'string' || !FLAG_RE.test(f))) return { status: 400, body: { flags: ['Flags must match ^[\\w\\.\\-]{1,45}$'] } };
    const id = randomUUID();
    const sig = createHash('sha256').update(id).digest('hex');
    signatures.set(id, sig);
    uploads.push({ id, commit: sha, code, flags: flags as string[], name: (body.name as string) ?? null, jobCode: (body.job_code as string) ?? null, puts: 0 });
    return {
      status: 201,
      body: {
        external_id: id,
        created_at: new Date().toISOString(),
        raw_upload_location: `${base}/storage/v4/raw/${id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=${sig}`,
        url: `${base}/github/${opts.slug}/commit/${sha}`,
        flags,
        state: 'started',
      },
    };
  });
  base = server.url;
  return {
    ...server,
    uploads,
    commits,
    /** The next n storage PUTs answer 503 SlowDown. */
    failPuts(n: number) {
      failPuts = n;
    },
  };
}
