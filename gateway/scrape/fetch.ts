import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { AxiosInstance } from 'axios';
import { errors } from '../errors.ts';

export interface FetchOptions {
  timeoutMs: number;
  /** Bytes after decompression; 0 = unlimited. */
  bodySizeLimit: number;
  headers: Record<string, string>;
}

export interface FetchResult {
  status: number;
  headers: Record<string, string | undefined>;
  body: Buffer;
}

const fmtBytes = (n: number): string =>
  n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(n % (1 << 20) ? 1 : 0)}MiB` : n >= 1024 ? `${(n / 1024).toFixed(n % 1024 ? 1 : 0)}KiB` : `${n}B`;

class TooLarge extends Error {}

/**
 * GETs a coverage body: the scrape's one request per target per interval.
 * The body limit is counted after decompression (gzip, deflate, br), so a
 * gzip bomb is cut off while inflating. The timeout covers the whole
 * exchange, body included (an AbortSignal, not a socket idle timeout).
 * Redirects are never followed (as Prometheus' follow_redirects: false): the
 * allowlist vouches for the target's address, not for wherever it points.
 * No proxy. Never throws anything but a CovgateError: scrape failures become
 * data, not crashes.
 *
 * Written on node:http rather than through axios (which the rest of the
 * gateway uses, and whose instance still brings the agents: the allowlist's
 * guarded lookup for registered targets): axios' per-request config merge,
 * header objects and interceptor chain were 40% of everything a gateway
 * allocated per counters-only scrape at 1,000 targets (~73 kB of ~185 kB,
 * sampled heap profile), which kept V8's heap twice the size of its live data.
 */
export async function fetchCoverage(client: AxiosInstance, url: string, opts: FetchOptions): Promise<FetchResult> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  try {
    return await get(url, opts, signal, client.defaults.httpAgent as http.Agent | undefined, client.defaults.httpsAgent as https.Agent | undefined);
  } catch (err) {
    const e = err as { code?: string; message?: string; name?: string };
    if (signal.aborted || e.name === 'AbortError' || e.code === 'ABORT_ERR') {
      throw errors.scrapeTimeout(`scrape timed out after ${opts.timeoutMs / 1000}s (scrape_timeout)`, { cause: err });
    }
    if (err instanceof TooLarge) {
      throw errors.tooLarge(`body exceeds body_size_limit of ${fmtBytes(opts.bodySizeLimit)} (counted after decompression)`, { cause: err });
    }
    if (e.code === 'Z_DATA_ERROR' || e.code === 'Z_BUF_ERROR' || /incorrect header check|unexpected end of file/.test(e.message ?? '')) {
      throw errors.badCoverage(`body is not valid gzip: ${e.message}`, { cause: err });
    }
    const msg = e.message ?? String(err);
    throw errors.scrapeFailed(e.code && !msg.includes(e.code) ? `${e.code}: ${msg}` : msg, { cause: err });
  }
}

function get(url: string, opts: FetchOptions, signal: AbortSignal, httpAgent?: http.Agent, httpsAgent?: https.Agent): Promise<FetchResult> {
  return new Promise<FetchResult>((resolve, reject) => {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    if (!secure && u.protocol !== 'http:') return reject(new Error(`unsupported protocol ${u.protocol}`));
    const req = (secure ? https : http).request(u, { method: 'GET', headers: opts.headers, signal, ...((secure ? httpsAgent : httpAgent) ? { agent: secure ? httpsAgent : httpAgent } : {}) });
    req.on('error', reject);
    req.once('response', (res: IncomingMessage) => {
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(res.headers)) headers[k] = v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : String(v);
      const status = res.statusCode ?? 0;
      let body: Readable = res;
      const encoding = (headers['content-encoding'] ?? '').trim().toLowerCase();
      if (status !== 204 && status !== 304) {
        const inflate = encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : undefined;
        if (inflate) {
          res.on('error', (err) => inflate.destroy(err));
          body = res.pipe(inflate);
        }
      }
      const chunks: Buffer[] = [];
      let size = 0;
      body.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (opts.bodySizeLimit > 0 && size > opts.bodySizeLimit) {
          // Settled first: destroying the streams makes them report errors of their own.
          const tooLarge = new TooLarge('body too large');
          reject(tooLarge);
          body.destroy(tooLarge);
          res.destroy();
          return;
        }
        chunks.push(chunk);
      });
      body.on('error', reject);
      res.once('aborted', () => reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
      body.once('end', () => resolve({ status, headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) }));
    });
    req.end();
  });
}
