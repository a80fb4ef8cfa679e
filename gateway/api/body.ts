import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { Context } from 'koa';
import { CovgateError, errors } from '../errors.ts';
import { jsonTooDeep } from '../formats/json.ts';

const gunzipAsync = promisify(gunzip);

/**
 * Reads a request body into a Buffer, enforcing `limit` bytes on the wire and
 * again after gunzip (Content-Encoding: gzip), so a gzip bomb cannot exhaust
 * memory. Hand-written because the body parsers for koa either parse only
 * JSON/forms or buffer without a post-decompression bound.
 */
export async function readBody(ctx: Context, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (limit > 0 && size > limit) throw errors.tooLarge(`request body exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks);
  const encoding = (ctx.get('Content-Encoding') || '').toLowerCase();
  if (encoding === 'gzip') {
    try {
      return await gunzipAsync(raw, limit > 0 ? { maxOutputLength: limit } : {});
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        throw errors.tooLarge(`request body exceeds ${limit} bytes after gunzip`);
      }
      throw errors.badData(`request body is not valid gzip: ${(err as Error).message}`);
    }
  }
  if (encoding !== '' && encoding !== 'identity') throw errors.badData(`unsupported Content-Encoding ${JSON.stringify(encoding)} (use gzip or none)`);
  return raw;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Deepest nesting a JSON request body may have (selectors and labels need 3). */
export const MAX_JSON_DEPTH = 32;

/** Media types a JSON endpoint reads: JSON itself, and what curl -d or a bare client sends. */
function acceptsAsJson(type: string): boolean {
  return type === '' || type === 'application/json' || type.endsWith('+json') || type === 'text/plain' || type === 'application/x-www-form-urlencoded';
}

/** Reads an optional JSON object body; an empty body is `{}`. */
export async function readJsonObject(ctx: Context, limit = 1 << 20): Promise<Record<string, unknown>> {
  const type = (ctx.get('Content-Type') || '').split(';')[0]!.trim().toLowerCase();
  if (!acceptsAsJson(type)) throw errors.unsupportedMediaType(`Content-Type ${JSON.stringify(type)} is not accepted here: send a JSON object (application/json)`);
  const buf = await readBody(ctx, limit);
  let text: string;
  try {
    text = utf8.decode(buf).trim();
  } catch {
    throw errors.badData('request body is not valid UTF-8');
  }
  if (jsonTooDeep(text, MAX_JSON_DEPTH)) throw errors.badData(`request body nests deeper than ${MAX_JSON_DEPTH} levels`);
  if (text === '') return {};
  let value: unknown;
  try {
    // A "__proto__" key would be dropped (or become a prototype) by every object built from the body: refuse it.
    value = JSON.parse(text, (key, v: unknown) => {
      if (key === '__proto__') throw errors.badData('request body must not contain a "__proto__" key');
      return v;
    });
  } catch (err) {
    if (err instanceof CovgateError) throw err;
    throw errors.badData(`request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw errors.badData('request body must be a JSON object');
  return value as Record<string, unknown>;
}
