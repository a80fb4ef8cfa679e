import { runFixtures } from './fixtures.ts';

describe('formats: gocover fixtures (test/fixtures/formats/gocover)', () => {
  runFixtures('gocover');
});
