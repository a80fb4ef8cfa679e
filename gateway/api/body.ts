import { pipeline, Transform, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Context } from 'koa';
import { CovgateError, errors, isCovgateError } from '../errors.ts';
import { jsonTooDeep } from '../formats/json.ts';

/** zlib's output chunk: the limit is checked at least every CHUNK bytes of output. */
const CHUNK = 16 * 1024;

/** Content-Encodings a body may come in, each with its streaming decoder. */
const DECODERS: Record<string, () => Transform> = {
  gzip: () => createGunzip({ chunkSize: CHUNK }),
  'x-gzip': () => createGunzip({ chunkSize: CHUNK }),
  deflate: () => createInflate({ chunkSize: CHUNK }),
  br: () => createBrotliDecompress({ chunkSize: CHUNK }),
};

/**
 * Reads a request body into a Buffer, enforcing `limit` bytes (0 = none) on
 * the wire and again on the decompressed stream (Content-Encoding gzip,
 * deflate or br). Decompression is streamed and stops as soon as the output
 * passes the limit, so a 1 MiB bomb never inflates beyond `limit` (plus one
 * chunk). A declared Content-Length over the limit is refused before reading.
 * Hand-written because koa's body parsers either parse only JSON/forms or
 * buffer without a post-decompression bound.
 */
export async function readBody(ctx: Context, limit: number): Promise<Buffer> {
  const encoding = (ctx.get('Content-Encoding') || '').trim().toLowerCase();
  const decoder = encoding === '' || encoding === 'identity' ? undefined : DECODERS[encoding];
  if (encoding !== '' && encoding !== 'identity' && !decoder) {
    throw errors.badData(`unsupported Content-Encoding ${JSON.stringify(encoding.slice(0, 40))} (use gzip, deflate, br or none)`);
  }
  const declared = Number(ctx.get('Content-Length') || '0');
  if (limit > 0 && declared > limit) throw errors.tooLarge(`request body of ${declared} bytes exceeds ${limit} bytes`);

  let wire = 0;
  const countWire = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      wire += chunk.length;
      if (limit > 0 && wire > limit) cb(errors.tooLarge(`request body exceeds ${limit} bytes`));
      else cb(null, chunk);
    },
  });
  const chunks: Buffer[] = [];
  let size = 0;
  const req = ctx.req as Readable;
  // The request itself stays out of the pipeline: destroying it would reset the
  // socket before the 413 is written. It is unpiped when reading stops early.
  // Whatever the decompressor rejects is the body's fault (a 400), whichever zlib/brotli code it carries.
  let decoderError: Error | undefined;
  const dec = decoder?.();
  dec?.once('error', (err) => (decoderError = err));
  const out: Readable = dec ? pipeline(countWire, dec, () => undefined) : countWire;
  const onReqError = (err: Error) => countWire.destroy(err);
  req.once('error', onReqError);
  req.pipe(countWire);
  try {
    for await (const chunk of out as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (limit > 0 && size > limit) throw errors.tooLarge(`request body exceeds ${limit} bytes${decoder ? ` after ${encoding} decompression` : ''}`);
      chunks.push(chunk);
    }
  } catch (err) {
    if (!req.readableEnded) {
      req.unpipe(countWire);
      countWire.destroy();
      // Answer, then close: the rest of the body is never read.
      ctx.set('Connection', 'close');
    }
    if (isCovgateError(err)) throw err;
    const code = (err as { code?: string }).code ?? '';
    if (decoderError || (decoder && (code.startsWith('Z_') || code.startsWith('ERR_BROTLI') || /header|invalid|unexpected end/i.test((err as Error).message ?? '')))) {
      throw errors.badData(`request body is not valid ${encoding}: ${(decoderError ?? (err as Error)).message}`);
    }
    if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET') throw errors.badData('request body ended early (connection closed)');
    throw err;
  } finally {
    req.off('error', onReqError);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
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
