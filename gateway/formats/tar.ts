/**
 * Reads the regular files of an (uncompressed) tar archive already in memory,
 * for GOCOVERDIR pushes (`tar -C "$GOCOVERDIR" -cf - .`).
 *
 * Hand-written rather than a tar library: the body is already buffered and
 * size-bounded by the push route (readBody), only flat regular files are
 * needed, and the stream-oriented libraries (tar-stream, tar) would add a
 * dependency and an async pipeline for ~40 lines of POSIX ustar (512-byte
 * headers, octal sizes; GNU/PAX long names are honoured, links skipped).
 * Every size is checked against the bytes present; a bad archive is a
 * COVGATE_BAD_COVERAGE error naming the offset.
 */
import { errors } from '../errors.ts';

export interface TarEntry {
  name: string;
  data: Buffer;
}

const BLOCK = 512;
/** More entries than any GOCOVERDIR holds; bounds the work a hostile archive can cause. */
const MAX_ENTRIES = 100_000;

function field(h: Buffer, off: number, len: number): string {
  const raw = h.subarray(off, off + len);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? len : end).toString('utf8');
}

function octal(h: Buffer, off: number, len: number, where: string): number {
  const text = field(h, off, len).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw errors.badCoverage(`tar: ${where}: bad octal number ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

export function readTar(buf: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  let off = 0;
  let longName: string | undefined;
  let entries = 0;
  let ended = false;
  while (off + BLOCK <= buf.length) {
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) {
      ended = true; // end-of-archive marker
      break;
    }
    if (++entries > MAX_ENTRIES) throw errors.badCoverage(`tar: more than ${MAX_ENTRIES} entries`);
    const where = `entry at byte ${off}`;
    // Checksum: sum of the header bytes with the checksum field read as spaces.
    const want = octal(h, 148, 8, where);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (sum !== want) throw errors.badCoverage(`tar: ${where}: header checksum mismatch (not a tar archive, or corrupt)`);
    const size = octal(h, 124, 12, where);
    const type = String.fromCharCode(h[156]!);
    const start = off + BLOCK;
    if (start + size > buf.length) throw errors.badCoverage(`tar: ${where}: truncated (entry of ${size} bytes, ${buf.length - start} left)`);
    const data = buf.subarray(start, start + size);
    off = start + Math.ceil(size / BLOCK) * BLOCK;
    const prefix = field(h, 345, 155);
    let name = longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    longName = undefined;
    if (type === 'L') {
      longName = data.toString('utf8').replace(/\0.*$/s, '');
      continue;
    }
    if (type === 'x') {
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'));
      if (m) longName = m[1];
      continue;
    }
    if (type !== '0' && type !== '\0') continue; // directories, links, devices, global headers
    name = name.replace(/^\.\//, '');
    out.push({ name, data });
  }
  // tar always ends with zero blocks: without them entries may be missing, and a partial
  // GOCOVERDIR must not pass for a whole one.
  if (!ended) throw errors.badCoverage(`tar: truncated at byte ${off} of ${buf.length} (no end-of-archive marker)`);
  return out;
}
