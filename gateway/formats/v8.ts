/**
 * V8 precise coverage decoder: `Profiler.takePreciseCoverage` results (Node
 * inspector, Chrome DevTools Protocol, Playwright/Puppeteer) and
 * `NODE_V8_COVERAGE` files, all `{result: [{scriptId, url, functions: […]}]}`.
 * Converted with v8-to-istanbul.
 *
 * Sources: an entry's inline `source`, else `ctx.loadSource(url)`. Source maps,
 * in order: the entry's `sourceMap` (object or JSON text), the
 * `source-map-cache` of a NODE_V8_COVERAGE file, the entry's `sourceMapURL`,
 * then a `sourceMappingURL` comment (inline `data:` URL, or loaded through
 * `ctx.loadSource` relative to the script). Coverage is then reported on the
 * original sources. v8-to-istanbul never touches the disk here: every text it
 * needs is handed to it, and sources are given placeholder absolute names that
 * are mapped back afterwards (its own resolution assumes local files and
 * mangles http:// URLs).
 *
 * Never fails the payload for one script: `node:` internals are skipped
 * silently; a script whose source (or whose map's sources) cannot be loaded
 * is skipped, or reported on the generated code, with a warning. A
 * structurally invalid payload is an error naming the field.
 */
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8ToIstanbul from 'v8-to-istanbul';
import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData, FileCoverageData } from '../model/index.ts';
import { errors, describeError } from '../errors.ts';
import { isObject } from './builder.ts';
import type { DecodeContext, PayloadDecoder } from './types.ts';

