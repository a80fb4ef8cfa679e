/**
 * The boundary of everything a target or a pusher sends: one zod schema per
 * payload shape, applied to every decoder's output (istanbul, v8, lcov,
 * cobertura, gocover, coveralls, the covgate envelope and its counters-only
 * `hits`) by `decodePayload`, the single entry point of scrapes and push
 * ingest. Nothing reaches the store that did not pass here, so one bad
 * payload can never poison `/`, the reports or the metrics of everybody else.
 *
 * What it promises about a returned payload:
 * - counters are finite non-negative integers (floats, strings, booleans,
 *   negatives refused; values above Number.MAX_SAFE_INTEGER saturate there);
 * - structure entries have Istanbul's shape (ranges of integer line/column,
 *   functions with a name and a location, branches with their locations);
 * - `s`/`f`/`b` have exactly the keys of their maps and each `b` entry as many
 *   arms as its branch has locations;
 * - file paths are well-formed Unicode (the body itself was valid UTF-8),
 *   without control characters (NUL, newlines: they would forge LCOV
 *   records), at most MAX_PATH_LENGTH long, without `..` segments, not an
 *   Object.prototype name (`__proto__`, `constructor`, …), and relative
 *   paths are normalised (`./a//b` → `a/b`).
 * A violation throws COVGATE_BAD_COVERAGE naming the file and the field.
 */
import { z } from 'zod';
import type { CoverageMapData, FileCounters } from '../model/index.ts';
import { errors } from '../errors.ts';
import { shownCount } from './builder.ts';
import type { Decoded } from './types.ts';

export const MAX_PATH_LENGTH = 4096;
/** Longest instance, structure id, build key or value an exporter may send. */
export const MAX_META_LENGTH = 1024;

/** Names that behave specially as plain-object keys; never accepted as a file path. */
const RESERVED_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));
// Control characters (C0, DEL, C1) and lone surrogates (not encodable as UTF-8).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `path` is not acceptable as a covered file's name, or undefined when it is. */
export function pathProblem(path: string): string | undefined {
  if (path.length === 0) return 'is empty';
  if (path.length > MAX_PATH_LENGTH) return `is ${path.length} characters long (at most ${MAX_PATH_LENGTH})`;
  if (CONTROL.test(path)) return 'contains a control character (NUL, newline, …)';
  if (LONE_SURROGATE.test(path)) return 'is not valid UTF-8 (lone surrogate)';
  if (RESERVED_NAMES.has(path)) return 'is a reserved name';
  if (path.split(/[/\\]/).includes('..')) return 'has a ".." segment';
  return undefined;
}

/**
 * A relative path with `.` segments and repeated separators removed; absolute
 * paths, URLs and Windows paths are kept as sent (they name a file already).
 */
export function normalisePath(path: string): string {
  if (path.startsWith('/') || /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(path) || path.includes('\\')) return path;
  if (!path.includes('./') && !path.includes('//') && !path.endsWith('/.')) return path;
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  return parts.join('/');
}

// --- schemas --------------------------------------------------------------

/**
 * A hit count. The schema checks the type and sign; integer-ness and the
 * saturation at MAX_SAFE_INTEGER are checked in one loop in `checkFile`
 * (zod's `.int()` would refuse, not saturate, 1e308; a refine per counter
 * doubled the cost of a 7 MB payload).
 */
const counter = z.number({ error: (i) => `hit count must be a non-negative integer, got ${shownCount(i.input)}` }).nonnegative({
  error: (i) => `hit count must be a non-negative integer, got ${shownCount(i.input)}`,
});

// Entries keep unknown keys (looseObject), like the fast path below that
// returns valid entries as sent.
const position = z.looseObject({
  line: z.number().int().nonnegative(),
  // Istanbul writes null (or leaves out) unknown end columns.
  column: z.number().int().nonnegative().nullable().optional(),
});
const range = z.looseObject({ start: position, end: position, skip: z.boolean().optional() });
/** A branch arm's location: nyc writes `{start: {}, end: {}}` for the missing else of an `if`. */
const optionalPosition = z.looseObject({
  line: z.number().int().nonnegative().optional(),
  column: z.number().int().nonnegative().nullable().optional(),
});
const armRange = z.looseObject({ start: optionalPosition, end: optionalPosition });

