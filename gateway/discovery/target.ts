import { createHash } from 'node:crypto';
import type { Labels, ScrapeConfig } from '../config/types.ts';
import { formatDuration, tryParseDuration as parseDuration } from '../config/duration.ts';
import { relabel } from './relabel.ts';
import type { TargetGroup } from './types.ts';

/** Internal labels a scrape config contributes before relabeling. */
export const ADDRESS_LABEL = '__address__';
export const SCHEME_LABEL = '__scheme__';
export const COVERAGE_PATH_LABEL = '__coverage_path__';
export const SCRAPE_INTERVAL_LABEL = '__scrape_interval__';
export const SCRAPE_TIMEOUT_LABEL = '__scrape_timeout__';
export const PARAM_LABEL_PREFIX = '__param_';

/** A target that survived relabeling: what the scrape stage needs. */
export interface ActiveTarget {
  dropped: false;
  /** Final labels: no `__`-prefixed names; always has `job`, `instance`, `service`. */
  labels: Labels;
  /** The labels as discovered, with scrape-config defaults, before relabeling. */
  discoveredLabels: Labels;
  /** `${__scheme__}://${__address__}${__coverage_path__}` plus `?` and the `__param_*` labels. */
  url: string;
  /** From `__scrape_interval__` / `__scrape_timeout__` after relabeling. */
  scrapeIntervalMs: number;
  scrapeTimeoutMs: number;
}

/** A target relabeling dropped, or one whose labels cannot be scraped. */
export interface DroppedTarget {
  dropped: true;
  discoveredLabels: Labels;
  /** `relabel`: a keep/drop rule; `no_address`: `__address__` empty after relabeling; `invalid`: see `error`. */
  reason: 'relabel' | 'no_address' | 'invalid';
  error?: string;
}

export type PopulateResult = ActiveTarget | DroppedTarget;

/**
 * Prometheus `PopulateLabels` for covgate.
 *
 * `lset` is the group's labels overlaid by the target's labels (target wins).
 * Scrape-config defaults fill labels that are missing or empty: `job`,
 * `__scheme__`, `__coverage_path__`, `__scrape_interval__`,
 * `__scrape_timeout__` (so a discovered `__scheme__` wins over the config's).
 * That set is `discoveredLabels`. Then `relabel_configs` run; the target is
 * dropped when a rule drops it or `__address__` ends empty, and is `invalid`
 * when the address contains `/`, the scheme is not http(s), or the interval /
 * timeout labels are malformed, zero, or timeout > interval.
 * Otherwise `instance` defaults to `__address__`, `service` defaults to `job`
 * (covgate's rule) and every `__`-prefixed label is removed from the final set;
 * the scrape URL and timings computed from them are returned alongside.
 * Never throws; never modifies its inputs.
 */
