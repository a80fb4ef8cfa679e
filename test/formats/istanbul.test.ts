import { runFixtures } from './fixtures.ts';

describe('formats: istanbul fixtures (test/fixtures/formats/istanbul)', () => {
  runFixtures('istanbul');
});