const fnMapping = z.looseObject({
  name: z.string().max(MAX_PATH_LENGTH),
  decl: range.optional(),
  loc: range,
  line: z.number().int().nonnegative().optional(),
  skip: z.boolean().optional(),
});

const branchMapping = z.looseObject({
  type: z.string().max(256),
  loc: range.optional(),
  locations: z.array(armRange),
  line: z.number().int().nonnegative().optional(),
  skip: z.boolean().optional(),
});

const plainObject = z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), { error: 'expected an object' });

/**
 * One Istanbul FileCoverage: the file level here, each map entry by
 * `entrySchemas` in `checkFile`. (A zod record walked per entry is ~10x
 * slower than this loop over compiled object schemas on a 7 MB payload.)
 */
export const fileCoverageSchema = z.looseObject({
  path: z.string().optional(),
  statementMap: plainObject,
  fnMap: plainObject,
  branchMap: plainObject,
  s: plainObject,
  f: plainObject,
  b: plainObject,
});
const entrySchemas = { statementMap: range, fnMap: fnMapping, branchMap: branchMapping } as const;

// Fast path. Hand-written predicates that accept a strict subset of what the
// schemas above accept (every field checked the same way, nothing looser):
// a valid entry is taken as sent without zod allocating a copy of it, and
// anything the predicate does not recognise goes through the zod schema,
// which decides and names what is wrong. Zod alone made the ingest of a
// 7 MB payload ~2x slower (scripts/bench/validate.ts).
const isUint = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isPos = (p: unknown): boolean => {
  if (typeof p !== 'object' || p === null) return false;
  const { line, column } = p as { line?: unknown; column?: unknown };
  return isUint(line) && (column === undefined || column === null || isUint(column));
};
const isArmPos = (p: unknown): boolean => {
  if (typeof p !== 'object' || p === null) return false;
  const { line, column } = p as { line?: unknown; column?: unknown };
  return (line === undefined || isUint(line)) && (column === undefined || column === null || isUint(column));
};
const isRange = (r: unknown): boolean => {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return false;
  const { start, end, skip } = r as { start?: unknown; end?: unknown; skip?: unknown };
  return isPos(start) && isPos(end) && (skip === undefined || typeof skip === 'boolean');
};
const isArmRange = (r: unknown): boolean => {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return false;
  const { start, end } = r as { start?: unknown; end?: unknown };
  return isArmPos(start) && isArmPos(end);
};
const fastEntry = {
  statementMap: isRange,
  fnMap: (e: unknown): boolean => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return false;
    const { name, decl, loc, line, skip } = e as Record<string, unknown>;
    return typeof name === 'string' && name.length <= MAX_PATH_LENGTH && isRange(loc) && (decl === undefined || isRange(decl)) && (line === undefined || isUint(line)) && (skip === undefined || typeof skip === 'boolean');
  },
  branchMap: (e: unknown): boolean => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return false;
    const { type, loc, locations, line, skip } = e as Record<string, unknown>;
    if (typeof type !== 'string' || type.length > 256 || !Array.isArray(locations)) return false;
    for (const l of locations) if (!isArmRange(l)) return false;
    return (loc === undefined || isRange(loc)) && (line === undefined || isUint(line)) && (skip === undefined || typeof skip === 'boolean');
  },
} as const;

/** One file of a counters-only reply (`hits`). */
export const fileHitsSchema = z.strictObject({
  s: z.array(counter).default([]),
  f: z.array(counter).default([]),
  b: z.array(z.array(counter)).default([]),
});

const metaString = z
  .string()
  .min(1)
  .max(MAX_META_LENGTH)
  .refine((v) => !CONTROL.test(v) && !LONE_SURROGATE.test(v), { error: 'must not contain control characters or lone surrogates' });

/** What the envelope (or X-Coverage-Instance) says about the process. */
export const processMetaSchema = z.object({
  instance: metaString.optional(),
  structureId: metaString.optional(),
  startTime: metaString.optional(),
  // `diff` is the unified diff that led to the build (checked as a diff where it is stored, diff/build-diffs.ts); the payload's body limit bounds it.
  build: z
    .record(metaString, z.string())
    .superRefine((b, ctx) => {
      for (const [k, v] of Object.entries(b)) {
        if (k !== 'diff' && v.length > MAX_META_LENGTH) ctx.addIssue({ code: 'custom', path: [k], message: `must be at most ${MAX_META_LENGTH} characters` });
      }
    })
    .optional(),
});

