/**
 * Durations and sizes as Prometheus writes them in its config files.
 *
 * parseDuration / formatDuration follow Prometheus' `model.Duration`
 * (units y=365d, w, d, h, m, s, ms, largest first, integers only), so a value
 * copied from a prometheus.yml means the same here. parseSize follows
 * `body_size_limit`: a plain byte count or a number with a decimal (KB = 1000)
 * or binary (KiB = 1024) unit; 0 means "no limit".
 */

const MS = 1;
const SECOND = 1000 * MS;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const YEAR = 365 * DAY;

// Same shape as Prometheus' durationRE: every unit at most once, largest first.
const DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const DURATION_UNITS = [YEAR, WEEK, DAY, HOUR, MINUTE, SECOND, MS];

/** Human hint appended to "bad duration" messages. */
export const DURATION_HINT = 'use e.g. 500ms, 15s, 5m, 1h, 21d';

/**
 * Parses a Prometheus duration ("500ms", "15s", "1h30m", "21d", "1w", "1y")
 * into milliseconds. "0" is accepted (as in Prometheus) and returns 0.
 * Throws a plain Error for anything else: bare numbers, signs, fractions,
 * spaces, an empty string, or units out of order.
 */
export function parseDuration(s: string): number {
  if (typeof s !== 'string') throw new Error(`bad duration ${JSON.stringify(s)}`);
  if (s === '0') return 0;
  const m = s === '' ? null : DURATION_RE.exec(s);
  if (!m) throw new Error(`bad duration ${JSON.stringify(s)}`);
  let ms = 0;
  for (let i = 0; i < DURATION_UNITS.length; i++) {
    const group = m[i + 1];
    if (group !== undefined) ms += Number(group) * DURATION_UNITS[i]!;
  }
  if (!Number.isSafeInteger(ms)) throw new Error(`duration ${JSON.stringify(s)} is too large`);
  return ms;
}

/** parseDuration, but `undefined` for a malformed duration (relabeled `__scrape_interval__` labels). */
export function tryParseDuration(s: string): number | undefined {
  try {
    return parseDuration(s);
  } catch {
    return undefined;
  }
}

/**
 * Formats milliseconds the way Prometheus prints a model.Duration:
 * compound, largest unit first ("1h30m", "21d", "2w"); years and weeks only when exact;
 * 0 → "0s". Fractional milliseconds are truncated. parseDuration(formatDuration(x)) === x.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`cannot format duration ${ms}`);
  let rest = Math.trunc(ms);
  if (rest === 0) return '0s';
  let out = '';
  const unit = (name: string, mult: number, exact: boolean): void => {
    if (exact && rest % mult !== 0) return;
    const v = Math.floor(rest / mult);
    if (v > 0) {
      out += `${v}${name}`;
      rest -= v * mult;
    }
  };
  // Years and weeks only when exact, as Prometheus does: "90d" reads better than "12w6d".
  unit('y', YEAR, true);
  unit('w', WEEK, true);
  unit('d', DAY, false);
  unit('h', HOUR, false);
  unit('m', MINUTE, false);
  unit('s', SECOND, false);
  unit('ms', MS, false);
  return out;
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
  eb: 1e18,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  pib: 2 ** 50,
  eib: 2 ** 60,
};

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]+)?$/;

/** Human hint appended to "bad size" messages. */
export const SIZE_HINT = 'use e.g. 0, 1048576, 512KB, 64MiB, 1GB';

/**
 * Parses a byte size: a plain non-negative integer ("0", "1048576", or a
 * number), or a number with a unit: B, KB, MB, GB, TB, PB, EB (powers of
 * 1000) or KiB, MiB, GiB, TiB, PiB, EiB (powers of 1024); units are
 * case-insensitive. "1.5MiB" is allowed and rounded down to whole bytes.
 * 0 means "no limit" to callers. Throws a plain Error otherwise.
 */
export function parseSize(s: string | number): number {
  if (typeof s === 'number') {
    if (Number.isSafeInteger(s) && s >= 0) return s;
    throw new Error(`bad size ${s}`);
  }
  const m = typeof s === 'string' ? SIZE_RE.exec(s.trim()) : null;
  if (!m) throw new Error(`bad size ${JSON.stringify(s)}`);
  const [, num, unitRaw] = m;
  let mult = 1;
  if (unitRaw !== undefined) {
    const u = SIZE_UNITS[unitRaw.toLowerCase()];
    if (u === undefined) throw new Error(`bad size ${JSON.stringify(s)}: unknown unit ${JSON.stringify(unitRaw)}`);
    mult = u;
  } else if (num!.includes('.')) {
    throw new Error(`bad size ${JSON.stringify(s)}: a plain byte count must be a whole number`);
  }
  const bytes = Math.floor(Number(num) * mult);
  if (!Number.isSafeInteger(bytes)) throw new Error(`size ${JSON.stringify(s)} is too large`);
  return bytes;
}
