/**
 * Fast path for counters-only replies (the envelope with `hits`, the most
 * frequent body a gateway reads: every repeat scrape of a known build): one
 * pass over the bytes that reads the counters straight into arrays, without
 * JSON.parse building the object tree, the depth pre-scan, or a second walk to
 * check every counter.
 *
 * Contract (as ./istanbul-scan.ts):
 * - `scanHitsEnvelope` never guesses and never throws. Anything it does not
 *   recognise exactly (a top-level key other than format, instance,
 *   structure, startTime, counters, build and hits; a key given twice; a
 *   counter with a sign, fraction, exponent, leading zero or more than 15
 *   digits; a file object with keys other than s, f, b; raw control
 *   characters in a string; anything but JSON whitespace between tokens;
 *   bytes after the object; a body that is not valid UTF-8) makes it answer `undefined`, and the caller
 *   parses the body the slow way (parseJson + decodeEnvelope +
 *   validateHits), which gives the errors. So for a body it answers, the
 *   result is what JSON.parse would have built, with `hits` already
 *   validated (validateHits returns it as is).
 * - The small metadata values are parsed with JSON.parse on their own bytes.
 *
 * Measured on the bench's counters-only row (1,313 files, 34k counters,
 * 289 kB body): parseJson + validateHits took 6.0 ms per body, this scan
 * 1.9 ms; hand-written because no JSON library reads into typed number
 * arrays without building the tree first.
 */
import { isUtf8 } from 'node:buffer';
import { checkHitsPath, markHitsValidated } from './validate.ts';
import { jsonTooDeep, MAX_COVERAGE_JSON_DEPTH } from './json.ts';
import type { FileCounters } from '../model/index.ts';
import type { PreviousCounters } from './types.ts';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MAX_DIGITS = 15; // below 2^53: anything longer goes the slow way (saturation)

/** Top-level keys of a counters-only envelope (gateway/formats/envelope.ts reads these). */
const META_KEYS = new Set(['format', 'instance', 'structure', 'startTime', 'counters', 'build']);

class Miss extends Error {}
const MISS = new Miss('not the fast path');

/** A cursor over the body; `i` is the next byte. */
class Scan {
  i = 0;
  constructor(readonly buf: Buffer) {}

