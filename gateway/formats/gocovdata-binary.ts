/**
 * Readers for the binary files Go 1.20+ writes into GOCOVERDIR (or that
 * runtime/coverage.WriteMeta/WriteCounters write to a writer): the meta-data
 * file `covmeta.<hash>` and the counter data files
 * `covcounters.<hash>.<pid>.<nanotime>`.
 *
 * Ported from Go's own source (go1.23, same format since go1.20, file versions 1):
 *   - src/internal/coverage/defs.go            (headers, magic, modes, flavours)
 *   - src/internal/coverage/decodemeta/decodefile.go, decode.go   (meta-data file, package payloads)
 *   - src/internal/coverage/decodecounter/decodecounterfile.go   (counter file, segments, flavours)
 *   - src/internal/coverage/stringtab/stringtab.go, slicereader/slicereader.go, uleb128/uleb128.go
 *   - src/internal/coverage/encodecounter/encode.go (writer side: segment layout, padding)
 *   - src/internal/coverage/cfile/emit.go (how the meta-file hash is computed)
 * Hand-written: no JavaScript reader for these files exists (golang/go#76098
 * asks for one outside Go). Unlike Go's readers (which trust their input and
 * panic or allocate on a bad length), every length and index read here is
 * checked against the bytes actually present before anything is allocated,
 * and every problem is a COVGATE_BAD_COVERAGE error naming the file and the
 * offset, never a crash.
 */
import { createHash } from 'node:crypto';
import { errors } from '../errors.ts';

export type GoCounterMode = 'set' | 'count' | 'atomic';

/** defs.go: CovMetaMagic, CovCounterMagic. */
const META_MAGIC = [0x00, 0x63, 0x76, 0x6d]; // "\0cvm"
const COUNTER_MAGIC = [0x00, 0x63, 0x77, 0x6d]; // "\0cwm"
/** defs.go: MetaFileVersion, CounterFileVersion. */
const META_VERSION = 1;
const COUNTER_VERSION = 1;
/** unsafe.Sizeof(coverage.MetaFileHeader{}): 4+4+8+8+16+4+4+1+1+6. */
const META_FILE_HEADER_SIZE = 56;
/** defs.go: CovMetaHeaderSize (MetaSymbolHeader, the per-package payload header). */
const META_PKG_HEADER_SIZE = 44;
/** CounterFileHeader: magic 4, version 4, meta hash 16, flavour 1, big-endian 1, padding 6. */
const COUNTER_HEADER_SIZE = 32;
/** CounterFileFooter: magic 4, padding 4, segments 4, padding 4. */
const COUNTER_FOOTER_SIZE = 16;
/** CounterSegmentHeader: FcnEntries u64, StrTabLen u32, ArgsLen u32. */
const SEGMENT_HEADER_SIZE = 16;
/** defs.go CounterMode: 1 set, 2 count, 3 atomic (4 regonly and 5 testmain never reach a file with units). */
const MODES: Record<number, GoCounterMode> = { 1: 'set', 2: 'count', 3: 'atomic' };
/** defs.go CounterGranularity. */
const GRANULARITIES: Record<number, string> = { 1: 'perblock', 2: 'perfunc' };
/** defs.go CounterFlavor: CtrRaw = 1, CtrULeb128 = 2. */
const FLAVOUR_RAW = 1;
const FLAVOUR_ULEB128 = 2;

/** defs.go CoverableUnit (Parent is never written to meta-data files). */
export interface GoUnit {
  stLine: number;
  stCol: number;
  enLine: number;
  enCol: number;
  nxStmts: number;
}

/** defs.go FuncDesc. */
export interface GoFunc {
  name: string;
  file: string;
  lit: boolean;
  units: GoUnit[];
}

export interface GoPackage {
  path: string;
  name: string;
  modulePath: string;
  funcs: GoFunc[];
}

