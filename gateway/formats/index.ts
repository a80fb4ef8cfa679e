/**
 * Payload formats: one decoder per format (docs/contract.md §1) and one encoder per
 * output format (docs/contract.md §2 `format=`). `decodePayload` is the single entry
 * point the scrape and push-ingest stages use.
 */
import { errors } from '../errors.ts';
import { isObject } from './builder.ts';
import { decodeEnvelope, envelopeBase, ENVELOPE_CONTENT_TYPE, looksLikeEnvelope } from './envelope.ts';
import { looksLikeGoCoverDir } from './gocovdata.ts';
import { parseJson } from './json.ts';
import { scanHitsEnvelope, scanIstanbulEnvelope } from './hits-scan.ts';
import { decoders, JSON_SNIFF_ORDER, TEXT_SNIFF_ORDER } from './registry.ts';
import type { PlainFormat } from './registry.ts';
import type { DecodeContext, Decoded, PayloadDecoder } from './types.ts';
import { validateDecoded, validateMeta, type ValidateOptions } from './validate.ts';
import { createIstanbulScanner, joinSplit } from './istanbul-scan.ts';
import type { CoverageMapData, SplitCoverage } from '../model/index.ts';

export * from './types.ts';
export { decoders, isPlainFormat } from './registry.ts';
export type { PlainFormat } from './registry.ts';
export { decodeEnvelope, ENVELOPE_CONTENT_TYPE } from './envelope.ts';
export { validateHits, validateCoverageMap, validateDecoded, pathProblem, MAX_PATH_LENGTH } from './validate.ts';
export type { ValidateOptions } from './validate.ts';
export { encodeCoverage, contentTypeOf } from './encode/index.ts';
export type { EncodeOptions } from './encode/index.ts';

