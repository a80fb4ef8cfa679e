/**
 * Packed binary snapshot values. A lifetime's snapshot history is a chain:
 * a keyframe (every file, every counter) followed by deltas that hold only the
 * counters that changed since the previous snapshot. A repeat scrape of a
 * 4k-statement service where a request touched a few dozen counters costs
 * tens of bytes instead of the ~38 kB of its cumulative JSON.
 *
 * Hand-written rather than a schema library (protobuf, msgpack): the values
 * are runs of small non-negative integers addressed by index, and LEB128
 * varints over a flat index space are both the smallest encoding and a
 * single tight loop to write and read; msgpack would still spell every
 * counter of a delta's files, protobuf would need a generated schema for a
 * nested array shape.
 *
 * Layout (all integers unsigned LEB128, counters up to 2^53 - 1):
 *   value   := kind:u8 (1 keyframe | 2 delta) nFiles file*
 *   file    := name mode:u8 body
 *   name    := pathLen path                 (keyframe)
 *            | 0 pathLen path | index + 1   (delta: a new file by path, a known one by
 *                                            its position in the snapshot before it)
 *   mode 0 (full):    hashLen hash nS nF nB armCount{nB} counter{nS + nF + Σarms}
 *   mode 1 (changes): nChanges (indexGap value){nChanges}   indexes into the flat
 *                     s ++ f ++ b[0] ++ b[1] ... space, ascending, gap-coded
 * A delta lists only files whose counters changed; a file new to the lifetime
 * or whose structure changed is written in full (mode 0). Positions are those
 * of `Object.keys` of the snapshot before: a delta is written only when the
 * next snapshot keeps the previous files first and in order (what the store's
 * `{ ...prev, ...new }` gives), so the decoder rebuilds the same key order;
 * otherwise `encodeNext` writes a keyframe.
 */
import type { FileCounters, FileSnapshot, Snapshot } from '../model/index.ts';

export const KEYFRAME = 1;
export const DELTA = 2;

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

