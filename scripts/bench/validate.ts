/**
 * Measures what boundary validation (gateway/formats/validate.ts) adds to the
 * ingest of a ~7 MB Istanbul payload: JSON parse + decode + split/hash, with
 * and without `validateDecoded`. Run: npx tsx scripts/bench/validate.ts
 */
import { readFileSync } from 'node:fs';
import { istanbulDecoder } from '../../gateway/formats/istanbul.ts';
import { validateDecoded } from '../../gateway/formats/validate.ts';
import { toAppendInput } from '../../gateway/ingest/index.ts';
import type { Decoded } from '../../gateway/formats/types.ts';

const base = JSON.parse(readFileSync(new URL('../../test/fixtures/formats/istanbul/nyc-coverage-final.input.json', import.meta.url), 'utf8')) as Record<string, Record<string, unknown>>;
const big: Record<string, unknown> = {};
let n = 0;
while (JSON.stringify(big).length < 7 * 1024 * 1024) {
  for (const [path, file] of Object.entries(base)) {
    const p = `/srv/app${n}${path}`;
    big[p] = { ...file, path: p };
  }
  n++;
}
const text = JSON.stringify(big);
const store = { envelopeFiles: () => undefined, structure: () => undefined };

async function ingest(validate: boolean): Promise<void> {
  const json = JSON.parse(text);
  let decoded: Decoded = { format: 'istanbul', enveloped: false, counters: 'cumulative', coverage: await istanbulDecoder.decode(json, { declaredFormat: 'istanbul' }) };
  if (validate) decoded = validateDecoded(decoded);
  toAppendInput(decoded, { id: 't', job: 'j', labels: {} }, store);
}

async function time(validate: boolean, rounds: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await ingest(validate);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

await time(true, 2); // warm up both paths
await time(false, 2);
// Interleaved rounds: the machine is shared, so load drifts during a run.
const a: number[] = [];
const b: number[] = [];
for (let i = 0; i < 5; i++) {
  a.push(await time(false, 3));
  b.push(await time(true, 3));
}
const median = (x: number[]) => x.sort((p, q) => p - q)[Math.floor(x.length / 2)]!;
const without = median(a);
const withV = median(b);
console.log(`payload ${(text.length / 1024 / 1024).toFixed(1)} MB, ${Object.keys(big).length} files`);
console.log(`ingest without validation: ${without.toFixed(1)} ms (median)`);
console.log(`ingest with validation:    ${withV.toFixed(1)} ms (median), +${(((withV - without) / without) * 100).toFixed(1)}%`);
