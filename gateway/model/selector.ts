/**
 * A selector picks targets or sessions by labels: every key must match, a
 * key's values are alternatives ("any of"), as in `test_type=AT,MT`.
 */
export type Selector = Record<string, string[]>;

/** Query keys that are parameters of an endpoint, never label matchers. */
export const NON_LABEL_PARAMS = new Set(['format', 'wait', 'state', 'download', 'limit']);

/**
 * Builds a selector from query parameters or a JSON object. Values may be a
 * string (comma = any of), an array of strings, or (JSON) numbers/booleans.
 */
export function parseSelector(input: Record<string, unknown> | undefined | null): Selector {
  const out: Selector = {};
  if (!input) return out;
  for (const [key, raw] of Object.entries(input)) {
    if (NON_LABEL_PARAMS.has(key) || raw === undefined || raw === null) continue;
    const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => String(v).split(','));
    const values = parts.map((v) => v.trim()).filter((v) => v !== '');
    if (values.length > 0) out[key] = [...new Set([...(out[key] ?? []), ...values])];
  }
  return out;
}

/** Whether `labels` satisfy every key of `selector` restricted to `keys` (all keys when omitted). */
export function matchesSelector(labels: Record<string, string>, selector: Selector, keys?: Iterable<string>): boolean {
  for (const key of keys ?? Object.keys(selector)) {
    const values = selector[key];
    if (!values) continue;
    const v = labels[key];
    if (v === undefined || !values.includes(v)) return false;
  }
  return true;
}

export function selectorToString(selector: Selector): string {
  return Object.entries(selector)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v.join(',')}`)
    .join('&');
}