export interface GoMetaFile {
  /** MetaFileHash as lower-case hex, as in the file names. */
  hash: string;
  mode: GoCounterMode;
  granularity: string;
  packages: GoPackage[];
}

/** One function's counters from a counter data file (decodecounter.FuncPayload). */
export interface GoFuncCounters {
  pkg: number;
  fn: number;
  counters: number[];
}

export interface GoCounterFile {
  /** The meta-data file hash this file's counters belong to (lower-case hex). */
  metaHash: string;
  /** The `args` of every segment (argc/argv, GOOS, GOARCH). */
  args: Array<Record<string, string>>;
  /** Every function entry of every segment, in file order. */
  funcs: GoFuncCounters[];
}

function bad(what: string, message: string): never {
  throw errors.badCoverage(`gocovdata ${what}: ${message}`);
}

/**
 * A bounded little-endian reader over one buffer (slicereader.go). Every
 * read checks the remaining length first and throws COVGATE_BAD_COVERAGE
 * naming `what` and the offset.
 */
class Reader {
  off = 0;
  constructor(
    readonly buf: Buffer,
    readonly what: string,
    /** Offset of buf within the file, for messages. */
    readonly base = 0,
  ) {}

  get remaining(): number {
    return this.buf.length - this.off;
  }

  fail(message: string): never {
    bad(this.what, `${message} at byte ${this.base + this.off}`);
  }

  need(n: number, what: string): void {
    if (n < 0 || n > this.remaining) this.fail(`truncated: ${what} needs ${n} bytes, ${this.remaining} left`);
  }

