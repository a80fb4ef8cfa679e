import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { Context } from 'koa';
import { errors } from '../errors.ts';

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

/** Reads an optional JSON object body; an empty body is `{}`. */
export async function readJsonObject(ctx: Context, limit = 1 << 20): Promise<Record<string, unknown>> {
  const buf = await readBody(ctx, limit);
  const text = buf.toString('utf8').trim();
  if (text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw errors.badData(`request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw errors.badData('request body must be a JSON object');
  return value as Record<string, unknown>;
}
