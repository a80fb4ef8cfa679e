import { runFixtures } from './fixtures.ts';

describe('formats: cobertura fixtures (test/fixtures/formats/cobertura)', () => {
  runFixtures('cobertura');
});
