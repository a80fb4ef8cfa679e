/**
 * Fast path for repeated full Istanbul payloads (a plain `coverage-final.json`
 * body scraped or pushed again and again by the same build): a byte-level
 * scanner that recognises each file's structure by hashing its bytes (the
 * file's key plus its object without the `s`/`f`/`b` values), without building
 * any object, and reads only the counters.
 *
 * Contract:
 * - `scan` never guesses. Anything it does not recognise exactly (a structure
 *   not learnt from a payload that passed the full parse and validation,
 *   escapes in a file's own keys, duplicate keys, non-canonical counters,
 *   numbers with a sign, fraction or exponent, values above
 *   MAX_SAFE_INTEGER, anything but JSON whitespace between tokens) makes it
 *   answer `miss`, and the caller takes the slow path (JSON.parse +
 *   decoder + validateDecoded), which gives the errors. So the fast path
 *   returns exactly the split the slow path would (same structure hashes,
 *   same counters, same paths) and never an error of its own.
 * - Only `learn` fills the cache, and only from the validated result of the
 *   slow path on the same bytes.
 * - Memory is bounded: at most `maxFiles` structures are kept (oldest learnt
 *   dropped first).
 */
import { createHash } from 'node:crypto';
import { normalisePath } from './validate.ts';
import { joinFile, splitFile, structureHash, type CoverageMapData, type FileCounters, type FileStructure, type SplitCoverage } from '../model/index.ts';

/** One learnt file: everything its structure bytes stand for. */
interface KnownFile {
  /** The file's key as JSON.parse reads it (for the sniffing rules of `auto`). */
  key: string;
  /** Path the slow path files it under (structure.path). */
  path: string;
  hash: string;
  structure: FileStructure;
  nS: number;
  nF: number;
  /** Locations of each branch, in id order. */
  arms: number[];
}

/** Where one file sits in the body. */
interface FileSpan {
  keyStart: number;
  keyEnd: number;
  digest: string;
  /** [start, end) of the `s`, `f`, `b` values. */
  s: [number, number];
  f: [number, number];
  b: [number, number];
}

/** What `scan` found: the split (hit), or the file index to learn from after the slow path (miss with index), or nothing usable. */
export type ScanResult = { kind: 'hit'; split: SplitCoverage } | { kind: 'miss'; index?: FileSpan[] };

/** Top-level keys that make `auto` read a JSON object as another format (envelope, v8, coveralls, gocovdata). */
const SNIFFED_KEYS = new Set(['format', 'data', 'hits', 'result', 'files', 'source_files', 'meta', 'counters']);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MAX_DIGITS = 15; // below 2^53: anything longer goes the slow way (saturation)

class Miss extends Error {}
const MISS = new Miss('not the fast path');

