/**
 * Data-driven fixture runner: every `test/fixtures/formats/<dir>/<case>.input.*`
 * is decoded with decodePayload and compared with `<case>.expected.json`:
 *
 *   { "context"?: {declaredFormat, contentType, instanceHeader, counters},   // default declaredFormat "auto"
 *     "error"?: "substring of the COVGATE_BAD_COVERAGE message",
 *     "format"?, "enveloped"?, "instance"?, "counters"?, "startTime"?, "structureId"?, "build"?, "hits"?,
 *     "warnings"?: ["substring", …],
 *     "files"?: { path: { "lines"?: {line: hits}, "statements"?: n,
 *                         "functions"?: {name: hits}, "branches"?: {line: [[arm hits], …]} } } }
 *
 * `files` lists every file of the result (no more, no fewer). Every decoded
 * map must also be accepted by istanbul-lib-coverage and the model's split.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import libCoverage from 'istanbul-lib-coverage';
import { decodePayload } from '../../gateway/formats/index.ts';
import type { DecodeContext, Decoded } from '../../gateway/formats/index.ts';
import { splitCoverageMap } from '../../gateway/model/index.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { isCovgateError } from '../../gateway/errors.ts';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'formats');

export interface ExpectedFile {
  lines?: Record<string, number>;
  statements?: number;
  functions?: Record<string, number>;
  branches?: Record<string, number[][]>;
}

export interface Expected {
  context?: Partial<DecodeContext>;
  error?: string;
  format?: string;
  enveloped?: boolean;
  instance?: string;
  counters?: string;
  startTime?: string;
  structureId?: string;
  build?: Record<string, string>;
  hits?: unknown;
  warnings?: string[];
  files?: Record<string, ExpectedFile>;
}

export interface FixtureCase {
  name: string;
  input: Buffer;
  expected: Expected;
}

export function loadCases(dir: string): FixtureCase[] {
  const root = join(FIXTURES, dir);
  return readdirSync(root)
    .filter((f) => /\.input\.[^.]+$/.test(f))
    .sort()
    .map((f) => {
      const name = f.replace(/\.input\.[^.]+$/, '');
      return {
        name,
        input: readFileSync(join(root, f)),
        expected: JSON.parse(readFileSync(join(root, `${name}.expected.json`), 'utf8')) as Expected,
      };
    });
}

/** What a decoded file looks like in an expected.json. */
export function describeFile(map: CoverageMapData, path: string): Required<ExpectedFile> {
  const fc = libCoverage.createFileCoverage(map[path]!);
  const data = fc.toJSON() as unknown as CoverageMapData[string];
  const lines: Record<string, number> = {};
  for (const [line, hits] of Object.entries(fc.getLineCoverage())) lines[line] = hits;
  const functions: Record<string, number> = {};
  for (const [id, fn] of Object.entries(data.fnMap)) functions[fn.name] = (functions[fn.name] ?? 0) + data.f[id]!;
  const branches: Record<string, number[][]> = {};
  for (const [id, br] of Object.entries(data.branchMap)) (branches[String(br.loc.start.line)] ??= []).push(data.b[id]!);
  return { lines, statements: Object.keys(data.statementMap).length, functions, branches };
}

export function checkDecoded(decoded: Decoded, expected: Expected): void {
  for (const key of ['format', 'enveloped', 'instance', 'counters', 'startTime', 'structureId', 'build', 'hits'] as const) {
    if (expected[key] !== undefined) expect(decoded[key], key).to.deep.equal(expected[key]);
  }
  const warnings = decoded.warnings ?? [];
  if (expected.warnings !== undefined) {
    expect(warnings, 'warnings').to.have.length(expected.warnings.length);
    expected.warnings.forEach((w, i) => expect(warnings[i]).to.include(w));
  }
  if (expected.files !== undefined) {
    const map = decoded.coverage!;
    expect(map, 'coverage').to.be.an('object');
    // Both istanbul-lib-coverage and the model must accept what we produce.
    libCoverage.createCoverageMap(JSON.parse(JSON.stringify(map)));
    splitCoverageMap(JSON.parse(JSON.stringify(map)));
    expect(Object.keys(map).sort(), 'files').to.deep.equal(Object.keys(expected.files).sort());
    for (const [path, want] of Object.entries(expected.files)) {
      const got = describeFile(map, path);
      for (const k of ['lines', 'statements', 'functions', 'branches'] as const) {
        if (want[k] !== undefined) expect(got[k], `${path} ${k}`).to.deep.equal(want[k]);
      }
    }
  }
}

/** One `it` per fixture case in `dir`. */
export function runFixtures(dir: string, extraContext: Partial<DecodeContext> = {}): void {
  for (const c of loadCases(dir)) {
    const title = c.expected.error ? `rejects ${c.name} (${c.expected.error})` : `decodes ${c.name}`;
    it(title, async () => {
      const ctx: DecodeContext = { declaredFormat: 'auto', ...extraContext, ...(c.expected.context ?? {}) };
      if (c.expected.error !== undefined) {
        let thrown: unknown;
        try {
          await decodePayload(c.input, ctx);
        } catch (err) {
          thrown = err;
        }
        expect(thrown, 'expected an error').to.exist;
        expect(isCovgateError(thrown) && thrown.code, String(thrown)).to.equal('COVGATE_BAD_COVERAGE');
        expect((thrown as Error).message).to.include(c.expected.error);
        return;
      }
      checkDecoded(await decodePayload(c.input, ctx), c.expected);
    });
  }
}
