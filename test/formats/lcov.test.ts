import { runFixtures } from './fixtures.ts';

describe('formats: lcov fixtures (test/fixtures/formats/lcov)', () => {
  runFixtures('lcov');
});