function ws(buf: Buffer, i: number): number {
  for (;;) {
    const c = buf[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else return i;
  }
}

/** Index just past the string starting at `i` (a quote). */
function skipString(buf: Buffer, i: number): number {
  const n = buf.length;
  for (i++; i < n; i++) {
    const c = buf[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) i++;
  }
  throw MISS;
}

/** Index just past the JSON value starting at `i` (no checking beyond balance: the bytes are compared by hash). */
function skipValue(buf: Buffer, i: number): number {
  const n = buf.length;
  const c = buf[i];
  if (c === QUOTE) return skipString(buf, i);
  if (c !== LBRACE && c !== LBRACKET) {
    for (; i < n; i++) {
      const d = buf[i];
      if (d === COMMA || d === RBRACE || d === RBRACKET || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) return i;
    }
    return i;
  }
  let depth = 0;
  for (; i < n; i++) {
    const d = buf[i];
    if (d === QUOTE) i = skipString(buf, i) - 1;
    else if (d === LBRACE || d === LBRACKET) depth++;
    else if (d === RBRACE || d === RBRACKET) {
      if (--depth === 0) return i + 1;
    }
  }
  throw MISS;
}

/** A plain non-negative integer (no sign, fraction, exponent or leading zero) at `i`; returns [value, next index]. */
function uint(buf: Buffer, i: number): [number, number] {
  const start = i;
  let v = 0;
  for (;;) {
    const c = buf[i];
    if (c === undefined || c < 0x30 || c > 0x39) break; // the end of the body ends the number too
    v = v * 10 + (c - 0x30);
    i++;
  }
  const len = i - start;
  if (len === 0 || len > MAX_DIGITS || (len > 1 && buf[start] === 0x30)) throw MISS;
  return [v, i];
}

/** Expects `"<k>"` (k in decimal, canonical) then `:` at `i`; returns the index after the colon and whitespace. */
function idKey(buf: Buffer, i: number, k: number): number {
  if (buf[i] !== QUOTE) throw MISS;
  const [v, j] = uint(buf, i + 1);
  if (v !== k || buf[j] !== QUOTE) throw MISS;
  i = ws(buf, j + 1);
  if (buf[i] !== COLON) throw MISS;
  return ws(buf, i + 1);
}

/** Reads `{"0":n,"1":n,…}` with exactly `count` entries in id order over [start, end). */
function counterObject(buf: Buffer, start: number, end: number, count: number): number[] {
  let i = start;
  if (buf[i] !== LBRACE) throw MISS;
  i = ws(buf, i + 1);
  const out = scratch;
  for (let k = 0; k < count; k++) {
    if (k > 0) {
      if (buf[i] !== COMMA) throw MISS;
      i = ws(buf, i + 1);
    }
    i = idKey(buf, i, k);
    const [v, j] = uint(buf, i);
    if (k < out.length) out[k] = v;
    else out.push(v);
    i = ws(buf, j);
  }
  if (buf[i] !== RBRACE || i + 1 !== end) throw MISS;
  return out.slice(0, count);
}

/**
 * Counters are read into this one array (overwritten from index 0, never
 * shortened: `length = 0` would give its capacity back) and copied out with
 * slice(0, n): an exact-size packed array (`new Array(n)` filled by index
 * stays "holey" in V8, and stored counters of mixed kinds made every loop
 * over them slower).
 */
const scratch: number[] = [];

/** Reads `{"0":[n,n],…}` with one array per branch, each as long as its branch has locations. */
function branchObject(buf: Buffer, start: number, end: number, arms: number[]): number[][] {
  let i = start;
  if (buf[i] !== LBRACE) throw MISS;
  i = ws(buf, i + 1);
  const out: number[][] = [];
  for (let k = 0; k < arms.length; k++) {
    if (k > 0) {
      if (buf[i] !== COMMA) throw MISS;
      i = ws(buf, i + 1);
    }
    i = idKey(buf, i, k);
    if (buf[i] !== LBRACKET) throw MISS;
    i = ws(buf, i + 1);
    const n = arms[k]!;
    for (let a = 0; a < n; a++) {
      if (a > 0) {
        if (buf[i] !== COMMA) throw MISS;
        i = ws(buf, i + 1);
      }
      const [v, j] = uint(buf, i);
      if (a < scratch.length) scratch[a] = v;
      else scratch.push(v);
      i = ws(buf, j);
    }
    const hits = scratch.slice(0, n);
    if (buf[i] !== RBRACKET) throw MISS;
    out.push(hits);
    i = ws(buf, i + 1);
  }
  if (buf[i] !== RBRACE || i + 1 !== end) throw MISS;
  return out.slice();
}

/** Whether the bytes of [start, end) are exactly the ASCII key `name` (no escapes). */
function isKey(buf: Buffer, start: number, end: number, name: number): boolean {
  return end - start === 3 && buf[start + 1] === name;
}

/**
 * Indexes one file object starting at `i` ('{'): hashes its bytes without the
 * s/f/b values (keyed by the file's key bytes) and records where they are.
 */
function indexFile(buf: Buffer, keyStart: number, keyEnd: number, i: number): { span: FileSpan; next: number } {
  const hash = createHash('sha256');
  hash.update(buf.subarray(keyStart, keyEnd));
  hash.update('\0');
  let segment = i;
  const spans: Partial<Record<'s' | 'f' | 'b', [number, number]>> = {};
  i = ws(buf, i + 1);
  if (buf[i] === RBRACE) throw MISS; // an empty file object is not coverage: the slow path says why
  for (;;) {
    if (buf[i] !== QUOTE) throw MISS;
    const ks = i;
    i = skipString(buf, i);
    for (let k = ks + 1; k < i - 1; k++) if (buf[k] === BACKSLASH) throw MISS; // escaped keys could alias s/f/b
    const ke = i;
    i = ws(buf, i);
    if (buf[i] !== COLON) throw MISS;
    i = ws(buf, i + 1);
    const vs = i;
    i = skipValue(buf, i);
    const which = isKey(buf, ks, ke, 0x73) ? 's' : isKey(buf, ks, ke, 0x66) ? 'f' : isKey(buf, ks, ke, 0x62) ? 'b' : undefined;
    if (which) {
      if (spans[which]) throw MISS; // JSON.parse keeps the last of duplicate keys
      spans[which] = [vs, i];
      hash.update(buf.subarray(segment, vs));
      segment = i;
    }
    i = ws(buf, i);
    if (buf[i] === COMMA) i = ws(buf, i + 1);
    else if (buf[i] === RBRACE) break;
    else throw MISS;
  }
  i++;
  hash.update(buf.subarray(segment, i));
  if (!spans.s || !spans.f || !spans.b) throw MISS;
  return { span: { keyStart, keyEnd, digest: hash.digest('base64'), s: spans.s, f: spans.f, b: spans.b }, next: i };
}

/** Indexes a whole map body: one span per file, or throws MISS. */
function indexBody(buf: Buffer): FileSpan[] {
  let i = 0;
  if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) i = 3; // UTF-8 BOM, dropped by the slow path too
  i = ws(buf, i);
  if (buf[i] !== LBRACE) throw MISS;
  i = ws(buf, i + 1);
  const files: FileSpan[] = [];
  if (buf[i] === RBRACE) throw MISS; // an empty map: the slow path decides (push ingest refuses it)
  for (;;) {
    if (buf[i] !== QUOTE) throw MISS;
    const ks = i;
    i = skipString(buf, i);
    const ke = i;
    i = ws(buf, i);
    if (buf[i] !== COLON) throw MISS;
    i = ws(buf, i + 1);
    if (buf[i] !== LBRACE) throw MISS;
    const { span, next } = indexFile(buf, ks, ke, i);
    files.push(span);
    i = ws(buf, next);
    if (buf[i] === COMMA) i = ws(buf, i + 1);
    else if (buf[i] === RBRACE) break;
    else throw MISS;
  }
  if (ws(buf, i + 1) !== buf.length) throw MISS;
  return files;
}

