/**
 * The covgate envelope (`application/vnd.covgate.v1+json`, docs/contract.md §1):
 * metadata about the process plus either `data` (decoded by the inner
 * format's decoder) or `hits` (the counters-only reply of the
 * structure-once exchange, validated here).
 */
import { errors } from '../errors.ts';
import { isObject } from './builder.ts';
import { validateHits } from './validate.ts';
import { parseJson } from './json.ts';
import { decoders, isPlainFormat } from './registry.ts';
import type { BuildInfo, DecodeContext, Decoded } from './types.ts';

export const ENVELOPE_CONTENT_TYPE = 'application/vnd.covgate.v1+json';

// RFC 3339 date-time: 2026-01-31T12:00:00Z, with optional fraction and offset.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** True when a parsed JSON body has the envelope's shape (`format` plus `data` or `hits`). */
export function looksLikeEnvelope(body: unknown): boolean {
  return isObject(body) && typeof body.format === 'string' && ('data' in body || 'hits' in body);
}

function optionalString(env: Record<string, unknown>, field: string): string | undefined {
  const v = env[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw errors.badCoverage(`covgate envelope: "${field}" must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Decodes an envelope (already parsed JSON). The envelope's `instance` wins
 * over the `X-Coverage-Instance` header; `counters` defaults to cumulative.
 */
export async function decodeEnvelope(envelope: unknown, ctx: DecodeContext): Promise<Decoded> {
  if (!isObject(envelope)) throw errors.badCoverage('covgate envelope: expected a JSON object');
  const { base, hasHits } = envelopeBase(envelope, ctx);
  const format = base.format as keyof typeof decoders;
  const structureId = base.structureId;
  if (hasHits) {
    if (structureId === undefined) throw errors.badCoverage('covgate envelope: a counters-only reply ("hits") needs "structure"');
    return { ...base, hits: validateHits(envelope.hits) };
  }

  const decoder = decoders[format];
  let data = envelope.data;
  const resolveHits = decoder.countersOnly?.(decoder.input === 'json' && typeof data === 'string' ? parseJson(data, `covgate envelope data (${format})`) : data);
  if (resolveHits) {
    if (structureId === undefined) throw errors.badCoverage(`covgate envelope: a counters-only ${format} reply needs "structure"`);
    return { ...base, resolveHits };
  }
  if (decoder.input === 'json' && typeof data === 'string') data = parseJson(data, `covgate envelope data (${format})`);
  if (decoder.input === 'text' && typeof data !== 'string') throw errors.badCoverage(`covgate envelope: "data" must be a string for format ${format}, got ${typeof data}`);
  const warnings: string[] = [];
  const coverage = await decoder.decode(data, { ...ctx, warn: (m) => { warnings.push(m); ctx.warn?.(m); } });
  return { ...base, coverage, warnings };
}

/**
 * What an envelope says about its process, checked (everything but its
 * `data` or `hits`): the Decoded without coverage, and which of the two it
 * carries. Throws COVGATE_BAD_COVERAGE naming the field.
 */
export function envelopeBase(envelope: Record<string, unknown>, ctx: DecodeContext): { base: Decoded; hasHits: boolean } {
  const format = envelope.format;
  if (!isPlainFormat(format)) {
    throw errors.badCoverage(`covgate envelope: "format" must be one of ${Object.keys(decoders).join(', ')}, got ${JSON.stringify(format)}`);
  }
  const instance = optionalString(envelope, 'instance') ?? ctx.instanceHeader;
  const startTime = optionalString(envelope, 'startTime');
  if (startTime !== undefined && (!RFC3339.test(startTime) || Number.isNaN(Date.parse(startTime)))) {
    throw errors.badCoverage(`covgate envelope: "startTime" must be an RFC 3339 time, got ${JSON.stringify(startTime)}`);
  }
  let build: BuildInfo | undefined;
  if (envelope.build !== undefined && envelope.build !== null) {
    if (!isObject(envelope.build)) throw errors.badCoverage('covgate envelope: "build" must be an object of strings');
    build = {};
    for (const [k, v] of Object.entries(envelope.build)) {
      if (typeof v === 'string') build[k] = v;
      else if (typeof v === 'number' || typeof v === 'boolean') build[k] = String(v);
      else throw errors.badCoverage(`covgate envelope: "build.${k}" must be a string, got ${JSON.stringify(v)}`);
    }
  }
  const countersRaw = envelope.counters ?? 'cumulative';
  if (countersRaw !== 'cumulative' && countersRaw !== 'delta') {
    throw errors.badCoverage(`covgate envelope: "counters" must be "cumulative" or "delta", got ${JSON.stringify(countersRaw)}`);
  }
  const structureId = optionalString(envelope, 'structure');
  const hasData = envelope.data !== undefined && envelope.data !== null;
  const hasHits = envelope.hits !== undefined && envelope.hits !== null;
  if (hasData === hasHits) throw errors.badCoverage(`covgate envelope: exactly one of "data" or "hits" is required, got ${hasData ? 'both' : 'neither'}`);

  const base: Decoded = {
    format,
    enveloped: true,
    counters: countersRaw,
    warnings: [],
    ...(instance !== undefined ? { instance } : {}),
    ...(startTime !== undefined ? { startTime } : {}),
    ...(build !== undefined ? { build } : {}),
    ...(structureId !== undefined ? { structureId } : {}),
  };
  return { base, hasHits };
}
