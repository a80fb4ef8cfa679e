import { createHmac } from 'node:crypto';
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

/** One HTTP exchange of a push (a center may need several). */
export interface Exchange {
  method: 'POST' | 'PUT';
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Names the step in errors ("create commit: upstream answered HTTP 404 …"). */
  step?: string;
}

/**
 * Runs one exchange and classifies the answer: resolves with status, text and
 * headers on 2xx; otherwise throws pushErrors.rejected (not retryable) for
 * 3xx/4xx other than 408/429, pushErrors.unavailable (retryable, with
 * `retryAfterMs` from `Retry-After`) for 408/429/5xx and network errors,
 * pushErrors.timeout when `upstream.timeout` passes first (the whole exchange,
 * not a socket idle time), pushErrors.aborted when `signal` aborts. Redirects
 * are not followed (a POST must not turn into a GET). Never blocks: the
 * request is asynchronous I/O and the body is already encoded.
 */
export async function exchange(
  http: AxiosInstance,
  upstream: UpstreamConfig,
  ex: Exchange,
  signal: AbortSignal,
  now: () => number,
): Promise<{ status: number; text: string; headers: unknown }> {
  const timeout = upstream.timeout > 0 ? AbortSignal.timeout(upstream.timeout) : undefined;
  const prefix = ex.step ? `${ex.step}: ` : '';
  let res;
  try {
    res = await http.request<string>({
      method: ex.method,
      url: ex.url,
      data: ex.body,
      headers: ex.headers,
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
      throw pushErrors.timeout(`${prefix}no answer within ${upstream.timeout / 1000}s (timeout)`, err);
    }
    throw pushErrors.unavailable(`${prefix}${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`, {}, err);
  }
  const status = res.status;
  const text = typeof res.data === 'string' ? res.data : res.data == null ? '' : String(res.data);
  if (status >= 200 && status < 300) return { status, text, headers: res.headers };
  const shown = snippet(res.data);
  const message = `${prefix}upstream answered HTTP ${status}${STATUS_CODES[status] ? ` ${STATUS_CODES[status]}` : ''}${shown ? `: ${shown}` : ''}`;
  if (RETRYABLE_STATUS(status)) {
    const retryAfterMs = parseRetryAfter(headerValue(res.headers, 'retry-after'), now());
    throw pushErrors.unavailable(message, retryAfterMs === undefined ? { status } : { status, retryAfterMs });
  }
  throw pushErrors.rejected(status >= 300 && status < 400 ? `${message} (redirects are not followed: configure the final url)` : message, { status });
}

/**
 * Sends one push attempt of kind http: POST of the stored body to the
 * upstream's url (classified as `exchange` does); with a `secret`, the
 * bytes as sent are signed (`X-Covgate-Signature: sha256=<hex>`, HMAC-SHA256,
 * as GitHub signs webhooks with X-Hub-Signature-256). Resolves with the HTTP status.
 */
export async function sendPush(
  http: AxiosInstance,
  upstream: UpstreamConfig,
  id: string,
  request: PushRequest,
  signal: AbortSignal,
  now: () => number,
): Promise<number> {
  const body = Buffer.from(request.body, request.bodyEncoding);
  const headers = requestHeaders(request, upstream, id);
  if (upstream.secret !== undefined) headers[SIGNATURE_HEADER] = signBody(upstream.secret, body);
  const res = await exchange(http, upstream, { method: 'POST', url: requestUrl(upstream.url, request.query), headers, body }, signal, now);
  return res.status;
}

/** The signature header of kind http with a `secret`. */
export const SIGNATURE_HEADER = 'X-Covgate-Signature';

/** `sha256=<hex HMAC-SHA256 of body keyed by secret>`: verify with a constant-time compare of the same computation. */
export function signBody(secret: string, body: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