/** Ids "0".."n-1" exactly (what the fast counter reader expects). */
function dense(obj: Record<string, unknown>): number | undefined {
  let n = 0;
  for (const k in obj) {
    if (k !== String(n)) return undefined;
    n++;
  }
  return n;
}

export interface IstanbulScanner {
  /** Splits `body` from learnt structures, or says it missed (with the index to learn from when the body was a well-formed map). */
  scan(body: Buffer): ScanResult;
  /**
   * Learns the structures of `index` (from `scan` of the same body) from the
   * validated map the slow path returned for it, and returns its split (so
   * the caller need not split again). Returns undefined, learning nothing,
   * when the index and the map do not correspond one to one.
   */
  learn(body: Buffer, index: FileSpan[], validated: CoverageMapData): SplitCoverage | undefined;
  /** Number of structures held. */
  readonly size: number;
}

export interface IstanbulScannerOptions {
  /** Most file structures kept (oldest learnt dropped first). */
  maxFiles?: number;
}

export function createIstanbulScanner(opts: IstanbulScannerOptions = {}): IstanbulScanner {
  const maxFiles = opts.maxFiles ?? 50_000;
  const known = new Map<string, KnownFile>();

  return {
    get size() {
      return known.size;
    },

    scan(body) {
      let index: FileSpan[];
      try {
        index = indexBody(body);
      } catch (err) {
        if (err instanceof Miss) return { kind: 'miss' };
        throw err;
      }
      const structures = new Map<string, FileStructure>();
      const snapshot: SplitCoverage['snapshot'] = {};
      try {
        for (const span of index) {
          const k = known.get(span.digest);
          if (!k || SNIFFED_KEYS.has(k.key) || Object.hasOwn(snapshot, k.path)) return { kind: 'miss', index };
          const counters: FileCounters = {
            s: counterObject(body, span.s[0], span.s[1], k.nS),
            f: counterObject(body, span.f[0], span.f[1], k.nF),
            b: branchObject(body, span.b[0], span.b[1], k.arms),
          };
          structures.set(k.hash, k.structure);
          snapshot[k.path] = { structure: k.hash, counters };
        }
      } catch (err) {
        if (err instanceof Miss) return { kind: 'miss', index };
        throw err;
      }
      return { kind: 'hit', split: { structures, snapshot } };
    },

    learn(body, index, validated) {
      if (Object.keys(validated).length !== index.length) return undefined; // duplicate keys: JSON.parse merged some
      const structures = new Map<string, FileStructure>();
      const snapshot: SplitCoverage['snapshot'] = {};
      const learnt: Array<[string, KnownFile]> = [];
      const seen = new Set<string>();
      for (const span of index) {
        const key = JSON.parse(body.toString('utf8', span.keyStart, span.keyEnd)) as string;
        const outKey = normalisePath(key); // as validateCoverageMap files it
        const data = Object.hasOwn(validated, outKey) ? validated[outKey] : undefined;
        if (!data || seen.has(outKey)) return undefined;
        seen.add(outKey);
        const { structure, counters } = splitFile(outKey, data);
        const hash = structureHash(structure);
        structures.set(hash, structure);
        if (Object.hasOwn(snapshot, structure.path)) return undefined; // two files under one path: the slow path decides which wins
        snapshot[structure.path] = { structure: hash, counters };
        const nS = dense(data.statementMap);
        const nF = dense(data.fnMap);
        const nB = dense(data.branchMap);
        if (nS === undefined || nF === undefined || nB === undefined) continue; // sparse ids: always the slow path
        const arms = Object.values(structure.branchMap).map((m) => m.locations.length);
        learnt.push([span.digest, { key, path: structure.path, hash, structure, nS, nF, arms }]);
      }
      for (const [digest, file] of learnt) {
        known.delete(digest);
        known.set(digest, file);
        if (known.size > maxFiles) known.delete(known.keys().next().value!);
      }
      return { structures, snapshot };
    },
  };
}

/**
 * The Istanbul map a split stands for (what a query would return for it), for
 * callers that want the map itself rather than the split.
 */
export function joinSplit(split: SplitCoverage): CoverageMapData {
  const map: CoverageMapData = {};
  for (const [path, file] of Object.entries(split.snapshot)) map[path] = joinFile(split.structures.get(file.structure)!, file.counters);
  return map;
}