// --- checks ---------------------------------------------------------------

function describeIssue(where: string, err: z.ZodError): string {
  const issue = err.issues[0]!;
  const field = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(String(p)) ? `.${String(p)}` : `[${JSON.stringify(String(p))}]`)).join('');
  return `${where}${field}: ${issue.message}`;
}

/** An integer hit count, saturated at MAX_SAFE_INTEGER. */
function integer(n: number, where: string): number {
  if (!Number.isInteger(n)) throw errors.badCoverage(`${where}: hit count must be a non-negative integer, got ${n}`);
  return n > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : n;
}

type FileData = z.infer<typeof fileCoverageSchema>;

/** A hit count saturated at MAX_SAFE_INTEGER, or undefined when `value` is not a non-negative integer. */
function count(value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) return undefined;
  return value > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : value;
}

function badCount(where: string, field: string, value: unknown): never {
  throw errors.badCoverage(`${where}: ${field}: hit count must be a non-negative integer, got ${shownCount(value)}`);
}

/**
 * Checks every entry of one file's maps and counters, in place: entries only
 * the schema accepted are replaced by what it parsed, counters above
 * MAX_SAFE_INTEGER are saturated, and nothing else is copied (building a
 * copy of every map and counter was a third of the validation of a 7 MB
 * payload). Messages are built only on failure: this loop runs for every
 * statement of every payload.
 */
function checkFile(where: () => string, file: FileData): FileData {
  for (const [mapName, countName] of [['statementMap', 's'], ['fnMap', 'f'], ['branchMap', 'b']] as const) {
    const map = file[mapName];
    const counts = file[countName];
    const schema = entrySchemas[mapName];
    const fast = fastEntry[mapName];
    let n = 0;
    for (const id in map) {
      n++;
      if (id === '__proto__') throw errors.badCoverage(`${where()}: ${mapName} must not have an id "__proto__"`);
      let entry = map[id];
      if (!fast(entry)) {
        const parsed = schema.safeParse(entry);
        if (!parsed.success) throw errors.badCoverage(describeIssue(`${where()}: ${mapName}[${JSON.stringify(id)}]`, parsed.error));
        map[id] = entry = parsed.data;
      }
      if (!Object.hasOwn(counts, id)) throw errors.badCoverage(`${where()}: ${mapName}[${JSON.stringify(id)}] has no counter in "${countName}"`);
      const c = counts[id];
      if (countName === 'b') {
        const arms = (entry as { locations: unknown[] }).locations.length;
        if (!Array.isArray(c)) throw errors.badCoverage(`${where()}: b[${JSON.stringify(id)}]: expected an array of hit counts, got ${JSON.stringify(c)}`);
        if (c.length !== arms) throw errors.badCoverage(`${where()}: b[${JSON.stringify(id)}] has ${c.length} counters but branchMap[${JSON.stringify(id)}] has ${arms} locations`);
        for (let i = 0; i < arms; i++) {
          const v: unknown = c[i];
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) badCount(where(), `b[${JSON.stringify(id)}][${i}]`, v);
          if (v > Number.MAX_SAFE_INTEGER) c[i] = Number.MAX_SAFE_INTEGER;
        }
      } else {
        const v: unknown = c;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) badCount(where(), `${countName}[${JSON.stringify(id)}]`, v);
        if (v > Number.MAX_SAFE_INTEGER) counts[id] = Number.MAX_SAFE_INTEGER;
      }
    }
    if (Object.keys(counts).length !== n) {
      for (const id in counts) if (!Object.hasOwn(map, id)) throw errors.badCoverage(`${where()}: ${countName}[${JSON.stringify(id)}] counts nothing in "${mapName}"`);
    }
  }
  return file;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The file level of fileCoverageSchema as a predicate (a strict subset): a plainly valid file is checked in place, anything else by the schema. */
