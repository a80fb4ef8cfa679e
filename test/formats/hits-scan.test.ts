import { expect } from 'chai';
import { decodePayload, type DecodeContext } from '../../gateway/formats/index.ts';
import { scanHitsEnvelope } from '../../gateway/formats/hits-scan.ts';
import { rng } from '../../scripts/bench/lib/rng.ts';

const ctx: DecodeContext = { declaredFormat: 'auto', contentType: 'application/vnd.covgate.v1+json' };

/** What ingest gets for `body`, or the error the client would see. */
async function outcome(body: Buffer, fullParseOnly: boolean, c: DecodeContext = ctx): Promise<unknown> {
  try {
    const d = await decodePayload(body, { ...c, fullParseOnly });
    return { ...d, hits: d.hits === undefined ? undefined : { ...d.hits } };
  } catch (err) {
    const e = err as { message: string; status?: number; code?: string };
    return { error: e.message, status: e.status, code: e.code };
  }
}

/** The fast path answers exactly what the full parse answers (data or error). */
async function sameAsFullParse(body: Buffer | string, c: DecodeContext = ctx): Promise<unknown> {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const slow = await outcome(buf, true, c);
  expect(await outcome(buf, false, c)).to.deep.equal(slow);
  return slow;
}

/** `base` with 1–3 random edits, each cutting up to 2 characters and inserting one token of `alphabet`. */
function mutate(base: string, alphabet: string[], next: () => number): string {
  let t = base;
  const edits = 1 + Math.floor(next() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(next() * t.length);
    const cut = Math.floor(next() * 3);
    t = t.slice(0, at) + alphabet[Math.floor(next() * alphabet.length)]! + t.slice(at + cut);
  }
  return t;
}

const valid = () => ({
  format: 'istanbul',
  instance: 'i-1',
  structure: 'build-7',
  startTime: '2026-11-23T04:00:00Z',
  build: { commit: 'abc', n: 3 },
  counters: 'cumulative',
  hits: {
    '/srv/app/a.js': { s: [1, 0, 12], f: [0, 3], b: [[1, 0], [0, 0, 4]] },
    'src/./b.js': { s: [], f: [] },
    '/srv/app/ü.js': { b: [], f: [9], s: [0] },
  },
});

