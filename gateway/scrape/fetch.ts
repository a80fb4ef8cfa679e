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

/**
 * GETs a coverage body. axios decompresses gzip and counts `maxContentLength`
 * on the decompressed stream, so the limit holds after gunzip too (a gzip bomb
 * is cut off while inflating). The timeout covers the whole exchange, body
 * included (an AbortSignal, not a socket idle timeout). Never throws anything
 * but a CovgateError: scrape failures become data, not crashes.
 */
export async function fetchCoverage(http: AxiosInstance, url: string, opts: FetchOptions): Promise<FetchResult> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  try {
    const res = await http.get<ArrayBuffer>(url, {
      responseType: 'arraybuffer',
      decompress: true,
      headers: opts.headers,
      signal,
      maxContentLength: opts.bodySizeLimit > 0 ? opts.bodySizeLimit : -1,
      // Redirects are never followed (as Prometheus' follow_redirects: false): the
      // allowlist vouches for the target's address, not for wherever it points.
      maxRedirects: 0,
      validateStatus: () => true,
      proxy: false,
    });
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(res.headers ?? {})) headers[k.toLowerCase()] = v == null ? undefined : String(v);
    // axios hands Node a Buffer for 'arraybuffer': used as is (Buffer.from copied every body once more).
    const data: unknown = res.data;
    const body = Buffer.isBuffer(data) ? data : Buffer.from((data as ArrayBuffer | undefined) ?? new ArrayBuffer(0));
    return { status: res.status, headers, body };
  } catch (err) {
    const e = err as { code?: string; message?: string; name?: string };
    if (signal.aborted || e.code === 'ECONNABORTED' || e.code === 'ERR_CANCELED' || e.name === 'CanceledError') {
      throw errors.scrapeTimeout(`scrape timed out after ${opts.timeoutMs / 1000}s (scrape_timeout)`, { cause: err });
    }
    if (e.code === 'ERR_BAD_RESPONSE' && /maxContentLength/.test(e.message ?? '')) {
      throw errors.tooLarge(`body exceeds body_size_limit of ${fmtBytes(opts.bodySizeLimit)} (counted after decompression)`, { cause: err });
    }
    if (e.code === 'Z_DATA_ERROR' || e.code === 'Z_BUF_ERROR' || /incorrect header check|unexpected end of file/.test(e.message ?? '')) {
      throw errors.badCoverage(`body is not valid gzip: ${e.message}`, { cause: err });
    }
    const msg = e.message ?? String(err);
    throw errors.scrapeFailed(e.code && !msg.includes(e.code) ? `${e.code}: ${msg}` : msg, { cause: err });
  }
}