function fastFile(raw: unknown): raw is FileData {
  // Plain data only: a class instance (istanbul-lib-coverage's FileCoverage has getters) goes through the schema, which copies it.
  if (!isPlainObject(raw)) return false;
  const proto: unknown = Object.getPrototypeOf(raw);
  if (proto !== Object.prototype && proto !== null) return false;
  const { path, statementMap, fnMap, branchMap, s, f, b } = raw;
  return (
    (path === undefined || typeof path === 'string') &&
    isPlainObject(statementMap) &&
    isPlainObject(fnMap) &&
    isPlainObject(branchMap) &&
    isPlainObject(s) &&
    isPlainObject(f) &&
    isPlainObject(b)
  );
}

/**
 * Paths that passed `checkPath`, with their normalised form: every scrape of a
 * target names the same files again, and checking a path costs more than
 * reading its counters. Bounded (emptied when full).
 */
const checkedPaths = new Map<string, string>();
const MAX_CHECKED_PATHS = 200_000;

function checkPath(path: string, what: string): string {
  const known = checkedPaths.get(path);
  if (known !== undefined) return known;
  const problem = pathProblem(path);
  if (problem) throw errors.badCoverage(`${what} ${JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path)} ${problem}`);
  const normal = normalisePath(path);
  if (checkedPaths.size >= MAX_CHECKED_PATHS) checkedPaths.clear();
  checkedPaths.set(path, normal);
  return normal;
}

export interface ValidateOptions {
  /** Refuse a payload without any file (push ingest: an empty push is a mistake; a scrape may find nothing loaded yet). */
  requireFiles?: boolean;
}

/**
 * Validates an Istanbul coverage map (any decoder's output) and returns it
 * with paths normalised and counters saturated: a fresh map of the input's
 * file objects, which are checked and corrected in place (the input is the
 * caller's to give up). Throws COVGATE_BAD_COVERAGE naming the file and field.
 */
export function validateCoverageMap(map: unknown, opts: ValidateOptions = {}): CoverageMapData {
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw errors.badCoverage(`expected a coverage map (object of path → file coverage), got ${Array.isArray(map) ? 'an array' : map === null ? 'null' : typeof map}`);
  }
  const out: CoverageMapData = {};
  for (const [key, raw] of Object.entries(map as Record<string, unknown>)) {
    const path = checkPath(key, 'file');
    const where = () => `file ${JSON.stringify(path)}`;
    let file: FileData;
    if (fastFile(raw)) file = raw;
    else {
      const parsed = fileCoverageSchema.safeParse(raw);
      if (!parsed.success) throw errors.badCoverage(describeIssue(where(), parsed.error));
      file = parsed.data;
    }
    if (file.path !== undefined && file.path !== '') file.path = checkPath(file.path, `${where()}: path`);
    const checked = checkFile(where, file);
    if (Object.hasOwn(out, path)) throw errors.badCoverage(`${where()}: two files name the same path once normalised`);
    out[path] = checked as unknown as CoverageMapData[string];
  }
  if (opts.requireFiles && Object.keys(out).length === 0) throw errors.badCoverage('the coverage payload names no file (an empty map)');
  return out;
}

/** Saturated non-negative integer counters (`arr` itself when none saturates), or undefined when one is anything else. */
function fastCounters(arr: unknown): number[] | undefined {
  if (arr === undefined) return [];
  if (!Array.isArray(arr)) return undefined;
  let out = arr as number[];
  for (let i = 0; i < arr.length; i++) {
    const v: unknown = arr[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return undefined;
    if (v > Number.MAX_SAFE_INTEGER) {
      if (out === arr) out = arr.slice() as number[];
      out[i] = Number.MAX_SAFE_INTEGER;
    }
  }
  return out;
}

/**
 * One file of `hits` when it is plainly valid (only s/f/b, arrays of
 * non-negative integers), else undefined: the schema then finds and names the
 * problem. Counters-only replies arrive every scrape interval from every
 * target, and the schema walk costs more than everything else they need.
 */
function fastHits(raw: unknown): FileCounters | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  for (const k in raw) if (k !== 's' && k !== 'f' && k !== 'b') return undefined;
  const r = raw as { s?: unknown; f?: unknown; b?: unknown };
  const s = fastCounters(r.s);
  const f = fastCounters(r.f);
  if (!s || !f) return undefined;
  if (r.b === undefined) return { s, f, b: [] };
  if (!Array.isArray(r.b)) return undefined;
  const b = new Array<number[]>(r.b.length);
  for (let i = 0; i < r.b.length; i++) {
    const arms = fastCounters(r.b[i]);
    if (!arms || r.b[i] === undefined) return undefined;
    b[i] = arms;
  }
  return { s, f, b };
}

