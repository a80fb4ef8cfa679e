/**
 * Encoders: every output format renders from memory, and encode → decode
 * round-trips keep line coverage for lcov, cobertura, gocover and covgate.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { decodePayload, decoders, encodeCoverage } from '../../gateway/formats/index.ts';
import type { OutputFormat } from '../../gateway/formats/index.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { FIXTURES, describeFile } from './fixtures.ts';

function lineCoverage(map: CoverageMapData): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const path of Object.keys(map)) out[path] = describeFile(map, path).lines;
  return out;
}

async function decodeFixture(dir: string, file: string): Promise<CoverageMapData> {
  return (await decodePayload(readFileSync(join(FIXTURES, dir, file)), { declaredFormat: 'auto' })).coverage!;
}

describe('formats/encodeCoverage', () => {
  let nyc: CoverageMapData;
  let lcov: CoverageMapData;
  let go: CoverageMapData;
  before(async () => {
    nyc = await decodeFixture('istanbul', 'nyc-coverage-final.input.json');
    lcov = await decodeFixture('lcov', 'c8-functions-branches.input.info');
    go = await decodeFixture('gocover', 'two-packages-count.input.txt');
  });

  for (const [format, type] of [
    ['istanbul', 'application/json'],
    ['lcov', 'text/plain; charset=utf-8'],
    ['cobertura', 'application/xml'],
    ['gocover', 'text/plain; charset=utf-8'],
    ['json-summary', 'application/json'],
    ['text-summary', 'text/plain; charset=utf-8'],
    ['covgate', 'application/vnd.covgate.v1+json'],
  ] as Array<[OutputFormat, string]>) {
    it(`renders ${format} in memory as ${type}`, () => {
      const out = encodeCoverage(nyc, format);
      expect(out.contentType).to.equal(type);
      expect(out.body.length).to.be.greaterThan(0);
    });
  }

  for (const [format, source] of [
    ['lcov', 'lcov'],
    ['cobertura', 'lcov'],
    ['gocover', 'gocover'],
    ['lcov', 'istanbul'],
    ['cobertura', 'istanbul'],
    ['gocover', 'istanbul'],
    ['covgate', 'istanbul'],
  ] as Array<[OutputFormat, string]>) {
    it(`round-trips ${source} data through ${format} keeping line coverage and paths`, async () => {
      const map = source === 'lcov' ? lcov : source === 'gocover' ? go : nyc;
      const encoded = encodeCoverage(map, format, { timestamp: 0 });
      const decoded = await decodePayload(encoded.body, { declaredFormat: 'auto', contentType: encoded.contentType });
      expect(decoded.format).to.equal(format === 'covgate' ? 'istanbul' : format);
      expect(lineCoverage(decoded.coverage!)).to.deep.equal(lineCoverage(map));
    });
  }

  it('keeps functions and branches through lcov', async () => {
    const decoded = await decodePayload(encodeCoverage(lcov, 'lcov').body, { declaredFormat: 'lcov' });
    const file = describeFile(decoded.coverage!, '/srv/orders/src/cart.js');
    expect(file.functions).to.deep.equal({ addItem: 5, total: 2, '(anonymous_2)': 0 });
    expect(file.branches).to.deep.equal({ '5': [[0, 5]], '13': [[2, 0], [1, 1]] });
  });

  it('writes gocover blocks with Go columns and statement counts, so coverprofiles round-trip exactly', () => {
    const text = readFileSync(join(FIXTURES, 'gocover', 'two-packages-count.input.txt'), 'utf8');
    const body = encodeCoverage(go, 'gocover').body;
    expect(body.split('\n')[0]).to.equal('mode: count');
    expect(body).to.include('github.com/acme/orders/internal/cart/cart.go:14.38,16.2 1 15\n');
    expect(body).to.include('github.com/acme/orders/internal/cart/cart.go:22.2,23.16 2 5\n');
    // Every block of the input is there once (the duplicate summed).
    expect(body.trim().split('\n')).to.have.length(new Set(text.trim().split('\n').map((l) => l.replace(/ \d+$/, ''))).size);
  });

  it('writes paths relative to projectRoot when given, and absolute otherwise', () => {
    expect(encodeCoverage(lcov, 'lcov').body).to.include('SF:/srv/orders/src/util/money.js\n');
    expect(encodeCoverage(lcov, 'lcov', { projectRoot: '/srv/orders' }).body).to.include('SF:src/util/money.js\n');
    const xml = encodeCoverage(lcov, 'cobertura').body;
    expect(xml).to.include('<source>/srv/orders/src</source>');
    expect(xml).to.include('filename="util/money.js"');
    expect(encodeCoverage(lcov, 'gocover', { projectRoot: '/srv/orders' }).body).to.include('\nsrc/cart.js:');
  });

  it('escapes XML in cobertura file names', async () => {
    const map = { '/srv/a&b/x.js': { ...lcov['/srv/orders/src/util/money.js']!, path: '/srv/a&b/x.js' } };
    const xml = encodeCoverage(map, 'cobertura').body;
    expect(xml).to.include('<source>/srv/a&amp;b</source>');
    const decoded = await decodePayload(xml, { declaredFormat: 'cobertura' });
    expect(Object.keys(decoded.coverage!)).to.deep.equal(['/srv/a&b/x.js']);
  });

  it('wraps covgate output in an envelope with the given metadata, never letting meta replace data', async () => {
    const out = encodeCoverage(nyc, 'covgate', { meta: { instance: 'gw-1', build: { version: '2.0.0' }, format: 'lcov', data: 'x' } });
    const env = JSON.parse(out.body);
    expect(env).to.include({ format: 'istanbul', counters: 'cumulative', instance: 'gw-1' });
    expect(env.data).to.deep.equal(nyc);
    const decoded = await decodePayload(out.body, { declaredFormat: 'auto', contentType: out.contentType });
    expect(decoded).to.include({ enveloped: true, instance: 'gw-1' });
  });

  it('summarises like Istanbul in json-summary and text-summary', () => {
    const summary = JSON.parse(encodeCoverage(go, 'json-summary').body);
    expect(summary.total.lines).to.include({ total: 8, covered: 6 });
    expect(encodeCoverage(go, 'text-summary').body).to.match(/Lines\s+: 75% \( 6\/8 \)/);
  });
});

describe('formats/decoders registry', () => {
  it('has one decoder per plain payload format, each naming its own format', () => {
    expect(Object.keys(decoders).sort()).to.deep.equal(['cobertura', 'coveralls', 'gocovdata', 'gocover', 'istanbul', 'lcov', 'v8']);
    for (const [name, decoder] of Object.entries(decoders)) expect(decoder.format).to.equal(name);
  });
});
