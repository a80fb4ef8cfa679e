import v8ToIstanbul from 'v8-to-istanbul';
import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData } from 'istanbul-lib-coverage';
import { mergeScriptCovs, type ScriptCov } from '@bcoe/v8-coverage';

type Converter = ReturnType<typeof v8ToIstanbul>;

/** Raw source map (v3) as v8-to-istanbul takes it. */
export interface RawSourceMap {
  version: number;
  sources: string[];
  sourcesContent?: (string | null)[];
  mappings: string;
  names?: string[];
  file?: string;
  sourceRoot?: string;
}

/** What the accumulator needs to convert one script. */
export interface ScriptSource {
  /**
   * Path the script is reported under when it has no source map, and the
   * base against which relative map sources resolve (a file path, or a URL
   * path for browser scripts).
   */
  path: string;
  /** The text V8 ran (offsets in the coverage refer to it). */
  source: string;
  /**
   * Source map, when the caller already resolved it (browser). Without it
   * v8-to-istanbul finds `sourceMappingURL` (inline or a file beside `path`).
   */
  sourceMap?: RawSourceMap;
}

/** Loads a script's source; undefined excludes the script for good. */
export type ScriptLoader = (script: ScriptCov) => Promise<ScriptSource | undefined>;

interface Entry {
  source: ScriptSource | null;
  cov?: ScriptCov;
  template?: Converter;
  istanbul?: CoverageMapData;
  dirty: boolean;
}

export interface V8Accumulator {
  /** Adds one `takePreciseCoverage` delta (counts since the previous take). */
  add(delta: ScriptCov[], load: ScriptLoader): Promise<void>;
  /** Cumulative Istanbul coverage of everything added so far. */
  toIstanbul(): CoverageMapData;
  /** Zeroes the cumulative counts, keeping the known scripts and functions. */
  reset(): void;
  /** Number of scripts being tracked (for logs and tests). */
  readonly size: number;
}

export interface V8AccumulatorOptions {
  /** Excludes original (source-mapped) paths, e.g. node_modules inside a bundle. */
  excludePath?: (path: string) => boolean;
  onWarning?: (message: string) => void;
}

/**
 * Accumulates V8 precise-coverage deltas into running totals and converts
 * them to Istanbul.
 *
 * With `callCount: true` V8 resets its counters on every take and only reports
 * functions that ran since, so the totals are kept here, merged with
 * @bcoe/v8-coverage (the range-tree merge c8 uses). Converting is the
 * expensive part (reading and parsing sources and source maps), so each
 * script's loaded v8-to-istanbul converter is cached and only scripts whose
 * counts changed since the last conversion are converted again; unchanged
 * scripts return the very same objects, which keeps structure hashing cheap.
 */
