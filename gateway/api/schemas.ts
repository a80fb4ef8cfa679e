/**
 * Schemas of the API's JSON request bodies (sessions, selectors,
 * registrations), one per shape, checked where the body is read. Coverage
 * payloads have theirs in gateway/formats/validate.ts. A body that fails
 * answers 400 naming the field; nothing is called with it.
 */
import { z } from 'zod';
import { errors } from '../errors.ts';
import { LABEL_NAME_RE as LABEL_NAME } from '../model/labels.ts';

const MAX_VALUE = 1024;

export const labelName = z
  .string()
  .max(256)
  .regex(LABEL_NAME, { error: (i) => `label name ${JSON.stringify(i.input)} is not a valid Prometheus label name` })
  .refine((n) => !n.startsWith('__'), { error: (i) => `label name ${JSON.stringify(i.input)} is reserved (names starting with "__" are internal)` });

const scalar = z.union([z.string().max(MAX_VALUE), z.number(), z.boolean()], {
  error: (i) => `expected a string (or number/boolean) of at most ${MAX_VALUE} characters, got ${i.input === null ? 'null' : Array.isArray(i.input) ? 'an array' : typeof i.input}`,
});

/** A selector as JSON: label name → value or list of values ("any of"); no nesting. */
export const selectorSchema = z.record(labelName, z.union([scalar, z.array(scalar).max(1000)]).nullable().optional(), {
  error: 'must be an object of label name → value or list of values',
});

/** Session labels: label name → string (numbers and booleans are written as strings). */
export const sessionLabelsSchema = z.record(labelName, scalar, { error: 'must be an object of label name → string' });

/** Body of POST /test-started and /test-finished. Unknown fields are ignored. */
export const sessionBodySchema = z.looseObject({
  session: z.string().max(200).nullable().optional(),
  labels: sessionLabelsSchema.nullable().optional(),
  selector: selectorSchema.nullable().optional(),
  wait: z.union([z.boolean(), z.enum(['true', 'false'])]).optional(),
});

/** Body of POST /api/v1/targets; the registry checks each field's content further. */
export const registrationBodySchema = z.looseObject({
  // Optional here so that a missing field gets the registry's own message.
  job: z.string().max(256).optional(),
  url: z.string().max(4096).optional(),
  labels: z.record(z.string(), z.unknown()).nullable().optional(),
  ttl: z.union([z.string().max(64), z.number()]).nullable().optional(),
  /** Build info, as in the envelope; `diff` (+ `diff_base`) is the unified diff that led to `commit`. */
  build: z.record(z.string(), z.string()).optional(),
});

/** Body of POST /api/v1/scrape and /api/v1/clear: an optional selector (the body itself). */
export const selectorBodySchema = selectorSchema;

/** Parses `value` with `schema` or throws COVGATE_BAD_DATA naming the first bad field (`what` prefixes it). */
export function parseBody<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  throw errors.badData(`${what}${field}: ${issue.message}`);
}