class Writer {
  buf = new Uint8Array(256);
  n = 0;
  private grow(extra: number): void {
    if (this.n + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }
  byte(b: number): void {
    this.grow(1);
    this.buf[this.n++] = b;
  }
  uint(v: number): void {
    this.grow(8);
    // Bitwise operations only while the value fits 31 bits; larger counters (up to 2^53) by division.
    while (v > 0x7f) {
      if (v < 0x80000000) {
        this.buf[this.n++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      } else {
        this.buf[this.n++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
    }
    this.buf[this.n++] = v;
  }
  str(s: string): void {
    const bytes = utf8.encode(s);
    this.uint(bytes.length);
    this.grow(bytes.length);
    this.buf.set(bytes, this.n);
    this.n += bytes.length;
  }
  done(): Buffer {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset, this.n);
  }
}

class Reader {
  i = 0;
  constructor(private readonly buf: Uint8Array) {}
  byte(): number {
    if (this.i >= this.buf.length) throw new Error('packed snapshot truncated');
    return this.buf[this.i++]!;
  }
  uint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = this.byte();
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
      if (mul > 2 ** 56) throw new Error('packed snapshot: varint too long');
    }
  }
  str(): string {
    const len = this.uint();
    if (this.i + len > this.buf.length) throw new Error('packed snapshot truncated');
    const s = utf8d.decode(this.buf.subarray(this.i, this.i + len));
    this.i += len;
    return s;
  }
  get atEnd(): boolean {
    return this.i >= this.buf.length;
  }
}

function writeFull(w: Writer, f: FileSnapshot): void {
  w.byte(0);
  w.str(f.structure);
  const c = f.counters;
  w.uint(c.s.length);
  w.uint(c.f.length);
  w.uint(c.b.length);
  for (const arms of c.b) w.uint(arms.length);
  for (const v of c.s) w.uint(v);
  for (const v of c.f) w.uint(v);
  for (const arms of c.b) for (const v of arms) w.uint(v);
}

function readFull(r: Reader): FileSnapshot {
  const structure = r.str();
  const nS = r.uint();
  const nF = r.uint();
  const nB = r.uint();
  const armCounts: number[] = new Array(nB);
  for (let i = 0; i < nB; i++) armCounts[i] = r.uint();
  // Packed exact-size arrays, as the decoders build them (push into one scratch, then slice): a
  // holey array (`new Array(n)` filled by index) would stay holey for the lifetime.
  const s = readInto(r, nS);
  const f = readInto(r, nF);
  const b: number[][] = [];
  for (let i = 0; i < nB; i++) b.push(readInto(r, armCounts[i]!));
  return { structure, counters: { s, f, b: b.slice() } };
}

const scratch: number[] = [];
function readInto(r: Reader, n: number): number[] {
  // Overwritten from 0 and never shortened (`length = 0` would give its capacity back).
  for (let i = 0; i < n; i++) {
    const v = r.uint();
    if (i < scratch.length) scratch[i] = v;
    else scratch.push(v);
  }
  return scratch.slice(0, n);
}

/** Same structure and counter shape: a delta can address the file's counters by index. */
function sameShape(a: FileCounters, b: FileCounters): boolean {
  if (a.s.length !== b.s.length || a.f.length !== b.f.length || a.b.length !== b.b.length) return false;
  for (let i = 0; i < a.b.length; i++) if (a.b[i]!.length !== b.b[i]!.length) return false;
  return true;
}

/**
 * Appends the changed counters of one file to `w` (path, mode 1, changes);
 * writes nothing and returns false when no counter changed.
 */
function writeChanges(w: Writer, ref: number, prev: FileCounters, next: FileCounters, scratch: number[]): boolean {
  scratch.length = 0;
  // One flat index over s, f and the branch arms, in that order (no closure per file: this runs
  // for every file of every repeat scrape).
  if (prev === next) return false;
  let idx = changedInto(scratch, prev.s, next.s, 0);
  idx = changedInto(scratch, prev.f, next.f, idx);
  for (let i = 0; i < next.b.length; i++) idx = changedInto(scratch, prev.b[i]!, next.b[i]!, idx);
  if (scratch.length === 0) return false;
  w.uint(ref);
  w.byte(1);
  w.uint(scratch.length / 2);
  let last = 0;
  for (let k = 0; k < scratch.length; k += 2) {
    w.uint(scratch[k]! - last);
    last = scratch[k]!;
    w.uint(scratch[k + 1]!);
  }
  return true;
}

/** Pushes (index, new value) of every counter of `n` that differs from `p`; returns the next flat index. */
function changedInto(scratch: number[], p: number[], n: number[], idx: number): number {
  if (p === n) return idx + n.length;
  for (let i = 0; i < n.length; i++, idx++) if (n[i] !== p[i]) scratch.push(idx, n[i]!);
  return idx;
}

/** The full snapshot: every file, every counter. */
export function encodeKeyframe(snapshot: Snapshot): Buffer {
  const w = new Writer();
  w.byte(KEYFRAME);
  const paths = Object.keys(snapshot);
  w.uint(paths.length);
  for (const p of paths) {
    w.str(p);
    writeFull(w, snapshot[p]!);
  }
  return w.done();
}

/**
 * What changed from `prev` to `next` (a cumulative snapshot of the same
 * lifetime: files are only added or updated, never removed): a delta, or a
 * keyframe when `next` does not keep `prev`'s files first and in order, or
 * undefined when nothing changed. With `shareUnchanged`, each file of `next`
 * whose counters equal prev's is replaced in `next` by prev's entry.
 */
export function encodeNext(prev: Snapshot, next: Snapshot, opts: { shareUnchanged?: boolean } = {}): Buffer | undefined {
  const prevKeys = Object.keys(prev);
  const nextKeys = Object.keys(next);
  if (nextKeys.length < prevKeys.length) return encodeKeyframe(next);
  for (let i = 0; i < prevKeys.length; i++) if (prevKeys[i] !== nextKeys[i]) return encodeKeyframe(next);
  const w = new Writer();
  w.byte(DELTA);
  const countAt = w.n;
  w.byte(0); // placeholder, patched below (1 byte unless > 127 files changed)
  let files = 0;
  const scratch: number[] = [];
  for (let i = 0; i < nextKeys.length; i++) {
    const path = nextKeys[i]!;
    const n = next[path]!;
    const p = i < prevKeys.length ? prev[path]! : undefined;
    if (p === n) continue;
    if (!p) {
      w.byte(0);
      w.str(path);
      writeFull(w, n);
      files++;
    } else if (p.structure !== n.structure || !sameShape(p.counters, n.counters)) {
      w.uint(i + 1);
      writeFull(w, n);
      files++;
    } else if (writeChanges(w, i + 1, p.counters, n.counters, scratch)) files++;
    // Same counters: `next` takes prev's entry (same values), so the copy just read dies young
    // instead of living on as the newest snapshot (much less for the collector to move).
    else if (opts.shareUnchanged) next[path] = p;
  }
  if (files === 0) return undefined;
  const body = w.done();
  if (files < 0x80) {
    body[countAt] = files;
    return body;
  }
  // More than 127 files changed: the count needs more than the placeholder byte.
  const head = new Writer();
  head.byte(DELTA);
  head.uint(files);
  return Buffer.concat([head.done(), body.subarray(countAt + 1)]);
}

export function kindOf(value: Uint8Array): number {
  return value[0] ?? 0;
}

/**
 * Decodes a value. A keyframe stands alone; a delta applies to `base` (the
 * snapshot before it), which is not modified: changed files get new counter
 * arrays, unchanged files are shared with `base`.
 *
 * `inPlace`: the delta is applied to `base` itself, its counter arrays
 * overwritten (and `base` returned). Only for a caller that owns `base` and
 * every array in it, such as a chain being replayed from its keyframe at
 * load: it saves copying each changed file once per delta, which at start-up
 * was most of the time and garbage.
 */
export function decodeSnapshot(value: Uint8Array, base?: Snapshot, inPlace = false): Snapshot {
  const r = new Reader(value);
  const kind = r.byte();
  if (kind !== KEYFRAME && kind !== DELTA) throw new Error(`packed snapshot: unknown kind ${kind}`);
  if (kind === DELTA && !base) throw new Error('packed snapshot: a delta needs the snapshot before it');
  const out: Snapshot = kind === DELTA ? (inPlace ? base! : { ...base }) : {};
  const baseKeys = kind === DELTA ? Object.keys(base!) : [];
  const nFiles = r.uint();
  for (let k = 0; k < nFiles; k++) {
    let path: string;
    if (kind === KEYFRAME) path = r.str();
    else {
      const ref = r.uint();
      if (ref === 0) path = r.str();
      else if (ref > baseKeys.length) throw new Error(`packed snapshot: file ${ref - 1} outside the snapshot before it (${baseKeys.length} files)`);
      else path = baseKeys[ref - 1]!;
    }
    const mode = r.byte();
    if (mode === 0) {
      out[path] = readFull(r);
      continue;
    }
    if (mode !== 1) throw new Error(`packed snapshot: unknown file mode ${mode}`);
    const was = out[path];
    if (!was) throw new Error(`packed snapshot: delta for ${JSON.stringify(path)} which the snapshot before it does not hold`);
    const c = was.counters;
    const s = inPlace ? c.s : c.s.slice();
    const f = inPlace ? c.f : c.f.slice();
    const b = inPlace ? c.b : c.b.map((arms) => arms.slice());
    const nS = s.length;
    const nSF = nS + f.length;
    // Flat index → (array, offset) for the branch part, built once per file.
    let armStart: number[] | undefined;
    const n = r.uint();
    let idx = 0;
    for (let i = 0; i < n; i++) {
      idx += r.uint();
      const v = r.uint();
      if (idx < nS) s[idx] = v;
      else if (idx < nSF) f[idx - nS] = v;
      else {
        if (!armStart) {
          armStart = new Array(b.length + 1);
          let at = nSF;
          for (let j = 0; j < b.length; j++) {
            armStart[j] = at;
            at += b[j]!.length;
          }
          armStart[b.length] = at;
        }
        // Binary search for the branch holding flat index idx.
        let lo = 0;
        let hi = b.length - 1;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          if (armStart[mid]! <= idx) lo = mid;
          else hi = mid - 1;
        }
        const off = idx - armStart[lo]!;
        if (lo >= b.length || off >= b[lo]!.length) throw new Error(`packed snapshot: counter index ${idx} outside ${JSON.stringify(path)}`);
        b[lo]![off] = v;
      }
    }
    if (!inPlace) out[path] = { structure: was.structure, counters: { s, f, b } };
  }
  if (!r.atEnd) throw new Error('packed snapshot: trailing bytes');
  return out;
}
