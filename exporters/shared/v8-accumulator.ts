import { pathToFileURL } from 'node:url';
import v8ToIstanbul from 'v8-to-istanbul';
import astV8ToIstanbul from 'ast-v8-to-istanbul';
import { parse, type Program } from 'acorn';
import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData } from 'istanbul-lib-coverage';
import { mergeScriptCovs, type ScriptCov } from '@bcoe/v8-coverage';
import { createHash } from 'node:crypto';
import { applyPlan, learnPlan, planMatches, syntheticFunctions, type Plan } from './v8-plan.ts';

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
  /**
   * AST of the script V8 ran (converter 'ast'), for the next conversion only:
   * ast-v8-to-istanbul rewrites the tree it walks (wraps if/else arms in
   * blocks), so a second walk of the same tree finds other branches.
   */
  ast?: Program;
  /** Whether the script parses (converter 'ast'); undefined until loaded. */
  parses?: boolean;
  istanbul?: CoverageMapData;
  dirty: boolean;
  /** Library conversions done for this script (converter 'ast'): a plan is learnt at the second. */
  conversions?: number;
  /** Counter → offset plan (v8-plan.ts): later conversions need no AST walk. null = none works. */
  plan?: Plan | null;
}

/** Plans by script content (path, source, source map): the same build loaded again reuses its plan. */
const plans = new Map<string, Plan | null>();
const PLAN_CACHE_LIMIT = 5000;
/** Bigger scripts are always converted by the library (a plan is learnt from one range per offset). */
const PLAN_SOURCE_LIMIT = 4 << 20;

export interface V8Accumulator {
  /** Scripts whose conversions run by plan (no AST walk; see v8-plan.ts). */
  readonly planned: number;
  /** Adds one `takePreciseCoverage` delta (counts since the previous take). */
  add(delta: ScriptCov[], load: ScriptLoader): Promise<void>;
  /** Cumulative Istanbul coverage of everything added so far. */
  toIstanbul(): CoverageMapData;
  /** Zeroes the cumulative counts, keeping the known scripts and functions. */
  reset(): void;
  /** Number of scripts being tracked (for logs and tests). */
  readonly size: number;
}

/**
 * How V8 ranges become Istanbul structure.
 * - `ast` (ast-v8-to-istanbul over an acorn AST): statements, functions and
 *   branches come from the script's source, as istanbul-lib-instrument finds
 *   them, so a file's structure never changes while its source does not;
 *   functions V8 never compiled are there with 0. Conversion happens in `add`.
 * - `v8-to-istanbul` (c8's converter): structure is one statement per line
 *   plus the functions and branches V8 reported so far, so it grows as code
 *   runs for the first time.
 */
export type V8Converter = 'ast' | 'v8-to-istanbul';