  seek(off: number, what: string): void {
    if (off < 0 || off > this.buf.length) this.fail(`${what} offset ${off} lies outside the ${this.buf.length} bytes`);
    this.off = off;
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.off++]!;
  }

  u32(what: string, bigEndian = false): number {
    this.need(4, what);
    const v = bigEndian ? this.buf.readUInt32BE(this.off) : this.buf.readUInt32LE(this.off);
    this.off += 4;
    return v;
  }

  /** A uint64 that must fit a safe integer (lengths, counts, offsets). */
  u64(what: string): number {
    this.need(8, what);
    const v = this.buf.readBigUInt64LE(this.off);
    this.off += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is too large`);
    return Number(v);
  }

  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }

  /**
   * uleb128.go / slicereader ReadULEB128, for values Go then uses as uint32
   * (indexes, counts, lines, columns, counters). A value above 2^32-1 (which
   * Go would silently truncate) is refused: no writer produces one.
   */
  uleb32(what: string): number {
    let value = 0;
    let shift = 0;
    for (let i = 0; ; i++) {
      if (this.remaining < 1) this.fail(`truncated: ${what} (ULEB128) runs past the end`);
      const b = this.buf[this.off++]!;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (i >= 4) this.fail(`${what} (ULEB128) is longer than 5 bytes`);
    }
    if (value > 0xffffffff) this.fail(`${what} ${value} does not fit 32 bits`);
    return value;
  }
}

/**
 * stringtab.go Reader.Read: a ULEB128 count, then per string a ULEB128 length
 * and the bytes. The count is bounded by the bytes left (each entry takes at
 * least one byte), so a hostile count cannot make us allocate.
 */
function readStringTable(r: Reader, what: string): string[] {
  const n = r.uleb32(`${what} entry count`);
  if (n > r.remaining) r.fail(`${what} claims ${n} strings in ${r.remaining} bytes`);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const len = r.uleb32(`${what} string ${i} length`);
    out.push(r.bytes(len, `${what} string ${i}`).toString('utf8'));
  }
  return out;
}

function checkMagic(r: Reader, magic: number[], what: string): void {
  const got = r.bytes(4, `${what} magic`);
  if (!magic.every((b, i) => got[i] === b)) r.fail(`bad magic ${got.toString('hex')} (expected ${Buffer.from(magic).toString('hex')}): not a ${what}`);
}

function stringAt(table: string[], idx: number, r: Reader, what: string): string {
  if (idx >= table.length) r.fail(`${what} string index ${idx} outside the string table (${table.length} entries)`);
  return table[idx]!;
}

/** decodemeta/decode.go: one package's payload (MetaSymbolHeader, func offsets, string table, funcs). */
function decodePackage(payload: Buffer, what: string, base: number): GoPackage & { hash: Buffer } {
  const r = new Reader(payload, what, base);
  const length = r.u32('payload length');
  if (length !== payload.length) r.fail(`payload length ${length} differs from the ${payload.length} bytes the file header gives it`);
  const pkgNameIdx = r.u32('package name index');
  const pkgPathIdx = r.u32('package path index');
  const modulePathIdx = r.u32('module path index');
  const hash = Buffer.from(r.bytes(16, 'package hash'));
  r.bytes(4, 'padding');
  r.u32('file count');
  const numFuncs = r.u32('function count');
  if (numFuncs * 4 > r.remaining) r.fail(`function count ${numFuncs} exceeds the payload`);
  const funcOffsets: number[] = [];
  for (let i = 0; i < numFuncs; i++) funcOffsets.push(r.u32(`function ${i} offset`));
  // decode.go readStringTable: right after the offsets table.
  const strings = readStringTable(r, `${what} string table`);
  const funcs: GoFunc[] = [];
  for (let i = 0; i < numFuncs; i++) {
    const foff = funcOffsets[i]!;
    // decode.go ReadFunc: "malformed func offset".
    if (foff < META_PKG_HEADER_SIZE + 4 * i || foff >= length) r.fail(`malformed offset ${foff} of function ${i}`);
    r.seek(foff, `function ${i}`);
    const numUnits = r.uleb32(`function ${i} unit count`);
    // Each unit takes at least five ULEB128 bytes.
    if (numUnits * 5 > r.remaining) r.fail(`function ${i} claims ${numUnits} units in ${r.remaining} bytes`);
    const name = stringAt(strings, r.uleb32(`function ${i} name`), r, `function ${i} name`);
    const file = stringAt(strings, r.uleb32(`function ${i} file`), r, `function ${i} file`);
    const units: GoUnit[] = [];
    for (let k = 0; k < numUnits; k++) {
      const u = {
        stLine: r.uleb32(`unit ${k} start line`),
        stCol: r.uleb32(`unit ${k} start column`),
        enLine: r.uleb32(`unit ${k} end line`),
        enCol: r.uleb32(`unit ${k} end column`),
        nxStmts: r.uleb32(`unit ${k} statement count`),
      };
      if (u.stLine < 1 || u.enLine < u.stLine || (u.enLine === u.stLine && u.enCol < u.stCol)) {
        r.fail(`unit ${k} of ${name} (${file}) ends before it starts (${u.stLine}.${u.stCol},${u.enLine}.${u.enCol})`);
      }
      units.push(u);
    }
    const lit = r.uleb32(`function ${i} literal flag`) !== 0;
    funcs.push({ name, file, lit, units });
  }
  return {
    hash,
    name: stringAt(strings, pkgNameIdx, r, 'package name'),
    path: stringAt(strings, pkgPathIdx, r, 'package path'),
    modulePath: stringAt(strings, modulePathIdx, r, 'module path'),
    funcs,
  };
}

/**
 * Decodes a meta-data file (decodemeta/decodefile.go): the file header, the
 * package offsets and lengths, and every package payload. The file hash is
 * checked as cfile/emit.go computes it (md5 over the package hashes, then the
 * mode and granularity names), so a file whose packages were altered or
 * mixed up is refused.
 */
export function decodeMetaFile(buf: Buffer, name = 'covmeta file'): GoMetaFile {
  const r = new Reader(buf, name);
  checkMagic(r, META_MAGIC, 'Go coverage meta-data file (covmeta)');
  const version = r.u32('version');
  if (version === 0 || version > META_VERSION) r.fail(`unknown meta-data file version ${version} (this gateway reads version ${META_VERSION}, Go 1.20 and later)`);
  const totalLength = r.u64('total length');
  if (totalLength !== buf.length) r.fail(`truncated or padded: header says ${totalLength} bytes, got ${buf.length}`);
  const entries = r.u64('package count');
  const hash = Buffer.from(r.bytes(16, 'meta-data hash'));
  r.u32('string table offset');
  const strTabLength = r.u32('string table length');
  const modeByte = r.u8('counter mode');
  const granByte = r.u8('counter granularity');
  r.bytes(6, 'padding');
  const mode = MODES[modeByte];
  if (!mode) r.fail(`unknown counter mode ${modeByte} (expected 1 set, 2 count, 3 atomic)`);
  const granularity = GRANULARITIES[granByte];
  if (!granularity) r.fail(`unknown counter granularity ${granByte}`);
  if (entries * 16 > r.remaining) r.fail(`package count ${entries} exceeds the file`);
  const offsets: number[] = [];
  const lengths: number[] = [];
  for (let i = 0; i < entries; i++) offsets.push(r.u64(`package ${i} offset`));
  for (let i = 0; i < entries; i++) lengths.push(r.u64(`package ${i} length`));
  r.bytes(strTabLength, 'file string table'); // decodefile.go reads it; nothing in it is needed here
  const packages: GoPackage[] = [];
  const md5 = createHash('md5');
  for (let i = 0; i < entries; i++) {
    const off = offsets[i]!;
    const len = lengths[i]!;
    if (off < META_FILE_HEADER_SIZE || len < META_PKG_HEADER_SIZE || off + len > buf.length) {
      r.fail(`package ${i} payload (offset ${off}, length ${len}) lies outside the file`);
    }
    const pkg = decodePackage(buf.subarray(off, off + len), `${name} package ${i}`, off);
    md5.update(pkg.hash);
    packages.push({ path: pkg.path, name: pkg.name, modulePath: pkg.modulePath, funcs: pkg.funcs });
  }
  md5.update(mode);
  md5.update(granularity);
  const expected = md5.digest();
  if (!expected.equals(hash)) bad(name, `meta-data hash ${hash.toString('hex')} does not match its packages (${expected.toString('hex')}): file altered or corrupt`);
  return { hash: hash.toString('hex'), mode, granularity, packages };
}

/**
 * Decodes a counter data file (decodecounter/decodecounterfile.go): header,
 * footer (at the end: the segment count), then per segment its header,
 * string table, args, padding to 4 bytes of file offset, and function
 * entries (counter count, package index, function index, counters), each
 * value raw uint32 (little or big endian) or ULEB128 by the file's flavour.
 * Segments are separated by a footer, as encodecounter writes them.
 */
export function decodeCounterFile(buf: Buffer, name = 'covcounters file'): GoCounterFile {
  const r = new Reader(buf, name);
  checkMagic(r, COUNTER_MAGIC, 'Go coverage counter data file (covcounters)');
  const version = r.u32('version');
  if (version === 0 || version > COUNTER_VERSION) r.fail(`unknown counter file version ${version} (this gateway reads version ${COUNTER_VERSION}, Go 1.20 and later)`);
  const metaHash = r.bytes(16, 'meta-data hash').toString('hex');
  const flavour = r.u8('counter flavour');
  const bigEndian = r.u8('endianness') !== 0;
  r.bytes(6, 'padding');
  if (flavour !== FLAVOUR_RAW && flavour !== FLAVOUR_ULEB128) r.fail(`unknown counter flavour ${flavour} (expected 1 raw or 2 ULEB128)`);
  if (buf.length < COUNTER_HEADER_SIZE + COUNTER_FOOTER_SIZE) r.fail(`truncated: ${buf.length} bytes cannot hold a header and a footer`);
  // readFooter: the last 16 bytes.
  const footer = new Reader(buf.subarray(buf.length - COUNTER_FOOTER_SIZE), name, buf.length - COUNTER_FOOTER_SIZE);
  checkMagic(footer, COUNTER_MAGIC, 'counter file footer (truncated file?)');
  footer.u32('footer padding');
  const numSegments = footer.u32('segment count');
  if (numSegments === 0) footer.fail('invalid counter data file (no segments)');
  // Each segment takes at least a segment header and a footer.
  if (numSegments * (SEGMENT_HEADER_SIZE + COUNTER_FOOTER_SIZE) > buf.length) footer.fail(`segment count ${numSegments} exceeds the file`);

  const read = (what: string): number => {
    if (flavour === FLAVOUR_ULEB128) return r.uleb32(what);
    return r.u32(what, bigEndian);
  };
  const minValueBytes = flavour === FLAVOUR_ULEB128 ? 1 : 4;
  const args: Array<Record<string, string>> = [];
  const funcs: GoFuncCounters[] = [];
  for (let seg = 0; seg < numSegments; seg++) {
    if (seg > 0) {
      // BeginNextSegment: skip the footer that ends the previous segment.
      const f = new Reader(r.bytes(COUNTER_FOOTER_SIZE, `segment ${seg} preceding footer`), name, r.off - COUNTER_FOOTER_SIZE);
      checkMagic(f, COUNTER_MAGIC, `footer before segment ${seg}`);
    }
    // readSegmentPreamble
    const fcnEntries = r.u64(`segment ${seg} function count`);
    const strTabLen = r.u32(`segment ${seg} string table length`);
    const argsLen = r.u32(`segment ${seg} args length`);
    const strtab = readStringTable(new Reader(r.bytes(strTabLen, `segment ${seg} string table`), `${name} segment ${seg} string table`, r.off - strTabLen), 'string table');
    const ar = new Reader(r.bytes(argsLen, `segment ${seg} args`), `${name} segment ${seg} args`, r.off - argsLen);
    const nArgs = ar.uleb32('args count');
    if (nArgs * 2 > ar.remaining) ar.fail(`args count ${nArgs} exceeds the args table`);
    const segArgs: Record<string, string> = {};
    for (let i = 0; i < nArgs; i++) {
      const k = stringAt(strtab, ar.uleb32('arg key'), ar, 'arg key');
      const v = stringAt(strtab, ar.uleb32('arg value'), ar, 'arg value');
      if (Object.hasOwn(segArgs, k)) ar.fail(`malformed args table (key ${JSON.stringify(k)} twice)`);
      segArgs[k] = v;
    }
    args.push(segArgs);
    const rem = r.off % 4;
    if (rem !== 0) r.bytes(4 - rem, 'segment padding');
    // Each function entry takes at least three values.
    if (fcnEntries * 3 * minValueBytes > r.remaining) r.fail(`segment ${seg} claims ${fcnEntries} functions, more than the file holds`);
    for (let i = 0; i < fcnEntries; i++) {
      const nc = read(`segment ${seg} function ${i} counter count`);
      const pkg = read(`segment ${seg} function ${i} package index`);
      const fn = read(`segment ${seg} function ${i} function index`);
      if (nc * minValueBytes > r.remaining) r.fail(`segment ${seg} function ${i} claims ${nc} counters, more than the file holds`);
      const counters: number[] = [];
      for (let k = 0; k < nc; k++) counters.push(read(`segment ${seg} function ${i} counter ${k}`));
      funcs.push({ pkg, fn, counters });
    }
  }
  if (r.off !== buf.length - COUNTER_FOOTER_SIZE) {
    r.fail(`${buf.length - COUNTER_FOOTER_SIZE - r.off} bytes left before the footer after ${numSegments} segment(s): file corrupt`);
  }
  return { metaHash, args, funcs };
}
