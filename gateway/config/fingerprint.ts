/**
 * A stable fingerprint of one ScrapeConfig, so the scrape manager can keep a
 * job's pool (and its targets' state) across a reload when nothing in that
 * job changed, and rebuild it when anything did.
 */
import { createHash } from 'node:crypto';
import type { ScrapeConfig } from './types.ts';

/**
 * sha256 (hex) of the config's canonical JSON: object keys sorted, arrays in
 * order, undefined fields dropped. Equal configs give equal strings whatever
 * the key order in gateway.yaml; any change of any field changes it.
 */
export function configFingerprint(scrapeConfig: ScrapeConfig): string {
  return createHash('sha256').update(canonicalJson(scrapeConfig)).digest('hex');
}

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}