export interface V8AccumulatorOptions {
  /** Default `v8-to-istanbul` (what the browser exporter was written against). */
  converter?: V8Converter;
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
  const useAst = opts.converter === 'ast';

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
    get planned() {
      let n = 0;
      for (const e of entries.values()) if (e.plan) n++;
      return n;
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
            if (useAst) {
              entry.ast = parseScript(src.source, script.url, opts.onWarning);
              entry.parses = entry.ast !== undefined;
              if (!entry.parses) entry.source = null;
            } else {
              entry.template = await loadTemplate(entry, script.url);
              if (!entry.template) entry.source = null;
            }
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
      if (useAst) {
        // ast-v8-to-istanbul is async: convert here so toIstanbul() stays synchronous.
        for (const [url, entry] of entries) {
          if (entry.source === null || !entry.cov || !entry.parses || !entry.dirty) continue;
          try {
            const source = entry.source.source;
            const ast = () => {
              const tree = entry.ast ?? parseScript(source, url, opts.onWarning);
              entry.ast = undefined;
              if (!tree) throw new Error('does not parse');
              return tree;
            };
            entry.istanbul = await convertEntry(entry, ast, url, excludePath, opts.onWarning);
            entry.dirty = false;
          } catch (err) {
            opts.onWarning?.(`cannot convert ${url}: ${(err as Error).message}`);
            entry.source = null;
            entry.istanbul = undefined;
          }
        }
      }
    },
    toIstanbul() {
      const out: CoverageMapData = {};
      let collided: CoverageMapData[] | undefined;
      for (const [, entry] of entries) {
        if (entry.source === null || !entry.cov) continue;
        if (useAst) {
          if (!entry.istanbul) continue;
        } else if (!entry.template) {
          continue;
        } else if (entry.dirty || !entry.istanbul) {
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
        if (useAst && entry.istanbul) {
          // Structure depends on the source only: zero counts convert to the same maps with zeros.
          zeroCounts(entry.istanbul);
          continue;
        }
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

/**
 * Parses what V8 ran with acorn (ESM first, then script/CommonJS). Node
 * compiles CommonJS without a textual wrapper, so offsets match the source.
 */
function parseScript(source: string, url: string, warn?: (m: string) => void): Program | undefined {
  const common = { ecmaVersion: 'latest', allowHashBang: true, allowAwaitOutsideFunction: true } as const;
  try {
    return parse(source, { ...common, sourceType: 'module' });
  } catch {
    try {
      return parse(source, { ...common, sourceType: 'script', allowReturnOutsideFunction: true });
    } catch (err) {
      warn?.(`cannot parse ${url}: ${(err as Error).message}`);
      return undefined;
    }
  }
}

/** ast-v8-to-istanbul's output for one script and coverage (its `meta` left in). */
async function runLibrary(src: ScriptSource, ast: Program, functions: unknown, url: string): Promise<CoverageMapData> {
  const fileUrl = url.startsWith('file:') ? url : pathToFileURL(src.path).href;
  return (await astV8ToIstanbul({
    code: src.source,
    ast: ast as never,
    coverage: { url: fileUrl, functions: functions as never },
    ...(src.sourceMap
      ? { sourceMap: { ...src.sourceMap, names: src.sourceMap.names ?? [] } }
      : /[#@]\s*sourceMappingURL=/.test(src.source)
        ? {}
        : { sourceMap: identitySourceMap(src.path, src.source) as never }),
  })) as CoverageMapData;
}

const planKey = (src: ScriptSource, url: string) =>
  createHash('sha256').update(url).update('\0').update(src.source).update('\0').update(src.sourceMap ? JSON.stringify(src.sourceMap) : '').digest('base64url');

/**
 * Converts an entry's cumulative coverage: by its plan when it has one, else
 * by the library; at the second library conversion a plan is learnt and kept
 * only if it reproduces that conversion exactly.
 */
async function convertEntry(entry: Entry, ast: () => Program, url: string, excludePath: (p: string) => boolean, warn?: (m: string) => void): Promise<CoverageMapData> {
  const src = entry.source!;
  const cov = entry.cov!;
  if (entry.plan && entry.istanbul) {
    const counters = applyPlan(entry.plan, cov.functions);
    const out: CoverageMapData = {};
    for (const [path, prev] of Object.entries(entry.istanbul)) {
      const c = counters[path];
      if (!c) continue;
      out[path] = { ...prev, s: c.s, f: c.f, b: c.b };
    }
    return out;
  }
  const data = await runLibrary(src, ast(), cov.functions, url);
  entry.conversions = (entry.conversions ?? 0) + 1;
  if (entry.plan === undefined && entry.conversions >= 2 && src.source.length <= PLAN_SOURCE_LIMIT) {
    const key = planKey(src, url);
    let plan = plans.get(key);
    if (plan === undefined) {
      plan = null;
      try {
        // each walk rewrites its tree: a fresh parse per run
        const a = await runLibrary(src, parseScript(src.source, url)!, syntheticFunctions(src.source.length, 1), url);
        const b = await runLibrary(src, parseScript(src.source, url)!, syntheticFunctions(src.source.length, 3), url);
        const learnt = learnPlan(a, b);
        plan = learnt && planMatches(learnt, cov.functions, data) ? learnt : null;
      } catch (err) {
        warn?.(`no conversion plan for ${url}: ${(err as Error).message}`);
      }
      if (plans.size >= PLAN_CACHE_LIMIT) plans.delete(plans.keys().next().value!);
      plans.set(key, plan);
    } else if (plan && !planMatches(plan, cov.functions, data)) {
      plan = null;
    }
    entry.plan = plan;
  }
  return keepStructure(entry, data, excludePath);
}

/** The library's output without excluded paths and `meta`, sharing the first conversion's maps. */
function keepStructure(entry: Entry, data: CoverageMapData, excludePath: (p: string) => boolean): CoverageMapData {
  const out: CoverageMapData = {};
  for (const [path, file] of Object.entries(data)) {
    if (excludePath(path)) continue;
    delete (file as { meta?: unknown }).meta;
    // Keep the first conversion's maps: equal content, and the same objects
    // let the envelope's structure hash stay a WeakMap hit.
    const prev = entry.istanbul?.[path];
    if (prev) {
      file.statementMap = prev.statementMap;
      file.fnMap = prev.fnMap;
      file.branchMap = prev.branchMap;
    }
    out[path] = file;
  }
  return out;
}

function zeroCounts(map: CoverageMapData): void {
  for (const file of Object.values(map)) {
    for (const k of Object.keys(file.s)) file.s[k] = 0;
    for (const k of Object.keys(file.f)) file.f[k] = 0;
    for (const arr of Object.values(file.b)) arr.fill(0);
  }
}

/**
 * The identity source map ast-v8-to-istanbul builds for a script without one
 * (a segment per word, space and punctuation), plus a segment one past the
 * end of every line. Without that last segment a node ending at the end of a
 * line gets end column Infinity (null in JSON) where istanbul-lib-instrument
 * has the exact column; with it, plain JavaScript gets istanbul-lib-instrument's
 * structure exactly. (Our own code: the library has no option for it.)
 */
function identitySourceMap(path: string, code: string): object {
  const mappings: number[][][] = [];
  for (const [line, content] of code.split('\n').entries()) {
    const segments: number[][] = [];
    let column = 0;
    for (const part of content.match(/(\w+|\s|[^\w\s])/g) ?? []) {
      segments.push([column, 0, line, column]);
      column += part.length;
    }
    segments.push([column, 0, line, column]);
    mappings.push(segments);
  }
  return { version: 3, mappings, file: path, sources: [path], sourcesContent: [code], names: [] };
}