/** The media type without parameters, lower-cased. */
function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function asText(body: Buffer | string): string {
  let text: string;
  if (typeof body === 'string') text = body;
  else {
    try {
      text = utf8.decode(body);
    } catch {
      throw errors.badCoverage('coverage payload is not valid UTF-8');
    }
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // drop a UTF-8 BOM
}

function toJson(body: Buffer | string | object, what: string): unknown {
  if (typeof body === 'string' || Buffer.isBuffer(body)) return parseJson(asText(body), what);
  return body;
}

function toText(body: Buffer | string | object, what: string): string {
  if (typeof body === 'string' || Buffer.isBuffer(body)) return asText(body);
  throw errors.badCoverage(`${what}: expected a text body, got a JSON ${Array.isArray(body) ? 'array' : 'object'}`);
}

async function decodeWith(decoder: PayloadDecoder, payload: unknown, ctx: DecodeContext): Promise<Decoded> {
  if (decoder.countersOnly?.(payload)) throw errors.badCoverage(`${decoder.format}: counters without their structure; send it in a covgate envelope with "structure", or include the meta-data`);
  const warnings: string[] = [];
  const coverage = await decoder.decode(payload, {
    ...ctx,
    warn: (m) => {
      warnings.push(m);
      ctx.warn?.(m);
    },
  });
  return {
    format: decoder.format,
    enveloped: false,
    counters: ctx.counters ?? 'cumulative',
    coverage,
    warnings,
    ...(ctx.instanceHeader !== undefined && ctx.instanceHeader !== '' ? { instance: ctx.instanceHeader } : {}),
  };
}

/**
 * Decodes a scraped or pushed body into Istanbul data plus the process
 * metadata. The format is `ctx.declaredFormat`, or with `auto` recognised as
 * docs/contract.md §1 says: the covgate media type → envelope; JSON with a `result`
 * array → v8; with `files`/`source_files` → coveralls; with `format` and
 * `data`|`hits` → envelope; any other JSON object → istanbul; text beginning
 * `mode:` → gocover; XML with `<coverage` → cobertura; text with `SF:` → lcov.
 * An envelope sent with the covgate media type (or recognisable as one) is
 * unwrapped even when a plain JSON format is declared.
 *
 * Throws COVGATE_BAD_COVERAGE naming what is wrong (JSON parse position, the
 * file, line or field); never returns a partial map. Every decoder's output
 * passes `validateDecoded` (./validate.ts), the one boundary check. Skipped parts (V8
 * scripts without source) are listed in `warnings`.
 */
export async function decodePayload(body: Buffer | string | object, ctx: DecodeContext & ValidateOptions): Promise<Decoded> {
  const scan = scannable(body, ctx) ? istanbulScanner.scan(body) : undefined;
  if (scan?.kind === 'hit') return fastDecoded(scan.split, ctx);
  // A full-data Istanbul envelope (an exporter's first reply): its `data` bytes go through the same scanner.
  const envelope = (!scan || !scan.index) && envelopeScannable(body, ctx) ? scanIstanbulEnvelope(body) : undefined;
  const inner = envelope ? istanbulScanner.scan(envelope.data) : undefined;
  if (envelope && inner?.kind === 'hit') {
    const { base } = envelopeBase({ ...envelope.meta, data: {} }, ctx);
    return fastDecoded(inner.split, ctx, base);
  }
  const decoded = validateDecoded(await decodeUnchecked(body, ctx), ctx);
  if (scan?.index && decoded.format === 'istanbul' && !decoded.enveloped && decoded.coverage) {
    const split = istanbulScanner.learn(body as Buffer, scan.index, decoded.coverage);
    if (split) decoded.split = split;
  }
  if (envelope && inner?.kind === 'miss' && inner.index && decoded.format === 'istanbul' && decoded.enveloped && decoded.coverage) {
    const split = istanbulScanner.learn(envelope.data, inner.index, decoded.coverage);
    if (split) decoded.split = split;
  }
  return decoded;
}

/** Bodies whose envelope the scanner may split: bytes declared covgate or auto (the envelope's own checks follow). */
function envelopeScannable(body: Buffer | string | object, ctx: DecodeContext): body is Buffer {
  if (!Buffer.isBuffer(body) || ctx.fullParseOnly) return false;
  const declared = ctx.declaredFormat ?? 'auto';
  return declared === 'auto' || declared === 'covgate';
}

/**
 * Structures learnt from full Istanbul payloads that passed the slow path
 * (./istanbul-scan.ts): a repeated full payload of a known build is then split
 * from its bytes, reading only the counters.
 */
const istanbulScanner = createIstanbulScanner();

/** Bodies the scanner may answer for: plain Istanbul JSON bytes, as `auto` or `istanbul`. */
function scannable(body: Buffer | string | object, ctx: DecodeContext): body is Buffer {
  if (!Buffer.isBuffer(body) || ctx.fullParseOnly) return false;
  const declared = ctx.declaredFormat ?? 'auto';
  if (declared !== 'auto' && declared !== 'istanbul') return false;
  const type = mediaType(ctx.contentType);
  if (type === ENVELOPE_CONTENT_TYPE) return false;
  return !(declared === 'auto' && looksLikeGoCoverDir(body, type, ctx.contentType));
}

/** What the slow path returns for a body the scanner recognised (`coverage` is built only if asked for). */
function fastDecoded(split: SplitCoverage, ctx: DecodeContext, envelope?: Decoded): Decoded {
  const decoded: Decoded = envelope
    ? { ...envelope, split }
    : {
        format: 'istanbul',
        enveloped: false,
        counters: ctx.counters ?? 'cumulative',
        warnings: [],
        ...(ctx.instanceHeader !== undefined && ctx.instanceHeader !== '' ? { instance: ctx.instanceHeader } : {}),
        split,
      };
  let coverage: CoverageMapData | undefined;
  Object.defineProperty(decoded, 'coverage', {
    enumerable: true,
    configurable: true,
    get: () => (coverage ??= joinSplit(split)),
    set: (v: CoverageMapData) => {
      coverage = v;
    },
  });
  validateMeta(decoded);
  return decoded;
}

async function decodeUnchecked(body: Buffer | string | object, ctx: DecodeContext): Promise<Decoded> {
  const declared = ctx.declaredFormat ?? 'auto';
  const type = mediaType(ctx.contentType);

  // Counters-only replies are read from their bytes (./hits-scan.ts); anything else it does not answer.
  const scanned = Buffer.isBuffer(body) && !ctx.fullParseOnly && (declared === 'covgate' || declared === 'auto') ? scanHitsEnvelope(body, ctx.previousCounters) : undefined;
  if (scanned) return decodeEnvelope(scanned, ctx);
  if (declared === 'covgate' || type === ENVELOPE_CONTENT_TYPE) return decodeEnvelope(toJson(body, 'covgate envelope'), ctx);
  // A tar or multipart upload of a GOCOVERDIR (push ingest): binary, so it never goes through the text path.
  if (Buffer.isBuffer(body) && (declared === 'auto' || declared === 'gocovdata') && looksLikeGoCoverDir(body, type, ctx.contentType)) return decodeWith(decoders.gocovdata, body, ctx);

  if (declared !== 'auto') {
    const decoder = decoders[declared as PlainFormat];
    if (!decoder) throw errors.badCoverage(`unknown coverage format ${JSON.stringify(declared)}; known: covgate, ${Object.keys(decoders).join(', ')}`);
    if (decoder.input === 'json') {
      const json = toJson(body, declared);
      if (looksLikeEnvelope(json)) return decodeEnvelope(json, ctx);
      return decodeWith(decoder, json, ctx);
    }
    return decodeWith(decoder, toText(body, declared), ctx);
  }

  // auto: JSON when the body is already parsed, says it is JSON, or starts like JSON.
  let json: unknown;
  let isJson = false;
  let text: string | undefined;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    text = asText(body);
    const first = /\S/.exec(text)?.[0];
    if (first === '{' || first === '[' || (type.endsWith('json') || type.endsWith('+json'))) {
      json = parseJson(text, 'coverage payload');
      isJson = true;
    }
  } else {
    json = body;
    isJson = true;
  }

  if (isJson) {
    if (looksLikeEnvelope(json)) return decodeEnvelope(json, ctx);
    for (const format of JSON_SNIFF_ORDER) {
      const decoder = decoders[format];
      if (decoder.sniff(json, ctx.contentType)) return decodeWith(decoder, json, ctx);
    }
    const shape = Array.isArray(json) ? 'a JSON array' : isObject(json) ? 'a JSON object' : `JSON ${json === null ? 'null' : typeof json}`;
    throw errors.badCoverage(`unrecognised coverage payload: got ${shape}; tried covgate (format + data|hits), v8 (result array), coveralls (files|source_files), gocovdata (meta + counters), istanbul (object of path → file coverage)`);
  }

  for (const format of TEXT_SNIFF_ORDER) {
    const decoder = decoders[format];
    if (decoder.sniff(text, ctx.contentType)) return decodeWith(decoder, text, ctx);
  }
  const head = JSON.stringify((text ?? '').trimStart().slice(0, 40));
  throw errors.badCoverage(`unrecognised coverage payload (Content-Type ${JSON.stringify(ctx.contentType ?? '')}, starts ${head}); tried JSON formats (covgate, v8, coveralls, gocovdata, istanbul), a GOCOVERDIR tar, gocover ("mode:" line), cobertura (<coverage> XML), lcov (SF: records)`);
}
