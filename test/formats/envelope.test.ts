import { runFixtures } from './fixtures.ts';

describe('formats: envelope fixtures (test/fixtures/formats/envelope)', () => {
  runFixtures('envelope');
});