  ws(): void {
    const buf = this.buf;
    let i = this.i;
    for (;;) {
      const c = buf[i];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
    this.i = i;
  }

  expect(byte: number): void {
    this.ws();
    if (this.buf[this.i] !== byte) throw MISS;
    this.i++;
  }

  /** A string token; its value (JSON.parse of its bytes when it has escapes). */
  string(): string {
    this.ws();
    const buf = this.buf;
    if (buf[this.i] !== QUOTE) throw MISS;
    const start = this.i;
    let escaped = false;
    for (let i = start + 1; i < buf.length; i++) {
      const c = buf[i]!;
      if (c === QUOTE) {
        this.i = i + 1;
        if (!escaped) return buf.toString('utf8', start + 1, i);
        try {
          return JSON.parse(buf.toString('utf8', start, i + 1)) as string;
        } catch {
          throw MISS;
        }
      }
      if (c < 0x20) throw MISS; // raw control characters are not JSON
      if (c === BACKSLASH) {
        escaped = true;
        i++;
      }
    }
    throw MISS;
  }

  /**
   * The string token when its bytes are exactly `known` (a path the gateway
   * already holds, see PreviousCounters.paths): `known` itself, no new string.
   * `undefined`, with the cursor unmoved, for anything else (then `string()`
   * reads it). Only characters that stand for themselves in JSON (printable
   * ASCII other than `"` and `\`) are compared; any other makes it `undefined`.
   */
  knownString(known: string): string | undefined {
    this.ws();
    const buf = this.buf;
    const start = this.i + 1;
    const n = known.length;
    if (buf[this.i] !== QUOTE || start + n >= buf.length || buf[start + n] !== QUOTE) return undefined;
    for (let j = 0; j < n; j++) {
      const c = known.charCodeAt(j);
      if (c !== buf[start + j] || c < 0x20 || c >= 0x7f || c === QUOTE || c === BACKSLASH) return undefined;
    }
    this.i = start + n + 1;
    return known;
  }

  /**
   * `[n, n, …]` of plain non-negative integers: one tight loop over local
   * indices (the hot path). With `prev` (the same array from the target's
   * previous read), values are compared as they are read and, when all are
   * equal, `prev` itself is returned: no array is built for counters that
   * did not move, which on a repeat scrape is most of them.
   */
  counters(prev?: readonly number[]): number[] {
    this.expect(LBRACKET);
    const buf = this.buf;
    const n = buf.length;
    // Until the first value that differs from prev, nothing is copied (`out` stays undefined).
    let out: number[] | undefined = prev ? undefined : [];
    let k = 0;
    let i = this.i;
    while (i < n && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
    if (i < n && buf[i] === RBRACKET) {
      this.i = i + 1;
      return prev && prev.length === 0 ? (prev as number[]) : [];
    }
    // One load per byte (`c` is the byte at `i`, -1 past the end).
    let c = i < n ? buf[i]! : -1;
    for (;;) {
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = ++i < n ? buf[i]! : -1;
      const start = i;
      let v = 0;
      while (c >= 0x30 && c <= 0x39) {
        v = v * 10 + (c - 0x30);
        c = ++i < n ? buf[i]! : -1;
      }
      const len = i - start;
      if (len === 0 || len > MAX_DIGITS || (len > 1 && buf[start] === 0x30)) throw MISS;
      if (out !== undefined) {
        // Past the first difference: prev's copy is overwritten in place (one exact-size
        // array, no growing); only a vector longer than prev grows.
        if (prev !== undefined && k < out.length) out[k] = v;
        else out.push(v);
        k++;
      } else if (k < prev!.length && prev![k] === v) k++;
      else {
        out = prev!.slice();
        if (k < out.length) out[k] = v;
        else out.push(v);
        k++;
      }
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = ++i < n ? buf[i]! : -1;
      if (c === COMMA) {
        c = ++i < n ? buf[i]! : -1;
        continue;
      }
      if (c !== RBRACKET) throw MISS;
      this.i = i + 1;
      if (out === undefined) return k === prev!.length ? (prev as number[]) : prev!.slice(0, k);
      if (prev !== undefined && k === prev.length) return out; // prev's copy, exact size
      // push() leaves spare capacity (up to half again); the newest snapshot keeps these
      // arrays for as long as the target lives, so keep an exact-size copy.
      return out.slice(0, k);
    }
  }

  /** `[[n, …], …]`; `prev` itself when every arm is prev's (see counters). */
  branches(prev?: readonly number[][]): number[][] {
    this.expect(LBRACKET);
    const out: number[][] = [];
    let same = prev !== undefined;
    this.ws();
    if (this.buf[this.i] === RBRACKET) {
      this.i++;
      return same && prev!.length === 0 ? (prev as number[][]) : out;
    }
    for (;;) {
      const arms = this.counters(prev?.[out.length]);
      if (same && arms !== prev![out.length]) same = false;
      out.push(arms);
      this.ws();
      const c = this.buf[this.i++];
      if (c === RBRACKET) return same && out.length === prev!.length ? (prev as number[][]) : out;
      if (c !== COMMA) throw MISS;
    }
  }

  /**
   * `{"s": […], "f": […], "b": [[…]]}` in any order, each once; `b` may be
   * left out (as validateHits allows). `prev` itself when every counter
   * equals prev's.
   */
  file(prev?: FileCounters): FileCounters {
    this.expect(LBRACE);
    let s: number[] | undefined;
    let f: number[] | undefined;
    let b: number[][] | undefined;
    this.ws();
    if (this.buf[this.i] === RBRACE) throw MISS;
    const buf = this.buf;
    for (;;) {
      // The key, one unescaped letter between quotes, read as a byte.
      this.ws();
      const i = this.i;
      if (buf[i] !== QUOTE || buf[i + 2] !== QUOTE) throw MISS;
      const key = buf[i + 1];
      this.i = i + 3;
      this.expect(COLON);
      if (key === 0x73 /* s */ && !s) s = this.counters(prev?.s);
      else if (key === 0x66 /* f */ && !f) f = this.counters(prev?.f);
      else if (key === 0x62 /* b */ && !b) b = this.branches(prev?.b);
      else throw MISS;
      this.ws();
      const c = this.buf[this.i++];
      if (c === RBRACE) break;
      if (c !== COMMA) throw MISS;
    }
    if (!s || !f) throw MISS;
    b ??= prev && prev.b.length === 0 ? prev.b : [];
    return prev && s === prev.s && f === prev.f && b === prev.b ? prev : { s, f, b };
  }

  /** A small metadata value, parsed by JSON.parse on its own bytes (too deep or invalid: the slow path). */
  metaValue(): unknown {
    const [start, end] = this.skipValue();
    const text = this.buf.toString('utf8', start, end);
    if (jsonTooDeep(text, MAX_COVERAGE_JSON_DEPTH)) throw MISS;
    try {
      return JSON.parse(text);
    } catch {
      throw MISS;
    }
  }

  /** The bytes of any JSON value (balanced; checked afterwards by JSON.parse). */
  skipValue(): [number, number] {
    this.ws();
    const buf = this.buf;
    const start = this.i;
    let i = start;
    const c = buf[i];
    if (c === QUOTE) {
      this.string();
      return [start, this.i];
    }
    if (c !== LBRACE && c !== LBRACKET) {
      for (; i < buf.length; i++) {
        const d = buf[i];
        if (d === COMMA || d === RBRACE || d === RBRACKET || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break;
      }
      this.i = i;
      return [start, i];
    }
    let depth = 0;
    for (; i < buf.length; i++) {
      const d = buf[i];
      if (d === QUOTE) {
        this.i = i;
        this.string();
        i = this.i - 1;
      } else if (d === LBRACE || d === LBRACKET) depth++;
      else if (d === RBRACE || d === RBRACKET) {
        if (--depth === 0) {
          this.i = i + 1;
          return [start, this.i];
        }
      }
    }
    throw MISS;
  }
}

/**
 * The top-level envelope object of `buf`, read key by key: `take(key)` reads
 * the value of a key it wants (and says so), a metadata key given once is
 * parsed into `meta`, anything else is a miss; nothing but whitespace may
 * follow. Shared by both envelope scanners below.
 */
function scanEnvelope(scan: Scan, meta: Record<string, unknown>, take: (key: string) => boolean): void {
  const buf = scan.buf;
  scan.expect(LBRACE);
  for (;;) {
    const key = scan.string();
    scan.expect(COLON);
    if (!take(key)) {
      if (META_KEYS.has(key) && !Object.hasOwn(meta, key)) meta[key] = scan.metaValue();
      else throw MISS;
    }
    scan.ws();
    const c = buf[scan.i++];
    if (c === RBRACE) break;
    if (c !== COMMA) throw MISS;
  }
  scan.ws();
  if (scan.i !== buf.length) throw MISS;
}

/** `read()`'s result, or `undefined` when it missed the fast path (a Miss); other errors propagate. */
function orMiss<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if (err instanceof Miss) return undefined;
    throw err;
  }
}

/**
 * The envelope of a counters-only reply, read from its bytes, with `hits`
 * validated; `undefined` for anything else (see the contract above).
 */
export function scanHitsEnvelope(buf: Buffer, previous?: PreviousCounters): Record<string, unknown> | undefined {
  if (!isUtf8(buf)) return undefined; // the slow path names it (asText)
  const scan = new Scan(buf);
  const expected = previous?.paths;
  return orMiss(() => {
    const envelope: Record<string, unknown> = {};
    let hits: Record<string, FileCounters> | undefined;
    scanEnvelope(scan, envelope, (key) => {
      if (key !== 'hits') return false;
      if (hits) throw MISS;
      hits = {};
      scan.expect(LBRACE);
      scan.ws();
      if (buf[scan.i] === RBRACE) {
        scan.i++;
        return true;
      }
      for (let m = 0; ; m++) {
        // Checked and normalised as validateHits does; a refused path, or two keys that are
        // one path (normalised or repeated), go the slow way, which names the problem.
        // The path the gateway holds at this position is compared byte by byte (a repeat
        // scrape lists the same files in the same order); still checked (a cache hit).
        const known = expected !== undefined && m < expected.length ? scan.knownString(expected[m]!) : undefined;
        const path = checkHitsPath(known ?? scan.string());
        if (path === undefined || Object.hasOwn(hits, path) || path === '__proto__') throw MISS;
        scan.expect(COLON);
        hits[path] = scan.file(previous?.(path));
        scan.ws();
        const c = buf[scan.i++];
        if (c === RBRACE) return true;
        if (c !== COMMA) throw MISS;
      }
    });
    if (!hits) return undefined;
    envelope.hits = markHitsValidated(hits);
    return envelope;
  });
}

/**
 * A full-data envelope (`format` "istanbul", `data` an object) split into its
 * metadata (parsed, as JSON.parse would) and the bytes of `data`, so the
 * Istanbul byte scanner (./istanbul-scan.ts) can read a known build's
 * counters without the envelope being parsed: an exporter's first reply to a
 * gateway carries its whole map, and a fleet of one build sends the same
 * structures once per target. `undefined` for anything else, under the same
 * contract as scanHitsEnvelope (the slow path decides and names problems).
 */
export function scanIstanbulEnvelope(buf: Buffer): { meta: Record<string, unknown>; data: Buffer } | undefined {
  if (!isUtf8(buf)) return undefined;
  const scan = new Scan(buf);
  return orMiss(() => {
    const meta: Record<string, unknown> = {};
    let data: [number, number] | undefined;
    scanEnvelope(scan, meta, (key) => {
      if (key !== 'data') return false;
      if (data) throw MISS;
      scan.ws();
      if (buf[scan.i] !== LBRACE) throw MISS;
      data = scan.skipValue();
      return true;
    });
    if (!data || meta.format !== 'istanbul') return undefined;
    return { meta, data: buf.subarray(data[0], data[1]) };
  });
}