/** `hits` objects validateHits returned: validating one again (decodeEnvelope, then validateDecoded) is a no-op. */
const validatedHits = new WeakSet<object>();

/** Validates a counters-only `hits` object: path → {s, f, b}. */
export function validateHits(hits: unknown, opts: ValidateOptions = {}): Record<string, FileCounters> {
  if (typeof hits !== 'object' || hits === null || Array.isArray(hits)) throw errors.badCoverage('covgate envelope: "hits" must be an object of path → {s, f, b}');
  if (validatedHits.has(hits) && !(opts.requireFiles && Object.keys(hits).length === 0)) return hits as Record<string, FileCounters>;
  const out: Record<string, FileCounters> = {};
  for (const [key, raw] of Object.entries(hits as Record<string, unknown>)) {
    const path = checkPath(key, 'covgate envelope hits: file');
    const fast = fastHits(raw);
    if (fast) {
      if (Object.hasOwn(out, path)) throw errors.badCoverage(`covgate envelope hits[${JSON.stringify(path)}]: two files name the same path once normalised`);
      out[path] = fast;
      continue;
    }
    const parsed = fileHitsSchema.safeParse(raw);
    if (!parsed.success) throw errors.badCoverage(describeIssue(`covgate envelope hits[${JSON.stringify(path)}]`, parsed.error));
    const { s, f, b } = parsed.data;
    if (Object.hasOwn(out, path)) throw errors.badCoverage(`covgate envelope hits[${JSON.stringify(path)}]: two files name the same path once normalised`);
    const where = `covgate envelope hits[${JSON.stringify(path)}]`;
    out[path] = { s: s.map((n, i) => integer(n, `${where}.s[${i}]`)), f: f.map((n, i) => integer(n, `${where}.f[${i}]`)), b: b.map((arms, j) => arms.map((n, i) => integer(n, `${where}.b[${j}][${i}]`))) };
  }
  if (opts.requireFiles && Object.keys(out).length === 0) throw errors.badCoverage('the coverage payload names no file (empty "hits")');
  validatedHits.add(out);
  return out;
}

/** For ./hits-scan.ts: a `hits` key checked and normalised as validateHits does, or `undefined` when refused. */
export function checkHitsPath(key: string): string | undefined {
  try {
    return checkPath(key, 'covgate envelope hits: file');
  } catch {
    return undefined;
  }
}

/**
 * For ./hits-scan.ts: marks as validated a `hits` object whose paths came
 * through checkHitsPath (each once) and whose counters are plain
 * non-negative integers below 2^53, so validateHits returns it as is.
 */
export function markHitsValidated(hits: Record<string, FileCounters>): Record<string, FileCounters> {
  validatedHits.add(hits);
  return hits;
}

/** Checks what a payload said about its process (instance, structure id, start time, build). */
export function validateMeta(decoded: Decoded): void {
  const meta = processMetaSchema.safeParse({ instance: decoded.instance, structureId: decoded.structureId, startTime: decoded.startTime, build: decoded.build });
  if (!meta.success) throw errors.badCoverage(describeIssue('coverage payload metadata', meta.error));
}

/** Validates everything a decoder returned; the one check between decoding and ingest. */
export function validateDecoded(decoded: Decoded, opts: ValidateOptions = {}): Decoded {
  validateMeta(decoded);
  if (decoded.hits !== undefined) return { ...decoded, hits: validateHits(decoded.hits, opts) };
  // gocovdata counters-only: hits exist only once ingest resolves them against the stored structure (validated there)
  if (decoded.resolveHits && decoded.coverage === undefined) return decoded;
  return { ...decoded, coverage: validateCoverageMap(decoded.coverage ?? {}, opts) };
}
