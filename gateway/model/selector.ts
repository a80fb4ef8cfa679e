/**
 * A selector picks targets or sessions by labels: every key must match, a
 * key's values are alternatives ("any of"), as in `test_type=AT,MT`.
 */
export type Selector = Record<string, string[]>;

/** Query keys that are parameters of an endpoint, never label matchers. */
export const NON_LABEL_PARAMS = new Set(['format', 'wait', 'state', 'download', 'limit', 'op', 'carry']);

/**
 * Prefix of the second selector of a set operation (`op=subtract&b.test_type=AT`).
 * Label names cannot contain '.', so a `b.` key is never a label of the first selector.
 */
export const SECOND_SELECTOR_PREFIX = 'b.';

/**
 * Builds a selector from query parameters or a JSON object. Values may be a
 * string (comma = any of), an array of strings, or (JSON) numbers/booleans.
 */
export function parseSelector(input: Record<string, unknown> | undefined | null): Selector {
  const out: Selector = {};
  if (!input) return out;
  for (const [key, raw] of Object.entries(input)) {
    if (NON_LABEL_PARAMS.has(key) || key.startsWith(SECOND_SELECTOR_PREFIX) || raw === undefined || raw === null) continue;
    const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => String(v).split(','));
    const values = parts.map((v) => v.trim()).filter((v) => v !== '');
    if (values.length > 0) out[key] = [...new Set([...(out[key] ?? []), ...values])];
  }
  return out;
}

/** The second selector of a set operation: the `b.`-prefixed keys, prefix removed (empty when there are none). */
export function parseSecondSelector(input: Record<string, unknown> | undefined | null): Selector {
  const inner: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(input ?? {})) {
    if (key.startsWith(SECOND_SELECTOR_PREFIX)) inner[key.slice(SECOND_SELECTOR_PREFIX.length)] = raw;
  }
  return parseSelector(inner);
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
