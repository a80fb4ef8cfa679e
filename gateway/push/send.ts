import { STATUS_CODES } from 'node:http';
import type { AxiosInstance } from 'axios';
import type { UpstreamConfig } from '../config/types.ts';
import { pushErrors } from './errors.ts';
import { parseRetryAfter } from './backoff.ts';
import { requestUrl } from './request.ts';
import type { PushRequest } from './types.ts';

const RETRYABLE_STATUS = (status: number) => status === 408 || status === 429 || status >= 500;

/** The start of a response body, on one line, for `lastError`. */
function snippet(body: unknown): string {
  const text = typeof body === 'string' ? body : body == null ? '' : Buffer.isBuffer(body) ? body.toString('utf8') : JSON.stringify(body);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

function headerValue(headers: unknown, name: string): string | undefined {
  const h = headers as { get?: (n: string) => unknown } & Record<string, unknown>;
  const v = typeof h?.get === 'function' ? h.get(name) : h?.[name];
  return v == null ? undefined : String(v);
}

/**
 * Request headers: the record's own (content type, `X-Covgate-*`), then the
 * upstream's configured `headers` (they may override those), then the two
 * that describe the bytes and their identity, which nothing overrides.
 */
function requestHeaders(request: PushRequest, upstream: UpstreamConfig, id: string): Record<string, string> {
  const out = new Map<string, [string, string]>();
  const set = (k: string, v: string) => out.set(k.toLowerCase(), [k, v]);
  set('Content-Type', request.contentType);
  for (const [k, v] of Object.entries(request.headers)) set(k, v);
  for (const [k, v] of Object.entries(upstream.headers ?? {})) set(k, v);
  out.delete('content-encoding');
  if (request.contentEncoding) set('Content-Encoding', request.contentEncoding);
  set('Idempotency-Key', id);
  return Object.fromEntries([...out.values()]);
}

/**
 * Sends one push attempt and classifies the answer. Resolves with the HTTP
 * status on 2xx. Otherwise throws: pushErrors.rejected (not retryable) for
 * 3xx/4xx other than 408/429; pushErrors.unavailable (retryable, with
 * `retryAfterMs` from `Retry-After`) for 408/429/5xx and network errors;
 * pushErrors.timeout when `upstream.timeout` passes first (the whole exchange,
 * not a socket idle time); pushErrors.aborted when `signal` aborts. Redirects
 * are not followed (a POST must not turn into a GET). Never blocks: the
 * request is asynchronous I/O and the body is already encoded.
 */
export async function sendPush(
  http: AxiosInstance,
  upstream: UpstreamConfig,
  id: string,
  request: PushRequest,
  signal: AbortSignal,
  now: () => number,
): Promise<number> {
  const timeout = upstream.timeout > 0 ? AbortSignal.timeout(upstream.timeout) : undefined;
  const body = Buffer.from(request.body, request.bodyEncoding);
  let res;
  try {
    res = await http.post<string>(requestUrl(upstream.url, request.query), body, {
      headers: requestHeaders(request, upstream, id),
      signal: timeout ? AbortSignal.any([signal, timeout]) : signal,
      responseType: 'text',
      transformResponse: [(d: unknown) => d],
      maxRedirects: 0,
      maxBodyLength: Infinity,
      maxContentLength: Infinity,
      validateStatus: () => true,
    });
  } catch (err) {
    if (signal.aborted) throw pushErrors.aborted(err);
    const e = err as { code?: string; message?: string };
    if (timeout?.aborted || e.code === 'ECONNABORTED' || e.code === 'ETIMEDOUT') {
      throw pushErrors.timeout(`no answer within ${upstream.timeout / 1000}s (timeout)`, err);
    }
    throw pushErrors.unavailable(`${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`, {}, err);
  }
  const status = res.status;
  if (status >= 200 && status < 300) return status;
  const text = snippet(res.data);
  const message = `upstream answered HTTP ${status}${STATUS_CODES[status] ? ` ${STATUS_CODES[status]}` : ''}${text ? `: ${text}` : ''}`;
  if (RETRYABLE_STATUS(status)) {
    const retryAfterMs = parseRetryAfter(headerValue(res.headers, 'retry-after'), now());
    throw pushErrors.unavailable(message, retryAfterMs === undefined ? { status } : { status, retryAfterMs });
  }
  throw pushErrors.rejected(status >= 300 && status < 400 ? `${message} (redirects are not followed: configure the final url)` : message, { status });
}
