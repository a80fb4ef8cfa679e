import { expect } from 'chai';
import { decodePayload } from '../../gateway/formats/index.ts';
import { normalisePath, pathProblem, validateCoverageMap, validateHits } from '../../gateway/formats/validate.ts';
import type { CovgateError } from '../../gateway/errors.ts';

const R = (line: number) => ({ start: { line, column: 0 }, end: { line, column: 10 } });
const file = (over: Record<string, unknown> = {}) => ({
  path: 'src/a.js',
  statementMap: { 0: R(1), 1: R(2) },
  fnMap: { 0: { name: 'f', decl: R(1), loc: R(1), line: 1 } },
  branchMap: { 0: { type: 'if', loc: R(2), locations: [R(2), { start: {}, end: {} }], line: 2 } },
  s: { 0: 1, 1: 0 },
  f: { 0: 1 },
  b: { 0: [1, 0] },
  ...over,
});

function refusal(fn: () => unknown): CovgateError {
  try {
    fn();
  } catch (err) {
    return err as CovgateError;
  }
  throw new Error('expected a refusal');
}

describe('formats/validate (the boundary of every decoder)', () => {
  it('accepts a valid file (nyc-style empty else location included) and keeps it as sent', () => {
    const out = validateCoverageMap({ 'src/a.js': file() });
    expect(out['src/a.js']!.s).to.deep.equal({ 0: 1, 1: 0 });
    expect(out['src/a.js']!.branchMap[0]!.locations[1]).to.deep.equal({ start: {}, end: {} });
  });

  it('saturates counters above MAX_SAFE_INTEGER instead of refusing them, and refuses Infinity', () => {
    const out = validateCoverageMap({ 'src/a.js': file({ s: { 0: 1e308, 1: 0 }, b: { 0: [1e300, 1] } }) });
    expect(out['src/a.js']!.s[0]).to.equal(Number.MAX_SAFE_INTEGER);
    expect(out['src/a.js']!.b[0]).to.deep.equal([Number.MAX_SAFE_INTEGER, 1]);
    expect(refusal(() => validateCoverageMap({ 'src/a.js': file({ s: { 0: Infinity, 1: 0 } }) })).message).to.match(/s\["0"\]: hit count must be a non-negative integer, got Infinity/);
  });

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a statementMap entry that is a string', { statementMap: { 0: 'x', 1: R(2) } }, /file "src\/a\.js": statementMap\["0"\]/],
    ['a null fnMap entry', { fnMap: { 0: null } }, /fnMap\["0"\]/],
    ['a float counter', { s: { 0: 1.5, 1: 0 } }, /s\["0"\]: hit count must be a non-negative integer, got 1\.5/],
    ['a string counter', { f: { 0: '1' } }, /f\["0"\]: hit count must be a non-negative integer, got "1"/],
    ['a boolean counter', { s: { 0: true, 1: 0 } }, /got true/],
    ['a counter without statement', { s: { 0: 1, 1: 0, 2: 4 } }, /s\["2"\] counts nothing in "statementMap"/],
    ['a statement without counter', { s: { 0: 1 } }, /statementMap\["1"\] has no counter in "s"/],
    ['b shorter than its locations', { b: { 0: [1] } }, /b\["0"\] has 1 counters but branchMap\["0"\] has 2 locations/],
    ['a path field with ..', { path: '../x.js' }, /path "\.\.\/x\.js" has a "\.\." segment/],
  ];
  for (const [what, over, message] of bad) {
    it(`refuses ${what}, naming the file and field`, () => {
      const err = refusal(() => validateCoverageMap({ 'src/a.js': file(over) }));
      expect(err.code).to.equal('COVGATE_BAD_COVERAGE');
      expect(err.message).to.match(message);
    });
  }

  it('judges file paths: NUL, control characters, length, lone surrogates, .., reserved names', () => {
    expect(pathProblem('src/a.js')).to.equal(undefined);
    expect(pathProblem('C:\\src\\a.js')).to.equal(undefined);
    expect(pathProblem('a\u0000b')).to.match(/control character/);
    expect(pathProblem('a\nSF:x')).to.match(/control character/);
    expect(pathProblem('a'.repeat(4097))).to.match(/at most 4096/);
    expect(pathProblem('a\ud800.js')).to.match(/UTF-8/);
    expect(pathProblem('a/../../b')).to.match(/\.\./);
    expect(pathProblem('..\\b')).to.match(/\.\./);
    expect(pathProblem('__proto__')).to.match(/reserved/);
    expect(pathProblem('constructor')).to.match(/reserved/);
    expect(normalisePath('./src//a.js')).to.equal('src/a.js');
    expect(normalisePath('/srv/./a.js')).to.equal('/srv/./a.js'); // absolute paths are kept as the exporter named them
  });

  it('refuses a file map whose two keys normalise to one path', () => {
    expect(refusal(() => validateCoverageMap({ 'src/a.js': file({ path: undefined }), './src/a.js': file({ path: undefined }) })).message).to.match(/same path/);
  });

  it('checks counters-only hits the same way', () => {
    expect(validateHits({ 'src/a.js': { s: [1, 1e308] } })['src/a.js']!.s).to.deep.equal([1, Number.MAX_SAFE_INTEGER]);
    expect(refusal(() => validateHits({ 'src/a.js': { s: [1, '2'] } })).message).to.match(/hits\["src\/a\.js"\]\.s\[1\]/);
    expect(refusal(() => validateHits({ 'src/a.js': { s: [0.5] } })).message).to.match(/non-negative integer/);
    expect(refusal(() => validateHits({ 'src/a.js': { s: [Infinity], f: [] } })).message).to.match(/non-negative integer, got Infinity/);
  });

  it('checks hits of every shape the schema would, plainly valid ones without it, and is idempotent', () => {
    const cases: unknown[] = [
      { s: [1, -1] },
      { s: [1], x: [] },
      { s: null },
      { b: [[1, null]] },
      { b: [1] },
      { f: [Infinity] },
      [],
      'x',
    ];
    for (const raw of cases) expect(refusal(() => validateHits({ 'src/a.js': raw })).message, JSON.stringify(raw)).to.match(/^covgate envelope hits\["src\/a\.js"\]/);
    const ok = validateHits({ './src//a.js': { s: [0, 2], b: [[1, 2 ** 60]] } });
    expect(ok).to.deep.equal({ 'src/a.js': { s: [0, 2], f: [], b: [[1, Number.MAX_SAFE_INTEGER]] } });
    expect(validateHits(ok)).to.equal(ok);
    expect(refusal(() => validateHits({}, { requireFiles: true })).message).to.match(/names no file/);
    expect(refusal(() => validateHits(validateHits({}), { requireFiles: true })).message).to.match(/names no file/);
    expect(refusal(() => validateHits({ 'src/a.js': { s: [1] }, './src/a.js': { s: [2] } })).message).to.match(/same path/);
  });

  it('decodePayload refuses a body that is not UTF-8 and, for pushes, an empty map', async () => {
    const nonUtf8 = Buffer.from([0x53, 0x46, 0x3a, 0xff, 0x0a]);
    await decodePayload(nonUtf8, { declaredFormat: 'lcov' }).then(
      () => expect.fail('accepted'),
      (err: CovgateError) => expect(err.message).to.match(/not valid UTF-8/),
    );
    await decodePayload('{}', { declaredFormat: 'istanbul', requireFiles: true }).then(
      () => expect.fail('accepted'),
      (err: CovgateError) => expect(err.message).to.match(/names no file/),
    );
    expect((await decodePayload('{}', { declaredFormat: 'istanbul' })).coverage).to.deep.equal({}); // a scrape may find nothing loaded yet
  });

  it('every decoder output passes through it: an lcov float count is refused', async () => {
    await decodePayload('SF:src/a.js\nDA:1,1.5\nend_of_record\n', { declaredFormat: 'lcov' }).then(
      () => expect.fail('accepted'),
      (err: CovgateError) => expect(err.message).to.match(/file "src\/a\.js": s\["0"\]: hit count must be a non-negative integer, got 1\.5/),
    );
  });
});
