import { deflateSync as zlibSync } from 'node:zlib'; // Python's zlib.compress: the zlib format, not raw deflate or gzip
import { errors } from '../../errors.ts';
import { CODECOV_SLUG_RE } from '../../config/schema.ts';
import { coverageLines } from '../../formats/encode/lines.ts';
import { encodeCodecovJson } from '../../formats/encode/codecov.ts';
import { pushErrors } from '../errors.ts';
import { exchange } from '../send.ts';
import { COMMIT_RE, gitMeta } from './git.ts';
import type { Center } from './types.ts';
import { isCovgateError } from '../../errors.ts';

/**
 * kind codecov: the upload protocol of codecov-cli (github.com/codecov/codecov-cli):
 * 1. create commit: `POST {url}/upload/{service}/{slug}/commits` with
 *    `{branch, cli_args, commitid, parent_commit_id, pullid, version}`
 *    (codecov_cli/services/commit/__init__.py, send_commit_data);
 * 2. create report: `POST …/commits/{sha}/reports` with `{cli_args, code, version}`
 *    (codecov_cli/services/report/__init__.py, send_create_report_request);
 * 3. create upload: `POST …/commits/{sha}/reports/{code}/uploads` with
 *    `{ci_service, ci_url, cli_args, env, flags, job_code, name, version,
 *    file_not_found}`; the answer's `raw_upload_location` is a presigned
 *    storage url and `url` the report page
 *    (codecov_cli/services/upload/upload_sender.py, send_upload_data);
 * 4. `PUT raw_upload_location` with the reports payload `{report_fixes,
 *    network_files, coverage_files: [{filename, format: "base64+compressed",
 *    data: base64(zlib(file)), labels}], metadata}` (upload_sender.py,
 *    _generate_payload / _get_format_info), no Authorization header.
 * Steps 1-3 send `Authorization: token <token>` (helpers/request.py,
 * get_token_header) and the slug encoded as helpers/encoder.py encode_slug
 * does (owner:::subgroup::::repo). The coverage file is Codecov's custom
 * coverage JSON. Commit and report creation are get-or-create on Codecov;
 * the upload is not, so its storage url is checkpointed before the PUT and a
 * retry or a restart PUTs to the same upload instead of creating another.
 */

/** codecov-cli helpers/encoder.py encode_slug. */
export function encodeSlug(slug: string): string {
  const cut = slug.lastIndexOf('/');
  return `${slug.slice(0, cut).split('/').join(':::')}::::${slug.slice(cut + 1)}`;
}

/** Codecov's flag names (docs.codecov.com/docs/flags: "must match ^[\w\.\-]{1,45}$"). */
const FLAG_RE = /^[\w.-]{1,45}$/;
/** The CLI version we speak (codecov-cli 10.x payload shapes). */
const CLI_VERSION = '10.4.0';

interface CodecovMeta {
  commit: string;
  branch: string | null;
  slug: string;
  flags: string[];
  build: string | null;
  buildUrl: string | null;
  pr: string | null;
  name: string;
}

