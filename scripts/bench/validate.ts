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
import { alternate, quick, reportRow } from './lib/harness.ts';

const base = JSON.parse(readFileSync(new URL('../../test/fixtures/formats/istanbul/nyc-coverage-final.input.json', import.meta.url), 'utf8')) as Record<string, Record<string, unknown>>;
const big: Record<string, unknown> = {};
let n = 0;
// The size grows by each copy's JSON (stringifying the whole map on every pass made set-up quadratic: 85 s).
let size = 2;
while (size < (quick ? 2 : 7) * 1024 * 1024) {
  for (const [path, file] of Object.entries(base)) {
    const p = `/srv/app${n}${path}`;
    big[p] = { ...file, path: p };
    size += JSON.stringify(p).length + JSON.stringify(big[p]).length + 2;
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

const rounds = quick ? 3 : 11;
const { a: withV, b: without } = await alternate(() => ingest(true), () => ingest(false), rounds);
const overhead = ((withV - without) / without) * 100;
reportRow({
  item: '11.1 validation overhead, full path',
  covgate: `JSON.parse + decode + validateDecoded + split (${(text.length / 1024 / 1024).toFixed(1)} MB, ${Object.keys(big).length} files)`,
  baseline: 'the same without validateDecoded',
  value: overhead,
  unit: '%',
  target: '≤ +20%',
  met: overhead <= 20,
  notes: `${withV.toFixed(0)} ms with validation, ${without.toFixed(0)} ms without (CPU medians)`,
});
