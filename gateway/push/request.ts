import { gzipSync } from 'node:zlib';
import type { UpstreamConfig } from '../config/types.ts';
import { encodeCoverage } from '../formats/index.ts';
import type { PushJob, PushRequest } from './types.ts';
import type { Totals } from '../model/index.ts';

/** Escapes what a header value cannot carry (non-ASCII, controls) as JSON \u escapes, so the value stays valid JSON. */
function headerJson(value: unknown): string {
  return JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A plain string as a header value: as is when printable ASCII, else percent-encoded. */
function headerText(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

/**
 * Query of a `covgate` push: job, session, then the session's labels (sorted),
 * the shape of the receiving gateway's `POST /api/v1/coverage?job=&<labels>`.
 * `job` is the session's `job` label, else the one already in the url, else
 * "covgate"; `session` is always the session id.
 */
function covgateQuery(job: PushJob, url: string): Array<[string, string]> {
  const inUrl = new URL(url).searchParams;
  const query: Array<[string, string]> = [];
  const jobName = job.labels.job ?? inUrl.get('job') ?? 'covgate';
  if (job.labels.job !== undefined || !inUrl.has('job')) query.push(['job', jobName]);
  query.push(['session', job.sessionId]);
  for (const name of Object.keys(job.labels).sort()) {
    if (name === 'job' || name === 'session') continue;
    query.push([name, job.labels[name]!]);
  }
  return query;
}

/**
 * Encodes the request for one upstream, once, at enqueue time. Bodies:
 * - `istanbul`: the Istanbul coverage map alone (`coverage-final.json` shape),
 *   so any Istanbul consumer (nyc, istanbul-lib-coverage, coverage centers that
 *   take coverage-final.json) reads it unchanged; session, labels, build and
 *   summary travel in the `X-Covgate-*` headers, which every format carries.
 * - `lcov`, `cobertura`: the report text (cobertura's timestamp is `now`).
 * - `covgate`: the envelope `{format:"istanbul", counters:"cumulative",
 *   instance:<session id>, build, data}` with the labels in the query, for
 *   another gateway's push ingest (gateways chain; the session id as instance
 *   makes a re-send replace rather than add).
 * gzip when `upstream.gzip`.
 */
const pctOrNull = (t: Totals): number | null => (t.available === false ? null : t.pct);

export function buildPushRequest(job: PushJob, upstream: UpstreamConfig, now: number): PushRequest {
  const encoded =
    upstream.format === 'covgate'
      ? encodeCoverage(job.coverage, 'covgate', { meta: { instance: job.sessionId, ...(job.build ? { build: job.build } : {}) } })
      : encodeCoverage(job.coverage, upstream.format, { timestamp: now });
  const s = job.summary;
  const headers: Record<string, string> = {
    'X-Covgate-Session': headerText(job.sessionId),
    'X-Covgate-Labels': headerJson(job.labels),
    'X-Covgate-Build': headerJson(job.build ?? {}),
    // A kind the formats do not have (available: false) is null, not a made-up 0 or 100.
    'X-Covgate-Summary': headerJson({
      lines: pctOrNull(s.lines),
      statements: pctOrNull(s.statements),
      functions: pctOrNull(s.functions),
      branches: pctOrNull(s.branches),
      semantics: s.semantics ?? 'istanbul',
    }),
  };
  const query = upstream.format === 'covgate' ? covgateQuery(job, upstream.url) : [];
  if (upstream.gzip) {
    return { contentType: encoded.contentType, contentEncoding: 'gzip', body: gzipSync(encoded.body).toString('base64'), bodyEncoding: 'base64', query, headers };
  }
  return { contentType: encoded.contentType, body: encoded.body, bodyEncoding: 'utf8', query, headers };
}

/** The upstream's url with the record's query parameters appended. */
export function requestUrl(upstreamUrl: string, query: Array<[string, string]>): string {
  if (query.length === 0) return upstreamUrl;
  const u = new URL(upstreamUrl);
  for (const [k, v] of query) u.searchParams.append(k, v);
  return u.toString();
}
