/**
 * The shard → central wire format (extension, docs/extensions.md "Shards"):
 * `POST /api/v1/forward` with a covgate envelope (`format: istanbul`,
 * cumulative, `structure` id, `data` or counters-only `hits`) as body and the
 * target it belongs to in `X-Covgate-Forwarded-Target` (base64url JSON, so
 * label values outside Latin-1 survive the header).
 */
import { errors } from '../errors.ts';
import { LABEL_NAME_RE } from '../model/labels.ts';
import type { Labels } from '../config/types.ts';

export const FORWARD_PATH = '/api/v1/forward';
export const FLUSH_PATH = '/api/v1/forward/flush';
export const FORWARDED_TARGET_HEADER = 'X-Covgate-Forwarded-Target';

export interface ForwardedTarget {
  id: string;
  job: string;
  labels: Labels;
  url?: string;
}

export function encodeForwardedTarget(t: ForwardedTarget): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

/** Parses and checks the header; a 400 naming what is wrong otherwise. */
export function decodeForwardedTarget(header: string | undefined): ForwardedTarget {
  if (!header) throw errors.badData(`header ${FORWARDED_TARGET_HEADER} is required (base64url JSON {"id","job","labels"})`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  } catch {
    throw errors.badData(`header ${FORWARDED_TARGET_HEADER} is not base64url JSON`);
  }
  const o = v as Record<string, unknown>;
  if (!o || typeof o !== 'object') throw errors.badData(`header ${FORWARDED_TARGET_HEADER} must hold an object`);
  if (typeof o.id !== 'string' || o.id === '' || o.id.length > 512) throw errors.badData(`${FORWARDED_TARGET_HEADER}: "id" must be a non-empty string`);
  if (typeof o.job !== 'string' || o.job === '') throw errors.badData(`${FORWARDED_TARGET_HEADER}: "job" must be a non-empty string`);
  if (o.url !== undefined && typeof o.url !== 'string') throw errors.badData(`${FORWARDED_TARGET_HEADER}: "url" must be a string`);
  const labels = o.labels as Record<string, unknown>;
  if (!labels || typeof labels !== 'object' || Array.isArray(labels)) throw errors.badData(`${FORWARDED_TARGET_HEADER}: "labels" must be an object`);
  for (const [k, val] of Object.entries(labels)) {
    if (!LABEL_NAME_RE.test(k)) throw errors.badData(`${FORWARDED_TARGET_HEADER}: label name ${JSON.stringify(k)} is not a valid Prometheus label name`);
    // As push ingest: names starting with "__" are internal (and "__proto__" must never reach an object spread).
    if (k.startsWith('__')) throw errors.badData(`${FORWARDED_TARGET_HEADER}: label name ${JSON.stringify(k)} is reserved (names starting with "__" are internal)`);
    if (typeof val !== 'string') throw errors.badData(`${FORWARDED_TARGET_HEADER}: label ${k} must be a string`);
  }
  return { id: o.id, job: o.job, labels: labels as Labels, ...(o.url !== undefined ? { url: o.url as string } : {}) };
}
