/**
 * Where report pages may read sources from and what file names they get.
 * Coverage paths come from targets and pushers: hostile. The renderer gets a
 * sanitised relative tree (safeReportPath), and sources are read only through
 * findSource: text carried in the data, or files under the selected jobs'
 * `sources:` roots (realpath'd, so symlinks and ".." cannot leave a root).
 */
import { readConfinedSync } from '../confined-fs.ts';

/** One path segment safe as a file name: never "", ".", ".." nor containing a separator or NUL. */
function safeSegment(seg: string): string {
  const cleaned = seg.replace(/[\u0000-\u001f\\:*?"<>|]/g, '_');
  if (cleaned === '..') return '__up__';
  if (cleaned === '.') return '__dot__';
  return cleaned.slice(0, 200);
}

/** The relative tree the renderer sees for a coverage path. */
export function safeReportPath(path: string): string {
  const segs = path.split(/[\\/]+/).filter((s) => s !== '').map(safeSegment);
  return segs.length ? segs.join('/') : '__empty__';
}

/**
 * Source text of an original coverage path: from the data itself, else a
 * regular file under one of `roots` (absolute paths must lie under a root,
 * relative ones are looked up in each root). undefined = not available.
 */
export function findSource(path: string, data: unknown, roots: string[]): string | undefined {
  return carriedSource(path, data) ?? readConfinedSync(path, roots);
}

function carriedSource(path: string, data: unknown): string | undefined {
  const ism = (data as { inputSourceMap?: { sources?: unknown; sourcesContent?: unknown } } | undefined)?.inputSourceMap;
  if (!ism || !Array.isArray(ism.sources) || !Array.isArray(ism.sourcesContent)) return undefined;
  const sources = ism.sources as unknown[];
  const contents = ism.sourcesContent as unknown[];
  let i = sources.findIndex((s) => typeof s === 'string' && (s === path || path.endsWith(`/${s.replace(/^(\.\/)+/, '')}`)));
  if (i < 0 && sources.length === 1) i = 0;
  const text = i >= 0 ? contents[i] : undefined;
  return typeof text === 'string' ? text : undefined;
}

