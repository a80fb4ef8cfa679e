/**
 * `covgate merge|subtract|intersect <a> <b> [--format f] [-o file]`: the set
 * operations of the API (model/set-ops.ts, `go tool covdata` semantics) on
 * two local coverage files of any format the gateway decodes (format sniffed
 * like a scrape). Writes the result in `--format` (default istanbul) to
 * stdout or `-o`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { describeError } from '../errors.ts';
import { decodePayload, encodeCoverage } from '../formats/index.ts';
import type { OutputFormat } from '../formats/types.ts';
import { combineCoverage, type CoverageMapData, type SetOp } from '../model/index.ts';

const OUTPUT_FORMATS: OutputFormat[] = ['istanbul', 'lcov', 'cobertura', 'gocover', 'json-summary', 'text-summary'];

export const SET_OPS_USAGE = `Usage: covgate merge|subtract|intersect <a> <b> [--format ${OUTPUT_FORMATS.join('|')}] [-o <file>]
  merge: a + b; subtract: a's counts where b's are 0; intersect: a's counts where b's are above 0
  (as go tool covdata). Inputs: istanbul, v8, gocover, lcov, cobertura, coveralls or covgate files.`;

async function load(file: string): Promise<CoverageMapData> {
  const body = await readFile(file);
  const decoded = await decodePayload(body, { declaredFormat: 'auto' });
  if (!decoded.coverage) throw new Error(`${file}: has no coverage data (a counters-only reply)`);
  return decoded.coverage;
}

export async function runSetOp(op: SetOp, argv: string[], out: { stdout: (s: string) => void; stderr: (s: string) => void }): Promise<number> {
  let values: { format?: string; output?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { format: { type: 'string', default: 'istanbul' }, output: { type: 'string', short: 'o' } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    out.stderr(`covgate ${op}: ${describeError(err)}\n${SET_OPS_USAGE}\n`);
    return 2;
  }
  const format = values.format as OutputFormat;
  if (positionals.length !== 2 || !OUTPUT_FORMATS.includes(format)) {
    out.stderr(`covgate ${op}: ${positionals.length !== 2 ? `expected two files, got ${positionals.length}` : `unknown --format ${JSON.stringify(format)}`}\n${SET_OPS_USAGE}\n`);
    return 2;
  }
  try {
    const [a, b] = await Promise.all(positionals.map(async (f) => load(f).catch((err: unknown) => Promise.reject(new Error(`${f}: ${describeError(err)}`)))));
    const body = encodeCoverage(combineCoverage(a!, b!, op), format).body;
    if (values.output) await writeFile(values.output, body);
    else out.stdout(body);
    return 0;
  } catch (err) {
    out.stderr(`covgate ${op}: ${describeError(err)}\n`);
    return 1;
  }
}