export const codecovCenter: Center = {
  prepare(job, up) {
    const git = gitMeta(job);
    const where = `upstream ${JSON.stringify(up.name)} (kind codecov)`;
    if (git.commit === undefined) throw errors.badData(`${where} needs the commit: set the session label "commit" (or "build.commit" in the exporters' envelope)`);
    if (!COMMIT_RE.test(git.commit)) throw errors.badData(`${where}: commit ${JSON.stringify(git.commit)} is not a full git SHA (40 hex digits)`);
    const slug = up.slug ?? git.slug;
    if (slug === undefined) throw errors.badData(`${where} needs the repository: set slug: in the upstream or the session label "slug" (owner/repo)`);
    if (!CODECOV_SLUG_RE.test(slug)) throw errors.badData(`${where}: slug ${JSON.stringify(slug)} is not owner/repo`);
    const flags: string[] = [];
    for (const l of up.flag_labels) {
      const v = job.labels[l];
      if (v === undefined || v === '') continue;
      if (!FLAG_RE.test(v)) throw errors.badData(`${where}: label ${l}=${JSON.stringify(v)} is not a valid Codecov flag (letters, digits, _ . -, at most 45)`);
      if (!flags.includes(v)) flags.push(v);
    }
    const files = coverageLines(job.coverage, up.strip_prefix);
    const file = Buffer.from(encodeCodecovJson(files));
    const payload = {
      report_fixes: { format: 'legacy', value: {} },
      network_files: files.map((f) => f.path),
      coverage_files: [{ filename: `covgate-${job.sessionId}.json`, format: 'base64+compressed', data: zlibSync(file).toString('base64'), labels: '' }],
      metadata: {},
    };
    const meta: CodecovMeta = {
      commit: git.commit.toLowerCase(),
      branch: git.branch ?? null,
      slug,
      flags,
      build: git.build ?? null,
      buildUrl: git.buildUrl ?? null,
      pr: git.pr ?? null,
      name: job.sessionId,
    };
    return { contentType: 'application/json', body: JSON.stringify(payload), bodyEncoding: 'utf8', query: [], headers: {}, meta: { ...meta } };
  },

  async deliver(ctx) {
    const { upstream: up, request } = ctx;
    const m = request.meta as unknown as CodecovMeta;
    const base = `${up.url.replace(/\/+$/, '')}/upload/${encodeURIComponent(up.git_service)}/${encodeSlug(m.slug)}`;
    const headers: Record<string, string> = { ...up.headers, 'Content-Type': 'application/json' };
    if (up.token !== undefined) headers.Authorization = `token ${up.token}`;
    const post = (step: string, url: string, body: unknown) =>
      exchange(ctx.http, up, { method: 'POST', url, headers, body: Buffer.from(JSON.stringify(body)), step }, ctx.signal, ctx.now);
    const progress = { ...ctx.progress };
    const commitUrl = `${base}/commits/${m.commit}`;
    if (!progress.put_url) {
      await post('create commit', `${base}/commits`, { branch: m.branch, cli_args: null, commitid: m.commit, parent_commit_id: null, pullid: m.pr, version: CLI_VERSION });
      await post('create report', `${commitUrl}/reports`, { cli_args: null, code: up.report_code, version: CLI_VERSION });
      const res = await post('create upload', `${commitUrl}/reports/${encodeURIComponent(up.report_code)}/uploads`, {
        ci_service: 'covgate',
        ci_url: m.buildUrl,
        cli_args: null,
        env: {},
        flags: m.flags,
        job_code: m.build,
        name: m.name,
        version: CLI_VERSION,
        file_not_found: false,
        report_payload_bytes: Buffer.byteLength(request.body),
      });
      let answer: { raw_upload_location?: unknown; url?: unknown; external_id?: unknown };
      try {
        answer = JSON.parse(res.text) as typeof answer;
      } catch {
        throw pushErrors.rejected(`create upload: answer is not JSON: ${res.text.slice(0, 200)}`, { status: res.status });
      }
      if (typeof answer.raw_upload_location !== 'string') throw pushErrors.rejected('create upload: answer has no raw_upload_location', { status: res.status });
      progress.put_url = answer.raw_upload_location;
      if (typeof answer.url === 'string') progress.url = answer.url;
      if (typeof answer.external_id === 'string') progress.upload = answer.external_id;
      await ctx.checkpoint(progress);
    }
    try {
      // codecov-cli's send_put_request sends the bytes with no Content-Type and no token (the url is presigned).
      const res = await exchange(ctx.http, up, { method: 'PUT', url: progress.put_url!, headers: {}, body: Buffer.from(request.body), step: 'upload to storage' }, ctx.signal, ctx.now);
      const answer: Record<string, string> = { commit: m.commit };
      if (progress.url) answer.url = progress.url;
      if (progress.upload) answer.upload = progress.upload;
      if (m.flags.length > 0) answer.flags = m.flags.join(',');
      return { status: res.status, answer };
    } catch (err) {
      // A presigned url that storage refuses (expired) will not work later either: the next attempt creates a new upload.
      if (isCovgateError(err) && !err.retryable) {
        const { put_url: _p, url: _u, upload: _x, ...rest } = progress;
        await ctx.checkpoint(rest);
        throw pushErrors.unavailable(`${err.message} (a new upload is created on the next attempt)`, { ...(err.details as { status?: number }) });
      }
      throw err;
    }
  },
};
