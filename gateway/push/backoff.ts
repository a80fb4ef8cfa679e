/**
 * Delay before the retry that follows attempt number `attempts` (1-based):
 * capped exponential growth from `minMs` (min, 2·min, 4·min, … up to `maxMs`)
 * with full jitter: uniformly between `minMs` and that cap, so many gateways
 * retrying one upstream do not come back in step. `random` returns [0, 1).
 */
export function backoffDelay(attempts: number, minMs: number, maxMs: number, random: () => number): number {
  const min = Math.max(0, Math.min(minMs, maxMs));
  const exp = Math.min(maxMs, min * 2 ** Math.min(Math.max(attempts - 1, 0), 52));
  return Math.round(min + random() * (exp - min));
}

/**
 * `Retry-After` (delay-seconds or an HTTP date) as ms from `now`, or
 * undefined when absent or unreadable. A date in the past gives 0.
 */
export function parseRetryAfter(value: unknown, now: number): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!/[a-z]/i.test(v)) return undefined; // an HTTP date names its month; Date.parse would take "-5" as a year
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
