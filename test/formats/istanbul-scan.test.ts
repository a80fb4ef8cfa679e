import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { decodePayload, type DecodeContext } from '../../gateway/formats/index.ts';
import { createIstanbulScanner } from '../../gateway/formats/istanbul-scan.ts';
import { splitCoverageMap, type CoverageMapData } from '../../gateway/model/index.ts';
import { instrumentedMap, withCounters } from '../../scripts/bench/lib/big-map.ts';

const ctx: DecodeContext = { declaredFormat: 'auto', contentType: 'application/json' };
const nyc = readFileSync(new URL('../fixtures/formats/istanbul/nyc-coverage-final.input.json', import.meta.url));

/** What ingest would store for `body`, or the error the client would see. */
async function outcome(body: Buffer, fullParseOnly: boolean, c: DecodeContext = ctx): Promise<unknown> {
  try {
    const d = await decodePayload(body, { ...c, fullParseOnly });
    const split = d.split ?? splitCoverageMap(d.coverage ?? {});
    const meta = { format: d.format, enveloped: d.enveloped, counters: d.counters, instance: d.instance, structureId: d.structureId, startTime: d.startTime, build: d.build, warnings: d.warnings };
    return { snapshot: split.snapshot, structures: [...split.structures.keys()].sort(), meta };
  } catch (err) {
    const e = err as { message: string; status?: number; code?: string };
    return { error: e.message, status: e.status, code: e.code };
  }
}

async function sameAsFullParse(body: Buffer, c: DecodeContext = ctx): Promise<unknown> {
  const slow = await outcome(body, true, c);
  expect(await outcome(body, false, c)).to.deep.equal(slow);
  expect(await outcome(body, false, c), 'again, once learnt').to.deep.equal(slow);
  return slow;
}

const envCtx: DecodeContext = { declaredFormat: 'auto', contentType: 'application/vnd.covgate.v1+json' };
/** A full-data envelope around a map's JSON text (as an exporter's first reply). */
const envelope = (mapText: string, meta: Record<string, unknown> = { format: 'istanbul', instance: 'i-1', structure: 'build-1', startTime: '2026-11-23T08:00:00Z', build: { commit: 'abc' } }) =>
  Buffer.from(`{${Object.entries(meta).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}${Object.keys(meta).length ? ',' : ''}"data":${mapText}}`);

