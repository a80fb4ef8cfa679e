/**
 * A selector picks targets or sessions by labels: every key must match, a
 * key's values are alternatives ("any of"), as in `test_type=AT,MT`.
 */
import { errors } from '../errors.ts';

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
  if (typeof input !== 'object' || Array.isArray(input)) throw errors.badData('selector must be an object of label name → value(s)');
  for (const [key, raw] of Object.entries(input)) {
    if (NON_LABEL_PARAMS.has(key) || key.startsWith(SECOND_SELECTOR_PREFIX) || raw === undefined || raw === null) continue;
    // Never String() a nested value (a deeply nested array overflowed the stack), never assign __proto__.
    if (key === '__proto__' || key.length > 256) throw errors.badData(`selector: ${JSON.stringify(key.slice(0, 64))} is not a label name`);
    const list = Array.isArray(raw) ? raw : [raw];
    for (const v of list) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
        throw errors.badData(`selector.${key}: values must be strings (or a list of strings), got ${v === null ? 'null' : Array.isArray(v) ? 'a nested array' : typeof v}`);
      }
    }
    const parts = list.flatMap((v) => String(v).split(','));
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
