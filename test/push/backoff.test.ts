import { expect } from 'chai';
import { backoffDelay, parseRetryAfter } from '../../gateway/push/index.ts';

describe('push/backoffDelay', () => {
  const table: Array<[attempts: number, random: number, expected: number]> = [
    [1, 0, 1_000],
    [1, 0.999, 1_000], // the first cap is min_backoff itself
    [2, 1, 2_000],
    [3, 1, 4_000],
    [4, 1, 8_000],
    [5, 1, 10_000], // capped at max_backoff
    [60, 1, 10_000], // no overflow for long outages
    [3, 0, 1_000], // never below min_backoff
    [3, 0.5, 2_500],
  ];
  for (const [attempts, random, expected] of table) {
    it(`after attempt ${attempts} with jitter ${random} waits ${expected}ms (min 1s, max 10s)`, () => {
      expect(backoffDelay(attempts, 1_000, 10_000, () => random)).to.equal(expected);
    });
  }
});

describe('push/parseRetryAfter', () => {
  const now = Date.UTC(2026, 0, 15, 12, 0, 0);
  const table: Array<[value: unknown, expected: number | undefined]> = [
    ['120', 120_000],
    [' 0 ', 0],
    [new Date(now + 90_000).toUTCString(), 90_000],
    [new Date(now - 90_000).toUTCString(), 0],
    ['soon', undefined],
    ['-5', undefined],
    ['', undefined],
    [undefined, undefined],
  ];
  for (const [value, expected] of table) {
    it(`reads ${JSON.stringify(value)} as ${expected}`, () => {
      expect(parseRetryAfter(value, now)).to.equal(expected);
    });
  }
});