describe('formats/hits-scan (the counters-only fast path)', () => {
  it('reads a counters-only envelope from its bytes as JSON.parse + validateHits would', async () => {
    const body = Buffer.from(JSON.stringify(valid()));
    expect(scanHitsEnvelope(body), 'answered by the scan').to.not.equal(undefined);
    const out = (await sameAsFullParse(body)) as { hits: Record<string, unknown> };
    expect(Object.keys(out.hits)).to.deep.equal(['/srv/app/a.js', 'src/b.js', '/srv/app/ü.js']);
  });

  it('answers nothing for bodies that are not counters-only envelopes (the slow path decodes them)', () => {
    for (const body of [
      { format: 'istanbul', data: {} },
      { '/a.js': { path: '/a.js', statementMap: {}, fnMap: {}, branchMap: {}, s: {}, f: {}, b: {} } },
      { ...valid(), labels: { a: 'b' } },
    ]) {
      expect(scanHitsEnvelope(Buffer.from(JSON.stringify(body))), JSON.stringify(body).slice(0, 40)).to.equal(undefined);
    }
    expect(scanHitsEnvelope(Buffer.from('[1,2]'))).to.equal(undefined);
  });

  describe('hostile and unusual bodies: identical result or identical 4xx', () => {
    const text = () => JSON.stringify(valid());
    const cases: Array<[string, () => string]> = [
      ['a negative count', () => text().replace('[1,0,12]', '[1,-1,12]')],
      ['a fraction', () => text().replace('[1,0,12]', '[1,0.5,12]')],
      ['an exponent', () => text().replace('[1,0,12]', '[1,1e3,12]')],
      ['a count above MAX_SAFE_INTEGER (saturates)', () => text().replace('[1,0,12]', '[1,123456789012345678901,12]')],
      ['a string count', () => text().replace('[1,0,12]', '[1,"0",12]')],
      ['a null count', () => text().replace('[1,0,12]', '[1,null,12]')],
      ['a leading zero', () => text().replace('[1,0,12]', '[1,007,12]')],
      ['an empty slot', () => text().replace('[1,0,12]', '[1,,12]')],
      ['a trailing comma', () => text().replace('[1,0,12]', '[1,0,12,]')],
      ['a branch that is not an array', () => text().replace('[[1,0],', '[7,')],
      ['a missing "s"', () => text().replace('"s":[],', '')],
      ['an extra key in a file', () => text().replace('"s":[],', '"s":[],"x":1,')],
      ['a duplicate "s" key', () => text().replace('"s":[],', '"s":[5],"s":[],')],
      ['an escaped "s" key', () => text().replace('"s":[],', '"\\u0073":[],')],
      ['a duplicate file key', () => text().replace('"src/./b.js"', '"/srv/app/a.js"')],
      ['a relative path that normalises onto another', () => text().replace('"src/./b.js"', '"/srv/app/./a.js"')],
      ['a file named __proto__', () => text().replace('"src/./b.js"', '"__proto__"')],
      ['an empty path', () => text().replace('"src/./b.js"', '""')],
      ['a path with a NUL escape', () => text().replace('"src/./b.js"', '"a\\u0000b.js"')],
      ['a path with a raw control character', () => text().replace('"src/./b.js"', '"a\tb.js"')],
      ['a path with escapes', () => text().replace('"src/./b.js"', '"src\\/b\\u00e9.js"')],
      ['a duplicate top-level key', () => text().replace('"instance":"i-1"', '"instance":"i-1","instance":"i-2"')],
      ['an unknown format', () => text().replace('"format":"istanbul"', '"format":"nope"')],
      ['no structure', () => text().replace('"structure":"build-7",', '')],
      ['a bad startTime', () => text().replace('2026-11-23T04:00:00Z', 'yesterday')],
      ['a build that nests deeper than the limit', () => text().replace('{"commit":"abc","n":3}', `${'['.repeat(70)}${']'.repeat(70)}`)],
      ['both data and hits', () => text().replace('"hits":', '"data":{},"hits":')],
      ['empty hits', () => text().replace(/"hits":\{.*\}\}$/, '"hits":{}}')],
      ['hits as an array', () => text().replace(/"hits":\{.*\}\}$/, '"hits":[]}')],
      ['trailing garbage', () => `${text()} x`],
      ['a truncated body', () => text().slice(0, -5)],
      ['a body cut inside a counter', () => text().slice(0, text().indexOf('12]') + 1)],
      ['whitespace everywhere', () => JSON.stringify(valid(), null, '\t').replace(/,/g, ' ,\r\n ')],
      ['an empty object', () => '{}'],
    ];
    for (const [name, body] of cases) it(name, async () => void (await sameAsFullParse(body())));

    it('invalid UTF-8 in a path', async () => {
      const t = text();
      const at = t.indexOf('/srv/app/a.js') + 5;
      await sameAsFullParse(Buffer.concat([Buffer.from(t.slice(0, at)), Buffer.from([0xc3, 0x28]), Buffer.from(t.slice(at))]));
    });

    it('as a plain JSON body (auto, application/json) and declared covgate', async () => {
      await sameAsFullParse(text(), { declaredFormat: 'auto', contentType: 'application/json' });
      await sameAsFullParse(text(), { declaredFormat: 'covgate', contentType: 'application/json' });
      await sameAsFullParse(text().replace('[1,0,12]', '[1,-1,12]'), { declaredFormat: 'covgate', contentType: 'application/json' });
    });
  });

  it('agrees with the full parse on 300 random mutations of a valid body (property)', async () => {
    const next = rng(7);
    const base = JSON.stringify(valid());
    const alphabet = ['', ' ', ',', '[', ']', '{', '}', '"', '0', '1', '-', '.', 'e', ':', '\\', 'null', '"s"', '9999999999999999'];
    for (let k = 0; k < 300; k++) await sameAsFullParse(mutate(base, alphabet, next));
  });

  describe('previousCounters: unchanged counters come back as the stored arrays', () => {
    const held = () => valid().hits as Record<string, { s: number[]; f: number[]; b?: number[][] }>;
    const lookup = (h: Record<string, { s: number[]; f: number[]; b?: number[][] }>) => (path: string) =>
      Object.hasOwn(h, path) ? { s: h[path]!.s, f: h[path]!.f, b: h[path]!.b ?? [] } : undefined;

    it('returns the held arrays (and file object) where every value is equal, new arrays where one differs, and never changes the held ones', () => {
      const h = held();
      const before = JSON.stringify(h);
      const prev = lookup(h);
      const files = new Map([...Object.keys(h)].map((p) => [p, prev(p)!]));
      const body = valid();
      body.hits['/srv/app/a.js'] = { s: [1, 0, 13], f: [0, 3], b: [[1, 0], [0, 1, 4]] };
      const got = scanHitsEnvelope(Buffer.from(JSON.stringify(body)), (p) => files.get(p))!.hits as Record<string, { s: number[]; f: number[]; b: number[][] }>;
      const a = got['/srv/app/a.js']!;
      const heldA = files.get('/srv/app/a.js')!;
      expect(a.s).to.not.equal(heldA.s);
      expect(a.s).to.deep.equal([1, 0, 13]);
      expect(a.f).to.equal(heldA.f);
      expect(a.b[0]).to.equal(heldA.b[0]);
      expect(a.b[1]).to.not.equal(heldA.b[1]);
      expect(a.b[1]).to.deep.equal([0, 1, 4]);
      expect(got['/srv/app/ü.js']).to.equal(files.get('/srv/app/ü.js'));
      expect(JSON.stringify(h)).to.equal(before);
    });

    it('a shorter or longer array than the held one is a new array with exactly what was sent', () => {
      const h = { 'x.js': { s: [1, 2, 3], f: [], b: [[1, 1]] } };
      const body = (s: number[], b: number[][]) => Buffer.from(JSON.stringify({ format: 'istanbul', structure: 'x', hits: { 'x.js': { s, f: [], b } } }));
      const scan = (s: number[], b: number[][]) => (scanHitsEnvelope(body(s, b), (p) => (h as Record<string, { s: number[]; f: number[]; b: number[][] }>)[p])!.hits as typeof h)['x.js'];
      expect(scan([1, 2], [[1, 1]]).s).to.deep.equal([1, 2]);
      expect(scan([1, 2, 3, 4], [[1, 1]]).s).to.deep.equal([1, 2, 3, 4]);
      expect(scan([1, 2, 3], [[1, 1], [0]]).b).to.deep.equal([[1, 1], [0]]);
      expect(scan([1, 2, 3], [[1]]).b).to.deep.equal([[1]]);
      expect(scan([1, 2, 3], [[1, 1]])).to.equal(h['x.js']);
      expect(h['x.js']).to.deep.equal({ s: [1, 2, 3], f: [], b: [[1, 1]] });
    });

    it('agrees with the full parse on 300 random mutations when given the held counters (property)', async () => {
      const next = rng(11);
      const base = JSON.stringify(valid());
      const c: DecodeContext = { ...ctx, previousCounters: lookup(held()) };
      const alphabet = ['', ' ', ',', '[', ']', '0', '1', '2', '-', '.', '9999999999999999', '[0]', '"s"'];
      for (let k = 0; k < 300; k++) await sameAsFullParse(mutate(base, alphabet, next), c);
    });

    it('with the held paths (PreviousCounters.paths): the same keys and counters as reading every path, in any order and spelling', () => {
      const h = held();
      const prev = lookup(h);
      // What the store holds: normalised paths in its order ('src/./b.js' was stored as 'src/b.js').
      const withPaths = Object.assign((p: string) => prev(p), { paths: ['/srv/app/a.js', 'src/b.js', '/srv/app/ü.js'] });
      const hitsOf = (body: unknown, previous?: typeof withPaths) => scanHitsEnvelope(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), previous)?.hits;
      const bodies: unknown[] = [
        valid(),
        // escaped spelling of a held path, a longer and a shorter path than the held one, another order
        JSON.stringify(valid()).replace('"/srv/app/a.js"', '"\\/srv\\/app\\/a.js"'),
        JSON.stringify(valid()).replace('"/srv/app/a.js"', '"/srv/app/a.jsx"'),
        JSON.stringify(valid()).replace('"/srv/app/a.js"', '"/srv/app/a.j"'),
        { ...valid(), hits: Object.fromEntries(Object.entries(valid().hits).reverse()) },
        { ...valid(), hits: { 'src/b.js': { s: [], f: [] } } },
      ];
      for (const body of bodies) {
        const plain = hitsOf(body, Object.assign((p: string) => prev(p)));
        expect(plain, String(body)).to.not.equal(undefined);
        expect(hitsOf(body, withPaths), String(body)).to.deep.equal(plain);
        expect(Object.keys(hitsOf(body, withPaths)!)).to.deep.equal(Object.keys(plain!));
      }
      expect(Object.keys(hitsOf(bodies[1])!)[0]).to.equal('/srv/app/a.js');
      // a held path that the check refuses is refused as before (the slow path names it)
      const refused = { ...valid(), hits: { '../etc/passwd': { s: [1], f: [] } } };
      expect(hitsOf(refused, Object.assign((p: string) => prev(p), { paths: ['../etc/passwd'] }))).to.equal(undefined);
    });

    it('agrees with the full parse on 300 random mutations when given the held counters and paths (property)', async () => {
      const next = rng(13);
      const base = JSON.stringify(valid());
      const prev = lookup(held());
      const c: DecodeContext = { ...ctx, previousCounters: Object.assign((p: string) => prev(p), { paths: ['/srv/app/a.js', 'src/b.js', '/srv/app/ü.js', 'src/./b.js'] }) };
      const alphabet = ['', ' ', '"', '\\', '/', 'a', '.', '..', '\\u0041', 'ü', '[0]', '1', '"s"', ','];
      for (let k = 0; k < 300; k++) await sameAsFullParse(mutate(base, alphabet, next), c);
    });
  });
});
