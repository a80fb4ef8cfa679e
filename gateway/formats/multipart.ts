/**
 * Reads the file parts of a `multipart/form-data` body already in memory, for
 * GOCOVERDIR pushes (`curl -F f=@covmeta.… -F f=@covcounters.… …`).
 *
 * Hand-written rather than busboy/formidable: the push route has already
 * buffered and size-bounded the body (readBody), and only file names and
 * bytes are needed (RFC 7578: parts separated by `--boundary`, headers, a
 * blank line, the content). Malformed bodies are COVGATE_BAD_COVERAGE errors.
 */
import { errors } from '../errors.ts';

export interface MultipartFile {
  /** The part's `filename` (or `name` when it has none). */
  name: string;
  data: Buffer;
}

const MAX_PARTS = 100_000;

/** The boundary of a multipart Content-Type, or undefined when it is not multipart. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  const ct = contentType ?? '';
  if (!/^\s*multipart\/form-data\s*;/i.test(ct)) return undefined;
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(ct);
  const b = m?.[1] ?? m?.[2];
  if (!b || b.length > 70) throw errors.badCoverage('multipart body: missing or invalid boundary in Content-Type');
  return b;
}

export function readMultipart(body: Buffer, boundary: string): MultipartFile[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const out: MultipartFile[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw errors.badCoverage('multipart body: no part starts with the boundary from Content-Type');
  for (let parts = 0; ; parts++) {
    if (parts > MAX_PARTS) throw errors.badCoverage(`multipart body: more than ${MAX_PARTS} parts`);
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString('latin1') === '--') return out; // closing delimiter
    if (body.subarray(pos, pos + 2).toString('latin1') !== '\r\n') throw errors.badCoverage(`multipart body: malformed delimiter at byte ${pos}`);
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw errors.badCoverage(`multipart body: part at byte ${pos} has no end of headers`);
    const headers = body.subarray(pos, headerEnd).toString('utf8');
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headerEnd + 4);
    if (next < 0) throw errors.badCoverage('multipart body: truncated (no closing boundary)');
    const disposition = /^content-disposition:(.*)$/im.exec(headers)?.[1] ?? '';
    const filename = /;\s*filename="([^"]*)"/i.exec(disposition)?.[1] ?? /;\s*name="([^"]*)"/i.exec(disposition)?.[1] ?? '';
    out.push({ name: filename, data: body.subarray(headerEnd + 4, next) });
    pos = next + 2;
  }
}
