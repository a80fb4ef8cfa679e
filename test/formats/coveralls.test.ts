import { runFixtures } from './fixtures.ts';

describe('formats: coveralls fixtures (test/fixtures/formats/coveralls)', () => {
  runFixtures('coveralls');
});
