/**
 * Encoders for GET /api/v1/coverage `format=` and for pushes: one output
 * format per case, all from an Istanbul coverage map. lcov, cobertura,
 * json-summary and text-summary are istanbul-reports rendered in memory.
 */
import { posix } from 'node:path';
import type { CoverageMapData } from '../../model/index.ts';
import { errors } from '../../errors.ts';
import type { Encoded, OutputFormat } from '../types.ts';
import { ENVELOPE_CONTENT_TYPE } from '../envelope.ts';
import { encodeGoCover } from './gocover.ts';
import { renderReport } from './report.ts';
import { renderJsonSummary, renderTextSummary } from './summary.ts';

export interface EncodeOptions {
  /**
   * Paths are written relative to this directory (lcov SF, cobertura
   * filename, gocover). Without it lcov and gocover keep paths as they are,
   * and cobertura uses the common directory of all (absolute) paths as its
   * `<source>`, so decoding it gives back the same paths.
   */
  projectRoot?: string;
  /** Envelope fields for `covgate` output (instance, startTime, build, structure, counters). */
  meta?: Record<string, unknown>;
  /** Cobertura `timestamp` (ms since epoch); defaults to now. For reproducible output in tests. */
  timestamp?: number;
}

const CONTENT_TYPES: Record<OutputFormat, string> = {
  istanbul: 'application/json',
  lcov: 'text/plain; charset=utf-8',
  cobertura: 'application/xml',
  gocover: 'text/plain; charset=utf-8',
  'json-summary': 'application/json',
  'text-summary': 'text/plain; charset=utf-8',
  covgate: ENVELOPE_CONTENT_TYPE,
};

export function contentTypeOf(format: OutputFormat): string {
  return CONTENT_TYPES[format];
}

function filePath(key: string, fc: { path?: unknown }): string {
  return typeof fc.path === 'string' && fc.path !== '' ? fc.path : key;
}

/** The directory every absolute path lies under, or undefined when some path is relative. */
export function commonRoot(paths: string[]): string | undefined {
  if (paths.length === 0 || !paths.every((p) => p.startsWith('/'))) return undefined;
  let parts = posix.dirname(paths[0]!).split('/');
  for (const p of paths.slice(1)) {
    const other = posix.dirname(p).split('/');
    let i = 0;
    while (i < parts.length && i < other.length && parts[i] === other[i]) i++;
    parts = parts.slice(0, i);
  }
  return parts.join('/') || '/';
}

function relativeTo(root: string | undefined): (p: string) => string {
  if (root === undefined) return (p) => p;
  return (p) => (posix.isAbsolute(p) ? posix.relative(root, p) || posix.basename(p) : p);
}

/**
 * Renames what istanbul-reports wrote (it writes `path.relative(projectRoot, p)`,
 * resolving relative paths against the gateway's cwd) to the names we want.
 */
function rename(
  text: string,
  map: CoverageMapData,
  emittedRoot: string,
  want: (p: string) => string,
  from: (name: string) => string,
  to: (name: string) => string = from,
): string {
  const replacements = new Map<string, string>();
  for (const [key, fc] of Object.entries(map)) {
    const p = filePath(key, fc);
    const emitted = posix.relative(emittedRoot, posix.resolve(emittedRoot, p));
    const wanted = want(p);
    if (from(emitted) !== to(wanted)) replacements.set(from(emitted), to(wanted));
  }
  if (replacements.size === 0) return text;
  return text
    .split('\n')
    .map((l) => {
      for (const [from, to] of replacements) if (l.includes(from)) return l.replace(from, to);
      return l;
    })
    .join('\n');
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

/** Encodes a coverage map in one output format. Pure: no I/O, never reads sources. */
export function encodeCoverage(map: CoverageMapData, format: OutputFormat, opts: EncodeOptions = {}): Encoded {
  const contentType = CONTENT_TYPES[format];
  if (!contentType) throw errors.badData(`unknown output format ${JSON.stringify(format)}; known: ${Object.keys(CONTENT_TYPES).join(', ')}`);
  const paths = Object.entries(map).map(([k, fc]) => filePath(k, fc));
  switch (format) {
    case 'istanbul':
      return { contentType, body: JSON.stringify(map) };
    case 'covgate': {
      const meta = opts.meta ?? {};
      const { format: _f, data: _d, hits: _h, ...rest } = meta;
      return { contentType, body: JSON.stringify({ format: 'istanbul', counters: 'cumulative', ...rest, data: map }) };
    }
    case 'gocover':
      return { contentType, body: encodeGoCover(map, relativeTo(opts.projectRoot)) };
    case 'lcov': {
      const root = opts.projectRoot ?? process.cwd();
      const text = renderReport(map, 'lcovonly', { projectRoot: root });
      return { contentType, body: rename(text, map, root, relativeTo(opts.projectRoot), (n) => `SF:${n}`) };
    }
    case 'cobertura': {
      const root = opts.projectRoot ?? commonRoot(paths);
      const emittedRoot = root ?? process.cwd();
      let text = renderReport(map, 'cobertura', { projectRoot: emittedRoot, timestamp: String(opts.timestamp ?? Date.now()) });
      // istanbul's XML writer does not escape the filename attribute: escape it while renaming.
      text = rename(text, map, emittedRoot, relativeTo(root), (n) => `filename="${n}"`, (n) => `filename="${escapeAttr(n)}"`);
      // istanbul writes the root unescaped; with relative paths and no root say "." rather than the gateway's cwd.
      text = text.replace(`<source>${emittedRoot}</source>`, `<source>${escapeAttr(root ?? '.')}</source>`);
      return { contentType, body: text };
    }
    case 'json-summary':
      return { contentType, body: renderJsonSummary(map) };
    case 'text-summary':
      return { contentType, body: renderTextSummary(map) };
  }
}