export function populateLabels(lset: Labels, cfg: ScrapeConfig): PopulateResult {
  const lb: Labels = { ...lset };
  const defaults: Labels = {
    job: cfg.job_name,
    [SCHEME_LABEL]: cfg.scheme,
    [COVERAGE_PATH_LABEL]: cfg.coverage_path,
    [SCRAPE_INTERVAL_LABEL]: formatDuration(cfg.scrape_interval),
    [SCRAPE_TIMEOUT_LABEL]: formatDuration(cfg.scrape_timeout),
  };
  for (const [k, v] of Object.entries(defaults)) {
    if (!lb[k]) lb[k] = v;
  }
  const discoveredLabels: Labels = { ...lb };

  const relabeled = relabel(lb, cfg.relabel_configs);
  if (relabeled === null) return { dropped: true, discoveredLabels, reason: 'relabel' };

  const address = relabeled[ADDRESS_LABEL] ?? '';
  if (address === '') return { dropped: true, discoveredLabels, reason: 'no_address' };
  const invalid = (error: string): DroppedTarget => ({ dropped: true, discoveredLabels, reason: 'invalid', error });
  if (address.includes('/')) return invalid(`${ADDRESS_LABEL} ${JSON.stringify(address)} must be host:port, without scheme or path`);

  const scheme = relabeled[SCHEME_LABEL] ?? '';
  if (scheme !== 'http' && scheme !== 'https') return invalid(`${SCHEME_LABEL} ${JSON.stringify(scheme)} is not http or https`);

  const intervalText = relabeled[SCRAPE_INTERVAL_LABEL] ?? '';
  const timeoutText = relabeled[SCRAPE_TIMEOUT_LABEL] ?? '';
  const intervalMs = parseDuration(intervalText);
  const timeoutMs = parseDuration(timeoutText);
  if (intervalMs === undefined) return invalid(`error parsing scrape interval ${JSON.stringify(intervalText)}`);
  if (intervalMs === 0) return invalid('scrape interval cannot be 0');
  if (timeoutMs === undefined) return invalid(`error parsing scrape timeout ${JSON.stringify(timeoutText)}`);
  if (timeoutMs === 0) return invalid('scrape timeout cannot be 0');
  if (timeoutMs > intervalMs) return invalid(`scrape timeout cannot be greater than scrape interval (${timeoutText} > ${intervalText})`);

  const path = relabeled[COVERAGE_PATH_LABEL] ?? '';
  const params = new URLSearchParams();
  for (const name of Object.keys(relabeled).sort()) {
    if (name.startsWith(PARAM_LABEL_PREFIX)) params.append(name.slice(PARAM_LABEL_PREFIX.length), relabeled[name]!);
  }
  const query = params.toString();
  const url = `${scheme}://${address}${path}${query ? (path.includes('?') ? '&' : '?') + query : ''}`;

  const labels: Labels = {};
  for (const [k, v] of Object.entries(relabeled)) {
    if (!k.startsWith('__')) labels[k] = v;
  }
  if (!labels.instance) labels.instance = address;
  if (!labels.service && labels.job) labels.service = labels.job;

  return { dropped: false, labels, discoveredLabels, url, scrapeIntervalMs: intervalMs, scrapeTimeoutMs: timeoutMs };
}

/**
 * Every target of a group through `populateLabels`, in order. Target labels
 * override group labels, as in Prometheus `TargetsFromGroup`.
 */
export function targetsFromGroup(group: TargetGroup, cfg: ScrapeConfig): PopulateResult[] {
  return group.targets.map((t) => populateLabels({ ...group.labels, ...t }, cfg));
}

/**
 * A 64-bit hash of a label set, independent of key order (Prometheus
 * `labels.Hash`): sha256 over `name 0xff value 0xff` of the sorted labels.
 */
export function hashLabels(labels: Labels): bigint {
  return BigInt('0x' + targetId(labels));
}

/**
 * A stable id for a target: 16 hex digits of the hash of its sorted final
 * label set. The same labels always give the same id, across processes and
 * restarts, whatever the key order.
 */
export function targetId(labels: Labels): string {
  const h = createHash('sha256');
  for (const name of Object.keys(labels).sort()) {
    h.update(name, 'utf8');
    h.update(SEP);
    h.update(labels[name]!, 'utf8');
    h.update(SEP);
  }
  return h.digest('hex').slice(0, 16);
}
const SEP = Buffer.from([0xff]);

const HEX64 = /^[0-9a-f]{16}$/;

/**
 * Deterministic start offset of a target's scrapes, in [0, intervalMs):
 * (hash(target) XOR seed) mod interval, as Prometheus `scrape/target.go`
 * spreads scrapes. `id` is a `targetId` (any other string is hashed first);
 * `seed` is per gateway (e.g. `hashLabels(external_labels)`), so two gateways
 * scraping the same targets do not hit them at the same instant. The
 * scheduler aligns the first scrape to `now - now % interval + offset`.
 */
export function scrapeOffset(id: string, intervalMs: number, seed: bigint | number = 0n): number {
  const interval = Math.trunc(intervalMs);
  if (interval <= 0) return 0;
  const hex = HEX64.test(id) ? id : createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 16);
  const h = BigInt('0x' + hex);
  const s = BigInt.asUintN(64, typeof seed === 'number' ? BigInt(Math.trunc(seed)) : seed);
  return Number((h ^ s) % BigInt(interval));
}