export function createV8Accumulator(opts: V8AccumulatorOptions = {}): V8Accumulator {
  const entries = new Map<string, Entry>();
  const excludePath = opts.excludePath ?? (() => false);

  async function loadTemplate(entry: Entry, url: string): Promise<Converter | undefined> {
    const src = entry.source!;
    try {
      const t = makeConverter(src, excludePath);
      await t.load();
      return t;
    } catch (err) {
      opts.onWarning?.(`source map of ${url} unusable (${(err as Error).message}); reporting the generated code`);
      try {
        const plain: ScriptSource = { path: src.path, source: stripSourceMapComment(src.source) };
        const t = makeConverter(plain, excludePath);
        await t.load();
        return t;
      } catch (err2) {
        opts.onWarning?.(`cannot convert ${url}: ${(err2 as Error).message}`);
        return undefined;
      }
    }
  }

  return {
    get size() {
      return entries.size;
    },
    async add(delta, load) {
      for (const script of delta) {
        let entry = entries.get(script.url);
        if (entry === undefined) {
          entry = { source: null, dirty: true };
          entries.set(script.url, entry);
          const src = await load(script).catch((err: unknown) => {
            opts.onWarning?.(`cannot load ${script.url}: ${(err as Error).message}`);
            return undefined;
          });
          if (src) {
            entry.source = src;
            entry.template = await loadTemplate(entry, script.url);
            if (!entry.template) entry.source = null;
          }
        }
        if (entry.source === null) continue;
        if (entry.cov === undefined) {
          entry.cov = structuredClone(script);
          entry.dirty = true;
        } else if (hasCounts(script)) {
          // mergeScriptCovs may mutate its inputs: hand it copies it can own.
          entry.cov = mergeScriptCovs([entry.cov, structuredClone(script)])!;
          entry.dirty = true;
        }
      }
    },
    toIstanbul() {
      const out: CoverageMapData = {};
      let collided: CoverageMapData[] | undefined;
      for (const [, entry] of entries) {
        if (entry.source === null || !entry.cov || !entry.template) continue;
        if (entry.dirty || !entry.istanbul) {
          entry.istanbul = convert(entry.template, entry.source, entry.cov, excludePath);
          entry.dirty = false;
        }
        for (const [path, file] of Object.entries(entry.istanbul)) {
          if (out[path]) (collided ??= []).push({ [path]: file });
          else out[path] = file;
        }
      }
      if (!collided) return out;
      // The same original file reached through several scripts (two bundles):
      // merge by location as Istanbul does.
      const map = libCoverage.createCoverageMap(structuredClone(out));
      for (const extra of collided) map.merge(structuredClone(extra));
      return map.toJSON();
    },
    reset() {
      for (const entry of entries.values()) {
        if (!entry.cov) continue;
        for (const fn of entry.cov.functions) for (const r of fn.ranges) r.count = 0;
        entry.dirty = true;
      }
    },
  };
}

function hasCounts(script: ScriptCov): boolean {
  return script.functions.some((fn) => fn.ranges.some((r) => r.count > 0));
}

function makeConverter(src: ScriptSource, excludePath: (p: string) => boolean): Converter {
  if (src.sourceMap) {
    const original = src.sourceMap.sourcesContent?.[0] ?? '';
    return v8ToIstanbul(
      src.path,
      0,
      { source: src.source, originalSource: original, sourceMap: { sourcemap: src.sourceMap as never } },
      excludePath,
    );
  }
  return v8ToIstanbul(src.path, 0, { source: src.source }, excludePath);
}

/** Fields v8-to-istanbul fills in `load()`; copied from the cached converter. */
const LOADED_FIELDS = ['path', 'rawSourceMap', 'sourceMap', 'sourceTranspiled', 'covSources'] as const;

/**
 * Applies cumulative counts to a fresh converter that shares the cached
 * converter's loaded sources and source map (v8-to-istanbul accumulates
 * functions and branches per `applyCoverage`, so a converter is single-use,
 * but its loading is not).
 */
function convert(
  template: Converter,
  src: ScriptSource,
  cov: ScriptCov,
  excludePath: (p: string) => boolean,
): CoverageMapData {
  const conv = v8ToIstanbul(src.path, 0, { source: src.source }, excludePath);
  const t = template as unknown as Record<string, unknown>;
  const c = conv as unknown as Record<string, unknown>;
  for (const f of LOADED_FIELDS) c[f] = t[f];
  // Lines are shared with the template and carry the previous counts: every
  // line starts as "executed" and V8 ranges zero out what did not run.
  for (const { source } of t.covSources as { source: { lines: { count: number }[] } }[]) {
    for (const line of source.lines) line.count = 1;
  }
  conv.applyCoverage(cov.functions);
  const data = conv.toIstanbul();
  // Drop v8-to-istanbul's non-Istanbul `all` flag so the payload is a plain coverage map.
  for (const file of Object.values(data)) delete (file as { all?: boolean }).all;
  return data;
}

function stripSourceMapComment(source: string): string {
  return source.replace(/\/\/[#@]\s*sourceMappingURL=[^\n]*/g, '');
}
