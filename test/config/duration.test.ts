import { expect } from 'chai';
import { formatDuration, parseDuration, parseSize } from '../../gateway/config/index.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('parseDuration', () => {
  const good: [string, number][] = [
    ['0', 0],
    ['500ms', 500],
    ['15s', 15 * S],
    ['5m', 5 * M],
    ['1h', H],
    ['21d', 21 * D],
    ['1w', 7 * D],
    ['1y', 365 * D],
    ['1h30m', 90 * M],
    ['2w3d', 17 * D],
    ['1m30s500ms', 90 * S + 500],
    ['0s', 0],
  ];
  for (const [input, ms] of good) {
    it(`parses ${JSON.stringify(input)} as ${ms}ms`, () => {
      expect(parseDuration(input)).to.equal(ms);
    });
  }

  const bad = ['', '10', '-5s', '1.5h', '15 seconds', '15S', 's', '1m1h', '1h 30m', ' 1h', '1d1d', 'ms'];
  for (const input of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      expect(() => parseDuration(input)).to.throw(/duration/);
    });
  }
});

describe('formatDuration', () => {
  const table: [number, string][] = [
    [0, '0s'],
    [500, '500ms'],
    [15 * S, '15s'],
    [90 * M, '1h30m'],
    [21 * D, '3w'],
    [17 * D, '17d'],
    [14 * D, '2w'],
    [365 * D, '1y'],
    [366 * D, '366d'],
    [H + 500, '1h500ms'],
  ];
  for (const [ms, text] of table) {
    it(`formats ${ms}ms as ${text} and parses back`, () => {
      expect(formatDuration(ms)).to.equal(text);
      expect(parseDuration(text)).to.equal(ms);
    });
  }

  it('rejects negative and non-finite values', () => {
    expect(() => formatDuration(-1)).to.throw();
    expect(() => formatDuration(Number.NaN)).to.throw();
  });
});

describe('parseSize', () => {
  const good: [string | number, number][] = [
    ['0', 0],
    [0, 0],
    [1048576, 1048576],
    ['1048576', 1048576],
    ['100B', 100],
    ['512KB', 512_000],
    ['512KiB', 512 * 1024],
    ['64MiB', 64 * 2 ** 20],
    ['64MB', 64_000_000],
    ['1GB', 1e9],
    ['1GiB', 2 ** 30],
    ['2TB', 2e12],
    ['1.5MiB', 1.5 * 2 ** 20],
    ['64mib', 64 * 2 ** 20],
    ['64 MiB', 64 * 2 ** 20],
  ];
  for (const [input, bytes] of good) {
    it(`parses ${JSON.stringify(input)} as ${bytes} bytes`, () => {
      expect(parseSize(input)).to.equal(bytes);
    });
  }

  const bad: (string | number)[] = ['', '-1', '64 megs', '1.5', 'MiB', '10XB', -5, 1.5];
  for (const input of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      expect(() => parseSize(input)).to.throw(/size/);
    });
  }
});
