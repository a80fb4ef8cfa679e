/**
 * gocovdata decoder on committed GOCOVERDIR fixtures (test/fixtures/formats/gocovdata,
 * made by generate.sh there with Go 1.21 set, 1.22 atomic, 1.23 count): every
 * figure is compared with what `go tool covdata` wrote for the same files
 * (textfmt blocks with counts, func percentages, total). Malformed input
 * (every truncation, byte flips, hostile lengths) must be a COVGATE_BAD_COVERAGE
 * error, never another exception.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { decodePayload, encodeCoverage } from '../../gateway/formats/index.ts';
import { decodeCounterFile, decodeMetaFile } from '../../gateway/formats/gocovdata-binary.ts';
import { decodeGoCoverFiles, GOCOVDATA_CONTENT_TYPE } from '../../gateway/formats/gocovdata.ts';
import { isCovgateError } from '../../gateway/errors.ts';
import { toAppendInput } from '../../gateway/ingest/index.ts';
import { summarize, type CoverageMapData, type FileStructure } from '../../gateway/model/index.ts';
import { funcFigures, goCoverDirJson, parseFuncReport, profileBlocks, readGoCoverDir, tarOf, tarOfDir } from '../helpers/gocovdata.ts';
import { FIXTURES } from './fixtures.ts';

const DIR = join(FIXTURES, 'gocovdata');
const CASES = ['go1.21-set', 'go1.22-atomic', 'go1.23-count'];

const oracle = (c: string, what: 'textfmt' | 'func') => readFileSync(join(DIR, c, `${what}.expected.txt`), 'utf8');

async function gocoverOf(map: CoverageMapData): Promise<string> {
  return (await encodeCoverage(map, 'gocover', {})).body;
}

function expectBadCoverage(fn: () => unknown, what: string): string {
  try {
    fn();
  } catch (err) {
    if (!isCovgateError(err)) throw new Error(`${what}: threw a non-covgate error: ${(err as Error).stack}`);
    expect(err.code, what).to.equal('COVGATE_BAD_COVERAGE');
    expect(err.status, what).to.equal(400);
    return err.message;
  }
  throw new Error(`${what}: decoded without error`);
}

/** Re-encodes a (ULEB128) counter file in the raw flavour (encodecounter.go layout), little or big endian. */
function toRawFlavour(buf: Buffer, bigEndian: boolean): Buffer {
  const decoded = decodeCounterFile(buf);
  // Keep header + segment preamble (through its padding) as written by Go.
  const segHdr = 32;
  const strTabLen = buf.readUInt32LE(segHdr + 8);
  const argsLen = buf.readUInt32LE(segHdr + 12);
  let preambleEnd = segHdr + 16 + strTabLen + argsLen;
  preambleEnd += (4 - (preambleEnd % 4)) % 4;
  const head = Buffer.from(buf.subarray(0, preambleEnd));
  head[24] = 1; // CtrRaw
  head[25] = bigEndian ? 1 : 0;
  const values: number[] = [];
  for (const f of decoded.funcs) values.push(f.counters.length, f.pkg, f.fn, ...f.counters);
  const body = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => (bigEndian ? body.writeUInt32BE(v, i * 4) : body.writeUInt32LE(v, i * 4)));
  return Buffer.concat([head, body, buf.subarray(buf.length - 16)]);
}

/** A counter file with its single segment written twice (two segments, as AppendSegment would add). */
function twoSegments(buf: Buffer): Buffer {
  const segment = buf.subarray(32, buf.length - 16);
  const footer1 = Buffer.from(buf.subarray(buf.length - 16));
  const footer2 = Buffer.from(footer1);
  footer2.writeUInt32LE(2, 8);
  // The reader pads the preamble by file offset: keep the second segment 4-aligned.
  const pad = Buffer.alloc((4 - ((32 + segment.length + 16) % 4)) % 4);
  expect(pad.length, 'fixture segment keeps alignment').to.equal(0);
  return Buffer.concat([buf.subarray(0, 32), segment, footer1, segment, footer2]);
}

