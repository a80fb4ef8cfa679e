/**
 * Coverage files on the local disk, with no gateway: read any supported
 * format, merge with covgate's semantics (same build: counters added; other
 * builds of a file: merged by source location), write any output format or
 * an Istanbul HTML report.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { decodePayload, encodeCoverage, type OutputFormat } from '../formats/index.ts';
import { CounterSet, expandGoStatements, splitCoverageMap, type CoverageMapData, type FileStructure } from '../model/index.ts';
import { renderHtml } from '../report/render.ts';
import { safeReportPath } from '../report/sources.ts';
import { CliError, EXIT, progress } from './output.ts';

/** Formats `covgate report` and `merge -o` write (commands.ts lists them for flag checks). html is a folder. */
export type LocalOutput = 'istanbul' | 'lcov' | 'cobertura' | 'gocover' | 'json-summary' | 'text-summary' | 'html';

/** Reads one coverage file of any supported format into an Istanbul map. */
export async function readCoverageFile(file: string, format = 'auto'): Promise<CoverageMapData> {
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch (err) {
    throw new CliError(EXIT.failed, `${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    const decoded = await decodePayload(body, {
      declaredFormat: format as never,
      contentType: undefined,
      // V8 files name their scripts by file: URL; on the user's own machine they are read as nyc/c8 do.
      loadSource: async (url) => {
        try {
          return url.startsWith('file:') ? readFileSync(fileURLToPath(url), 'utf8') : undefined;
        } catch {
          return undefined;
        }
      },
    });
    if (!decoded.coverage) throw new Error('a counters-only reply has no structure to read');
    return decoded.coverage;
  } catch (err) {
    throw new CliError(EXIT.failed, `${file}: ${(err as Error).message}`);
  }
}

/** Sum of the coverage in `maps`, as the gateway sums lifetimes. */
export function mergeMaps(maps: CoverageMapData[]): CoverageMapData {
  const set = new CounterSet();
  const structures = new Map<string, FileStructure>();
  for (const map of maps) {
    const split = splitCoverageMap(map);
    for (const [h, s] of split.structures) structures.set(h, s);
    set.addSnapshot(split.snapshot);
  }
  return set.toCoverageMap((h) => structures.get(h)).map;
}

/** Reads `files` (any format, or `format`), with a progress bar on a terminal. */
export async function readAll(files: string[], format?: string): Promise<CoverageMapData[]> {
  if (!files.length) throw new CliError(EXIT.usage, 'no input files');
  const bar = progress('reading', files.length);
  const maps: CoverageMapData[] = [];
  for (const f of files) {
    maps.push(await readCoverageFile(f, format));
    bar.tick();
  }
  bar.done();
  return maps;
}

/** Reads and merges `files`. */
export async function readAndMerge(files: string[], format?: string): Promise<CoverageMapData> {
  return mergeMaps(await readAll(files, format));
}

/** Writes `map` as `format` to `out` (a file; a folder for html), or returns the text for stdout. */
export function writeCoverage(map: CoverageMapData, format: LocalOutput, out: string | undefined): string | undefined {
  if (format === 'html') {
    if (!out) throw new CliError(EXIT.usage, '--format html needs -o <dir>');
    mkdirSync(out, { recursive: true });
    const safe: Record<string, unknown> = Object.create(null);
    const originals: Record<string, string> = Object.create(null);
    for (const [path, data] of Object.entries(expandGoStatements(map))) {
      let name = safeReportPath(path);
      for (let n = 2; Object.hasOwn(originals, name); n++) name = `${safeReportPath(path)}~${n}`;
      originals[name] = path;
      safe[name] = { ...data, path: name };
    }
    // The user's own files on the user's own machine: sources are read from anywhere, as nyc report does.
    renderHtml({ dir: out, map: safe, originals, roots: ['/'] });
    return undefined;
  }
  const encoded = encodeCoverage(map, format as OutputFormat);
  const body = encoded.body;
  if (!out) return body.endsWith('\n') ? body : `${body}\n`;
  writeFileSync(out, body);
  return undefined;
}