interface V8Range {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface V8Function {
  functionName: string;
  ranges: V8Range[];
  isBlockCoverage: boolean;
}
interface V8Script {
  scriptId?: string;
  url: string;
  functions: V8Function[];
  source?: string;
  sourceMap?: unknown;
  sourceMapURL?: string;
}
interface RawSourceMap {
  version: number;
  sources: string[];
  sourcesContent?: (string | null)[];
  sourceRoot?: string;
  mappings: string;
  names?: string[];
  file?: string;
}
interface CacheEntry {
  lineLengths?: number[];
  data?: unknown;
  url?: string;
}

const SCRIPT_PLACEHOLDER = '/covgate-v8/script.js';
const SOURCE_PLACEHOLDER = '/covgate-v8/source-';

/** Validates the payload's shape, naming the first bad field. */
export function assertV8Payload(payload: unknown): { result: V8Script[]; cache: Record<string, CacheEntry> } {
  if (!isObject(payload) || !Array.isArray(payload.result)) throw errors.badCoverage('v8: expected an object with a "result" array');
  payload.result.forEach((entry: unknown, i: number) => {
    const at = `v8 result[${i}]`;
    if (!isObject(entry)) throw errors.badCoverage(`${at}: expected an object`);
    if (typeof entry.url !== 'string') throw errors.badCoverage(`${at}: "url" must be a string`);
    if (entry.source !== undefined && typeof entry.source !== 'string') throw errors.badCoverage(`${at} (${entry.url}): "source" must be a string`);
    if (!Array.isArray(entry.functions)) throw errors.badCoverage(`${at} (${entry.url}): "functions" must be an array`);
    entry.functions.forEach((fn: unknown, j: number) => {
      const fat = `${at}.functions[${j}]`;
      if (!isObject(fn)) throw errors.badCoverage(`${fat}: expected an object`);
      if (fn.functionName !== undefined && typeof fn.functionName !== 'string') throw errors.badCoverage(`${fat}: "functionName" must be a string`);
      if (!Array.isArray(fn.ranges)) throw errors.badCoverage(`${fat}: "ranges" must be an array`);
      fn.ranges.forEach((r: unknown, k: number) => {
        const rat = `${fat}.ranges[${k}]`;
        if (!isObject(r)) throw errors.badCoverage(`${rat}: expected an object`);
        for (const field of ['startOffset', 'endOffset', 'count'] as const) {
          const v = r[field];
          if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw errors.badCoverage(`${rat}: "${field}" must be a non-negative number, got ${JSON.stringify(v)}`);
        }
        if ((r.endOffset as number) < (r.startOffset as number)) throw errors.badCoverage(`${rat}: endOffset before startOffset`);
      });
    });
  });
  const rawCache = payload['source-map-cache'];
  const cache: Record<string, CacheEntry> = isObject(rawCache) ? (rawCache as Record<string, CacheEntry>) : {};
  return { result: payload.result as V8Script[], cache };
}

const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;

/** Resolves `ref` against `base` (a URL, or a plain file path). */
function resolveRef(ref: string, base: string): string {
  if (SCHEME.test(ref) && !/^[a-zA-Z]:[\\/]/.test(ref)) return ref;
  if (SCHEME.test(base) && !/^[a-zA-Z]:[\\/]/.test(base)) {
    try {
      return new URL(ref, base).href;
    } catch {
      return ref;
    }
  }
  return posix.resolve(posix.dirname(base), ref);
}

/** The name a script or original source is reported under. */
export function reportedName(url: string): string {
  if (url.startsWith('file:')) {
    try {
      return fileURLToPath(url);
    } catch {
      return url;
    }
  }
  if (url.startsWith('webpack://')) return posix.normalize(url.slice('webpack://'.length)).replace(/^\/?/, '');
  return url;
}

// `//# sourceMappingURL=…` or `/*# sourceMappingURL=… */`, as V8 and convert-source-map recognise them.
const MAPPING_COMMENT = /(?:\/\/[@#][ \t]+sourceMappingURL=([^\s'"]+?)[ \t]*$)|(?:\/\*[@#][ \t]+sourceMappingURL=([^*]+?)[ \t]*\*\/[ \t]*$)/gm;

function findMappingUrl(source: string): string | undefined {
  let last: string | undefined;
  for (const m of source.matchAll(MAPPING_COMMENT)) last = (m[1] ?? m[2])?.trim();
  return last;
}

/** Blanks the comments out (same length, so V8 offsets stay valid) so v8-to-istanbul never reads a map from disk. */
function blankMappingComments(source: string): string {
  return source.replace(MAPPING_COMMENT, (m) => ' '.repeat(m.length));
}

function decodeDataUrl(url: string): string | undefined {
  const m = /^data:([^,]*?)(;base64)?,(.*)$/s.exec(url);
  if (!m) return undefined;
  return m[2] ? Buffer.from(m[3]!, 'base64').toString('utf8') : decodeURIComponent(m[3]!);
}

function parseMap(value: unknown, what: string): RawSourceMap {
  const map = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  if (!isObject(map) || !Array.isArray(map.sources) || typeof map.mappings !== 'string') throw new Error(`${what} is not a source map (needs "sources" and "mappings")`);
  return map as unknown as RawSourceMap;
}

async function load(ctx: DecodeContext, url: string): Promise<string | undefined> {
  if (!ctx.loadSource) return undefined;
  try {
    return await ctx.loadSource(url);
  } catch {
    return undefined;
  }
}

/** Finds the script's source map, or undefined when it has none; throws (for a warning) when one is declared but unusable. */
async function findSourceMap(entry: V8Script, source: string, cache: CacheEntry | undefined, ctx: DecodeContext): Promise<{ map: RawSourceMap; mapUrl: string } | undefined> {
  if (entry.sourceMap !== undefined && entry.sourceMap !== null) return { map: parseMap(entry.sourceMap, 'the entry\'s "sourceMap"'), mapUrl: entry.url };
  if (cache?.data) return { map: parseMap(cache.data, 'the source-map-cache entry'), mapUrl: cache.url && !cache.url.startsWith('data:') ? resolveRef(cache.url, entry.url) : entry.url };
  const ref = entry.sourceMapURL || findMappingUrl(source);
  if (!ref) return undefined;
  if (ref.startsWith('data:')) {
    const text = decodeDataUrl(ref);
    if (text === undefined) throw new Error('its inline source map data URL is malformed');
    return { map: parseMap(text, 'the inline source map'), mapUrl: entry.url };
  }
  const mapUrl = resolveRef(ref, entry.url);
  const text = await load(ctx, mapUrl);
  if (text === undefined) throw new Error(`its source map ${mapUrl} could not be loaded`);
  return { map: parseMap(text, `source map ${mapUrl}`), mapUrl };
}

async function convertScript(entry: V8Script, cache: CacheEntry | undefined, ctx: DecodeContext, warn: (m: string) => void): Promise<CoverageMapData | undefined> {
  const url = entry.url;
  let source = entry.source ?? (await load(ctx, url));
  if (source === undefined && cache?.data && Array.isArray(cache.lineLengths)) {
    // NODE_V8_COVERAGE keeps the line lengths of source-mapped scripts: enough to map offsets when the map
    // carries the originals (as c8 does). Filled with '.', not spaces: v8-to-istanbul trims trailing whitespace.
    source = cache.lineLengths.map((n) => '.'.repeat(Math.max(0, Number(n) || 0))).join('\n');
  }
  if (source === undefined) {
    warn(`v8: skipped ${url}: its source is not available (no inline "source" and it could not be loaded)`);
    return undefined;
  }

  let mapped: { map: RawSourceMap; mapUrl: string } | undefined;
  try {
    mapped = await findSourceMap(entry, source, cache, ctx);
  } catch (err) {
    warn(`v8: ${url}: ${describeError(err)}; coverage reported on the generated code`);
  }

  const names = new Map<string, string>([[SCRIPT_PLACEHOLDER, reportedName(url)]]);
  let sourceMap: RawSourceMap | undefined;
  if (mapped) {
    const { map, mapUrl } = mapped;
    const root = map.sourceRoot ? (map.sourceRoot.endsWith('/') ? map.sourceRoot : `${map.sourceRoot}/`) : '';
    const contents: string[] = [];
    const missing: string[] = [];
    for (let i = 0; i < map.sources.length; i++) {
      const full = resolveRef(root + (map.sources[i] ?? ''), mapUrl);
      names.set(`${SOURCE_PLACEHOLDER}${i}`, reportedName(full));
      const content = map.sourcesContent?.[i] ?? (await load(ctx, full));
      if (typeof content !== 'string') missing.push(full);
      contents.push(content ?? '');
    }
    if (missing.length > 0 || map.sources.length === 0) {
      warn(`v8: ${url}: original source(s) ${missing.join(', ') || '(none listed)'} could not be loaded; coverage reported on the generated code`);
    } else {
      sourceMap = { ...map, sources: map.sources.map((_, i) => `${SOURCE_PLACEHOLDER}${i}`), sourcesContent: contents };
      delete sourceMap.sourceRoot;
    }
  }

  try {
    const text = blankMappingComments(source);
    const converter = sourceMap
      ? v8ToIstanbul(SCRIPT_PLACEHOLDER, 0, { source: text, originalSource: sourceMap.sourcesContent![0] as string, sourceMap: { sourcemap: sourceMap as never } })
      : v8ToIstanbul(SCRIPT_PLACEHOLDER, 0, { source: text });
    await converter.load();
    converter.applyCoverage(entry.functions.map((f) => ({ functionName: f.functionName ?? '', ranges: f.ranges, isBlockCoverage: f.isBlockCoverage === true })));
    const raw = converter.toIstanbul() as Record<string, FileCoverageData & { all?: boolean }>;
    const out: CoverageMapData = {};
    for (const [key, file] of Object.entries(raw)) {
      const name = names.get(key) ?? reportedName(key);
      const { all: _all, ...rest } = file;
      out[name] = { ...rest, path: name };
    }
    return out;
  } catch (err) {
    warn(`v8: skipped ${url}: conversion failed: ${describeError(err)}`);
    return undefined;
  }
}

/** Node's own modules: never user code, never reported. */
function isInternal(url: string): boolean {
  return url === '' || url.startsWith('node:') || url.startsWith('internal/');
}

export async function v8ToIstanbulMap(payload: unknown, ctx: DecodeContext): Promise<CoverageMapData> {
  const { result, cache } = assertV8Payload(payload);
  const warn = ctx.warn ?? (() => {});
  const merged = libCoverage.createCoverageMap({});
  for (const entry of result) {
    if (isInternal(entry.url)) continue;
    const part = await convertScript(entry, cache[entry.url], ctx, warn);
    if (part) merged.merge(part);
  }
  return merged.toJSON() as CoverageMapData;
}

export const v8Decoder: PayloadDecoder = {
  format: 'v8',
  input: 'json',
  sniff(body) {
    return isObject(body) && Array.isArray(body.result);
  },
  decode: v8ToIstanbulMap,
};
