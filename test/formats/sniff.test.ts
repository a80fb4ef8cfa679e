import { runFixtures } from './fixtures.ts';

describe('formats: sniff fixtures (test/fixtures/formats/sniff)', () => {
  runFixtures('sniff');
});