describe('formats/istanbul-scan (the full-payload fast path)', function () {
  let real: CoverageMapData;
  before(function () {
    real = instrumentedMap({ files: 12, packages: ['semver/classes', 'semver/ranges', 'semver/internal'] });
    expect(Object.keys(real).length).to.equal(12);
  });

  it('recognises a learnt structure from its bytes and reads only the counters, as the full parse would', () => {
    const scanner = createIstanbulScanner();
    const first = Buffer.from(JSON.stringify(withCounters(real, 1)));
    const miss = scanner.scan(first);
    expect(miss.kind).to.equal('miss');
    if (miss.kind !== 'miss' || !miss.index) throw new Error('expected an index to learn from');
    const learnt = scanner.learn(first, miss.index, JSON.parse(first.toString()) as CoverageMapData)!;
    expect(learnt.snapshot).to.deep.equal(splitCoverageMap(JSON.parse(first.toString())).snapshot);
    expect(scanner.size).to.equal(12);

    const later = withCounters(real, 2);
    const hit = scanner.scan(Buffer.from(JSON.stringify(later)));
    expect(hit.kind).to.equal('hit');
    if (hit.kind !== 'hit') return;
    const slow = splitCoverageMap(later);
    expect(hit.split.snapshot).to.deep.equal(slow.snapshot);
    expect([...hit.split.structures.keys()].sort()).to.deep.equal([...slow.structures.keys()].sort());
  });

  it('keeps at most maxFiles structures', () => {
    const scanner = createIstanbulScanner({ maxFiles: 5 });
    const body = Buffer.from(JSON.stringify(withCounters(real, 1)));
    const miss = scanner.scan(body);
    if (miss.kind !== 'miss' || !miss.index) throw new Error('expected an index');
    scanner.learn(body, miss.index, JSON.parse(body.toString()) as CoverageMapData);
    expect(scanner.size).to.equal(5);
    expect(scanner.scan(body).kind).to.equal('miss');
  });

  it('decodePayload gives the same snapshot, structure hashes and errors as the full parse on the fixtures', async () => {
    await sameAsFullParse(nyc);
    await sameAsFullParse(Buffer.from(JSON.stringify(withCounters(real, 3))));
    await sameAsFullParse(Buffer.from(JSON.stringify(withCounters(real, 4), null, 2)));
    await sameAsFullParse(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(withCounters(real, 5)))]));
    for (const name of ['negative-statement-count', 'missing-statement-map', 'file-not-object']) {
      const out = await sameAsFullParse(readFileSync(new URL(`../fixtures/formats/istanbul/${name}.input.json`, import.meta.url)));
      expect(out).to.have.property('status', 400);
    }
  });

  it('reads a full-data envelope of a known build from its bytes, with the envelope\'s metadata as the full parse gives it', async () => {
    const text = JSON.stringify(withCounters(real, 11));
    const out = await sameAsFullParse(envelope(text), envCtx);
    expect(out).to.have.nested.property('meta.instance', 'i-1');
    expect(out).to.have.nested.property('meta.enveloped', true);
    // Once learnt, the structures are not parsed again: the map is joined only if asked for.
    const d = await decodePayload(envelope(JSON.stringify(withCounters(real, 12))), envCtx);
    expect(Object.getOwnPropertyDescriptor(d, 'coverage')?.get, 'fast path taken').to.be.a('function');
    // The same bytes as a plain map are known too (one scanner, one set of structures).
    expect(Object.getOwnPropertyDescriptor(await decodePayload(Buffer.from(text), ctx), 'coverage')?.get).to.be.a('function');
    // Envelopes it must leave to the slow path: identical outcome either way.
    for (const meta of [
      { format: 'istanbul', startTime: 'yesterday' },
      { format: 'istanbul', counters: 'sometimes' },
      { format: 'istanbul', instance: '' },
      { format: 'istanbul', build: { commit: ['x'] } },
      { format: 'lcov' },
      { format: 'istanbul', extra: 1 },
      { format: 'istanbul', hits: {} },
      {},
    ]) {
      await sameAsFullParse(envelope(text, meta), envCtx);
    }
    await sameAsFullParse(Buffer.from(`{"format":"istanbul","data":${JSON.stringify(text)}}`), envCtx);
    await sameAsFullParse(Buffer.from(`{"format":"istanbul","data":${text},"data":${text}}`), envCtx);
    await sameAsFullParse(Buffer.from(`{"format":"istanbul","data":${text}} x`), envCtx);
    await sameAsFullParse(envelope(text), { declaredFormat: 'covgate', contentType: 'application/json' });
    await sameAsFullParse(envelope(text), { declaredFormat: 'auto', contentType: 'application/json' });
  });

  describe('hostile inputs on a learnt structure: identical result or identical 4xx', () => {
    const learnt = () => JSON.stringify(withCounters(real, 7));
    const path = () => Object.keys(real)[3]!;
    /** The learnt body with file 3's `s` (or `b`) text replaced. */
    const edit = (field: 's' | 'f' | 'b', fn: (text: string) => string) => {
      const map = withCounters(real, 7);
      const marker = '"__EDIT__"';
      (map[path()] as unknown as Record<string, unknown>)[field] = '__EDIT__';
      return JSON.stringify(map).replace(marker, fn(JSON.stringify(withCounters(real, 7)[path()]![field])));
    };
    const cases: Array<[string, () => string]> = [
      ['a negative count', () => edit('s', (t) => t.replace(/:(\d+)/, ':-1'))],
      ['a fraction', () => edit('s', (t) => t.replace(/:(\d+)/, ':1.5'))],
      ['an exponent', () => edit('s', (t) => t.replace(/:(\d+)/, ':1e3'))],
      ['an overflowing exponent', () => edit('s', (t) => t.replace(/:(\d+)/, ':1e400'))],
      ['a count above MAX_SAFE_INTEGER (saturates)', () => edit('f', (t) => t.replace(/:(\d+)/, ':123456789012345678901'))],
      ['a string count', () => edit('s', (t) => t.replace(/:(\d+)/, ':"3"'))],
      ['a null count', () => edit('s', (t) => t.replace(/:(\d+)/, ':null'))],
      ['a leading zero', () => edit('s', (t) => t.replace(/:(\d+)/, ':007'))],
      ['a missing counter', () => edit('s', (t) => t.replace(/"0":\d+,?/, ''))],
      ['an extra counter', () => edit('s', (t) => t.replace(/}$/, ',"99999":1}'))],
      ['counters out of order', () => edit('s', (t) => `{${JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(t) as object).reverse())).slice(1)}`)],
      ['a branch with one arm too many', () => edit('b', (t) => t.replace(/\[(\d+)/, '[$1,0'))],
      ['a branch with one arm too few', () => edit('b', (t) => t.replace(/\[\d+,/, '['))],
      ['a duplicate "s" key (JSON.parse keeps the last)', () => learnt().replace(`"${path()}":{`, `"${path()}":{"s":{"0":5},`)],
      ['an escaped "s" key aliasing the real one', () => learnt().replace(/(,"b":)/, ',"\\u0073":{"0":9}$1')],
      ['a duplicate file key', () => learnt().replace(/}$/, `,${JSON.stringify(path())}:${JSON.stringify(withCounters(real, 8)[path()])}}`)],
      ['trailing garbage', () => `${learnt()} x`],
      ['a truncated body', () => learnt().slice(0, -20)],
      ['a body cut inside a counter', () => edit('s', (t) => t.replace(/:(\d+)/, ':12345')).replace(/(:12345)[^]*$/, '$1')],
      ['a file named __proto__', () => learnt().replace(`"${path()}":`, '"__proto__":')],
      ['a file named "files" (sniffed as coveralls)', () => learnt().replace(`"${path()}":`, '"files":')],
      ['a relative path that normalises onto another', () => learnt().replace(`"${path()}":`, `"./${path().slice(1)}":`)],
      ['counters padded with whitespace', () => edit('s', (t) => t.replace(/:/g, ' :\n\t').replace(/,/g, ' , '))],
    ];
    for (const [name, body] of cases) {
      it(name, async () => {
        await sameAsFullParse(Buffer.from(learnt())); // learn the structure first
        await sameAsFullParse(Buffer.from(body()));
      });
      it(`${name}, inside a full-data envelope`, async () => {
        await sameAsFullParse(envelope(learnt()), envCtx);
        await sameAsFullParse(envelope(body()), envCtx);
      });
    }

    it('invalid UTF-8 in a path', async () => {
      const text = learnt();
      const at = text.indexOf(path()) + 5;
      const body = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0xc3, 0x28]), Buffer.from(text.slice(at))]);
      const out = await sameAsFullParse(body);
      expect(out).to.have.property('status', 400);
    });
  });
});
