/**
 * Prometheus duration strings (`model.Duration`), used for the
 * `__scrape_interval__` / `__scrape_timeout__` labels so relabeling sees and
 * may set them exactly as a Prometheus user writes them.
 */

const UNITS: ReadonlyArray<[unit: string, ms: number, exact: boolean]> = [
  ['y', 365 * 24 * 3600_000, true],
  ['w', 7 * 24 * 3600_000, true],
  ['d', 24 * 3600_000, false],
  ['h', 3600_000, false],
  ['m', 60_000, false],
  ['s', 1000, false],
  ['ms', 1, false],
];

/** Formats milliseconds like Prometheus: 15000 → "15s", 90000 → "1m30s", 0 → "0s". */
export function formatDuration(ms: number): string {
  let rest = Math.trunc(ms);
  if (rest <= 0) return '0s';
  let out = '';
  for (const [unit, mult, exact] of UNITS) {
    // Years and weeks only when exact: "90d" reads better than "12w6d".
    if (exact && rest % mult !== 0) continue;
    const v = Math.floor(rest / mult);
    if (v > 0) {
      out += `${v}${unit}`;
      rest -= v * mult;
    }
  }
  return out;
}

const DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** Parses a Prometheus duration to milliseconds; `undefined` when malformed. "0" is zero. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (text === '') return undefined;
  const m = DURATION_RE.exec(text);
  if (m === null) return undefined;
  let ms = 0;
  UNITS.forEach(([, mult], i) => {
    const v = m[i + 1];
    if (v !== undefined) ms += Number(v) * mult;
  });
  return Number.isSafeInteger(ms) ? ms : undefined;
}