describe('formats: gocovdata (Go 1.20+ GOCOVERDIR files)', () => {
  for (const c of CASES) {
    describe(c, () => {
      it('decodes the JSON transport to the blocks and counts of `go tool covdata textfmt`', async () => {
        const d = await decodePayload(Buffer.from(JSON.stringify(goCoverDirJson(join(DIR, c)))), { declaredFormat: 'auto', contentType: GOCOVDATA_CONTENT_TYPE });
        expect(d.format).to.equal('gocovdata');
        expect(profileBlocks(await gocoverOf(d.coverage!))).to.deep.equal(profileBlocks(oracle(c, 'textfmt')));
      });

      it('gives the per-function figures and the total of `go tool covdata func`', async () => {
        const { coverage } = decodeGoCoverFiles(readGoCoverDir(join(DIR, c)));
        const want = parseFuncReport(oracle(c, 'func'));
        expect(want.funcs.length).to.be.greaterThan(2);
        expect(funcFigures(coverage)).to.deep.equal(want);
        const s = summarize(coverage);
        expect(s.semantics).to.equal('go-statements');
        expect(`${((100 * s.statements.covered) / s.statements.total).toFixed(1)}%`).to.equal(want.total);
        expect(s.functions.available).to.not.equal(false);
      });

      it('decodes a tar of the GOCOVERDIR (push ingest) to the same profile', async () => {
        const d = await decodePayload(tarOfDir(join(DIR, c)), { declaredFormat: 'auto', contentType: 'application/x-tar' });
        expect(profileBlocks(await gocoverOf(d.coverage!))).to.deep.equal(profileBlocks(oracle(c, 'textfmt')));
        const sniffed = await decodePayload(tarOfDir(join(DIR, c)), { declaredFormat: 'auto', contentType: 'application/octet-stream' });
        expect(sniffed.format).to.equal('gocovdata');
      });

      it('reads the raw counter flavour, little and big endian, like ULEB128', async () => {
        const files = readGoCoverDir(join(DIR, c));
        for (const bigEndian of [false, true]) {
          const raw = { metas: files.metas, counters: files.counters.map((f) => ({ name: f.name, data: toRawFlavour(f.data, bigEndian) })) };
          expect(profileBlocks(await gocoverOf(decodeGoCoverFiles(raw).coverage)), `bigEndian=${bigEndian}`).to.deep.equal(profileBlocks(oracle(c, 'textfmt')));
        }
      });
    });
  }

  it('reads a GOCOVERDIR tarred by GNU tar (./ names, a directory entry)', async () => {
    const d = await decodePayload(readFileSync(join(DIR, 'gnu-tar-go1.23-count.tar')), { declaredFormat: 'auto', contentType: 'application/x-tar' });
    expect(profileBlocks(await gocoverOf(d.coverage!))).to.deep.equal(profileBlocks(oracle('go1.23-count', 'textfmt')));
  });

  it('reads every segment of a counter file (counts add up, as covdata merges segments)', () => {
    const files = readGoCoverDir(join(DIR, 'go1.23-count'));
    const one = decodeGoCoverFiles({ metas: files.metas, counters: [files.counters[0]!] }).coverage;
    const two = decodeGoCoverFiles({ metas: files.metas, counters: [{ name: 'two', data: twoSegments(files.counters[0]!.data) }] }).coverage;
    for (const [path, fc] of Object.entries(one)) {
      expect(Object.values(two[path]!.s), path).to.deep.equal(Object.values(fc.s).map((n) => 2 * n));
    }
  });

  it('answers a counters-only envelope against the stored structure (structure once, counters after)', async () => {
    const dir = join(DIR, 'go1.23-count');
    const files = readGoCoverDir(dir);
    const meta = decodeMetaFile(files.metas[0]!.data);
    const env = (data: object) => Buffer.from(JSON.stringify({ format: 'gocovdata', instance: 'i1', structure: meta.hash, data }));
    const full = await decodePayload(env({ meta: files.metas[0]!.data.toString('base64'), counters: [files.counters[0]!.data.toString('base64')] }), { declaredFormat: 'auto' });
    const target = { id: 't', job: 'j', labels: { job: 'j' } };
    const first = toAppendInput(full, target, { envelopeFiles: () => undefined, structure: () => undefined });
    const byHash = new Map<string, FileStructure>([...first.structures]);
    const store = { envelopeFiles: (_target: string, id: string) => (id === first.envelope?.id ? first.envelope.files : undefined), structure: (h: string) => byHash.get(h) };
    // The next reply: both counter files, no meta-data.
    const later = await decodePayload(env({ counters: files.counters.map((f) => f.data.toString('base64')) }), { declaredFormat: 'auto' });
    expect(later.coverage).to.equal(undefined);
    const input = toAppendInput(later, target, store);
    const expected = decodeGoCoverFiles(files).coverage;
    for (const [path, snap] of Object.entries(input.snapshot)) {
      expect(snap.counters.s, path).to.deep.equal(Object.values(expected[path]!.s));
      expect(snap.counters.f, path).to.deep.equal(Object.values(expected[path]!.f));
    }
    // Unknown structure: the scraper is told to ask again without the header.
    expect(() => toAppendInput(later, target, { envelopeFiles: () => undefined, structure: () => undefined })).to.throw(/does not hold/);
    // Counters of another meta-data file are refused, not misplaced.
    const other = readGoCoverDir(join(DIR, 'go1.21-set')).counters[0]!.data.toString('base64');
    const wrong = await decodePayload(env({ counters: [other] }), { declaredFormat: 'auto' });
    expect(() => toAppendInput(wrong, target, store)).to.throw(/counters for meta-data/);
  });

  it('refuses counters without meta-data outside an envelope, and skips orphaned counter files with a warning', async () => {
    const files = readGoCoverDir(join(DIR, 'go1.23-count'));
    const body = JSON.stringify({ counters: [files.counters[0]!.data.toString('base64')] });
    const err = await decodePayload(Buffer.from(body), { declaredFormat: 'gocovdata' }).catch((e: unknown) => e);
    expect(isCovgateError(err) && err.message).to.match(/counters without their structure/);
    const warnings: string[] = [];
    const other = readGoCoverDir(join(DIR, 'go1.21-set')).counters[0]!;
    decodeGoCoverFiles({ metas: files.metas, counters: [...files.counters, other] }, { warn: (m) => warnings.push(m) });
    expect(warnings.join('\n')).to.match(/no meta-data file covmeta\.[0-9a-f]{32}; counter file skipped/);
    expectBadCoverage(() => decodeGoCoverFiles({ metas: [], counters: files.counters }), 'no meta');
    const noMetaTar = await decodePayload(tarOf(files.counters), { declaredFormat: 'auto' }).catch((e: unknown) => e);
    expect(isCovgateError(noMetaTar) && noMetaTar.message).to.match(/no covmeta/);
  });

  describe('malformed input', () => {
    const files = readGoCoverDir(join(DIR, 'go1.23-count'));
    const meta = files.metas[0]!.data;
    const ctr = files.counters[0]!.data;

    it('refuses every truncation of a meta-data and of a counter file with a 400', () => {
      for (let n = 0; n < meta.length; n++) expectBadCoverage(() => decodeMetaFile(meta.subarray(0, n)), `meta truncated to ${n}`);
      for (let n = 0; n < ctr.length; n++) expectBadCoverage(() => decodeCounterFile(ctr.subarray(0, n)), `counters truncated to ${n}`);
    });

    it('names what is wrong: magic, version, hash, counters that do not fit', () => {
      const m = Buffer.from(meta);
      m[1] = 0x41;
      expect(expectBadCoverage(() => decodeMetaFile(m), 'magic')).to.match(/bad magic.*not a Go coverage meta-data file/);
      const v = Buffer.from(meta);
      v.writeUInt32LE(7, 4);
      expect(expectBadCoverage(() => decodeMetaFile(v), 'version')).to.match(/unknown meta-data file version 7/);
      const h = Buffer.from(meta);
      h[0x20] ^= 0xff;
      expect(expectBadCoverage(() => decodeMetaFile(h), 'hash')).to.match(/does not match its packages/);
      const v2 = Buffer.from(ctr);
      v2.writeUInt32LE(2, 4);
      expect(expectBadCoverage(() => decodeCounterFile(v2), 'counter version')).to.match(/unknown counter file version 2/);
      const fl = Buffer.from(ctr);
      fl[24] = 9;
      expect(expectBadCoverage(() => decodeCounterFile(fl), 'flavour')).to.match(/unknown counter flavour 9/);
      // A counter file of the right meta-data whose function has one counter too few.
      const other = readGoCoverDir(join(DIR, 'go1.21-set'));
      const foreign = decodeMetaFile(other.metas[0]!.data);
      const mine = decodeMetaFile(meta);
      expect(foreign.packages.map((p) => p.funcs.map((f) => f.units.length))).to.deep.equal(mine.packages.map((p) => p.funcs.map((f) => f.units.length)));
    });

    it('bounds hostile lengths before allocating (package count, string table, function and counter counts)', () => {
      const entries = Buffer.from(meta);
      entries.writeBigUInt64LE(1n << 40n, 16);
      expect(expectBadCoverage(() => decodeMetaFile(entries), 'entries')).to.match(/package count .* exceeds the file/);
      const seg = Buffer.from(ctr);
      seg.writeBigUInt64LE(1n << 40n, 32);
      expectBadCoverage(() => decodeCounterFile(seg), 'function entries');
      const strtab = Buffer.from(ctr);
      strtab.writeUInt32LE(0xfffffff0, 40);
      expectBadCoverage(() => decodeCounterFile(strtab), 'string table length');
      const segs = Buffer.from(ctr);
      segs.writeUInt32LE(0xffffffff, ctr.length - 8);
      expect(expectBadCoverage(() => decodeCounterFile(segs), 'segments')).to.match(/segment count/);
    });

    it('flipping any single byte gives a clean 400 or a valid decode, never a crash', () => {
      for (const [what, buf, decode] of [
        ['meta', meta, (b: Buffer) => decodeGoCoverFiles({ metas: [{ name: 'm', data: b }], counters: files.counters })],
        ['counters', ctr, (b: Buffer) => decodeGoCoverFiles({ metas: files.metas, counters: [{ name: 'c', data: b }] })],
      ] as const) {
        for (let i = 0; i < buf.length; i++) {
          for (const x of [0x01, 0x80, 0xff]) {
            const b = Buffer.from(buf);
            b[i] ^= x;
            try {
              decode(b);
            } catch (err) {
              if (!isCovgateError(err)) throw new Error(`${what} byte ${i} ^ ${x}: ${(err as Error).stack}`);
            }
          }
        }
      }
    });

    it('refuses a corrupt tar and bad base64', async () => {
      const tar = tarOfDir(join(DIR, 'go1.23-count'));
      tar[10] ^= 0xff;
      const err = await decodePayload(tar, { declaredFormat: 'gocovdata', contentType: 'application/x-tar' }).catch((e: unknown) => e);
      expect(isCovgateError(err) && err.message).to.match(/checksum/);
      const whole = tarOfDir(join(DIR, 'go1.23-count'));
      const cut = await decodePayload(whole.subarray(0, whole.length - 1024), { declaredFormat: 'gocovdata', contentType: 'application/x-tar' }).catch((e: unknown) => e);
      expect(isCovgateError(cut) && cut.message).to.match(/no end-of-archive marker/);
      const b64 = await decodePayload(Buffer.from(JSON.stringify({ meta: '%%%', counters: [] })), { declaredFormat: 'gocovdata' }).catch((e: unknown) => e);
      expect(isCovgateError(b64) && b64.message).to.match(/base64/);
    });
  });
});
