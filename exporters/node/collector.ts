import { Session } from 'node:inspector/promises';
import { dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CoverageMapData } from 'istanbul-lib-coverage';
import type { ScriptCov } from '@bcoe/v8-coverage';
import type { CoverageCollector } from '../shared/coverage-server.ts';
import { zeroCounters } from '../shared/coverage-payload.ts';
import { createV8Accumulator, type ScriptSource } from '../shared/v8-accumulator.ts';
import type { ExporterLogger } from '../shared/settings.ts';
import { createPathFilter } from '../shared/path-filter.ts';

/** The exporters' own folder: never reported. */
const EXPORTERS_DIR = dirname(dirname(fileURLToPath(import.meta.url))) + sep;

export type CollectorMode = 'auto' | 'istanbul' | 'v8';

export interface NodeCollectorOptions {
  /** auto: `globalThis.__coverage__` when it exists at scrape time, else V8. */
  mode?: CollectorMode;
  includeNodeModules?: boolean;
  /** Globs of files to report (c8's `--include`), relative to cwd. */
  include?: string[];
  /** Globs of files not to report (c8's `--exclude`); default c8's list. */
  exclude?: string[];
  logger?: ExporterLogger;
}

type IstanbulGlobal = { __coverage__?: CoverageMapData };

/**
 * In-process coverage of a Node.js service.
 *
 * In `auto` mode V8 precise coverage starts at once (the app has not loaded
 * yet, so we cannot know whether it is instrumented); the first scrape that
 * finds `globalThis.__coverage__` (nyc, babel-plugin-istanbul,
 * istanbul-lib-instrument) stops the profiler and serves that from then on.
 */
export async function createNodeCollector(opts: NodeCollectorOptions = {}): Promise<CoverageCollector> {
  const mode = opts.mode ?? 'auto';
  const g = globalThis as IstanbulGlobal;
  let v8: V8InProcess | undefined = mode === 'istanbul' ? undefined : await startV8(opts);
  let queue: Promise<unknown> = Promise.resolve();
  // One collection at a time: takes and conversions must not interleave.
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = queue.then(fn, fn);
    queue = p.catch(() => undefined);
    return p;
  };

  async function useIstanbul(): Promise<boolean> {
    if (mode === 'v8' || !g.__coverage__) return false;
    if (v8) {
      const stopping = v8;
      v8 = undefined;
      opts.logger?.info('globalThis.__coverage__ found: serving Istanbul counters, V8 profiler stopped');
      await stopping.close();
    }
    return true;
  }

  return {
    snapshot: () =>
      serial(async () => {
        if (await useIstanbul()) return g.__coverage__!;
        if (!v8) return g.__coverage__ ?? {};
        return v8.snapshot();
      }),
    reset: () =>
      serial(async () => {
        if (await useIstanbul()) zeroCounters(g.__coverage__!);
        else if (v8) await v8.reset();
      }),
    close: () =>
      serial(async () => {
        const stopping = v8;
        v8 = undefined;
        await stopping?.close();
      }),
  };
}

interface V8InProcess {
  snapshot(): Promise<CoverageMapData>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

async function startV8(opts: NodeCollectorOptions): Promise<V8InProcess> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  // Scripts already loaded now are the exporter, its dependencies and the
  // loader (tsx) that started it: never the app's (and their top level ran
  // before coverage started, so their figures would be wrong anyway).
  // Debugger.enable replays scriptParsed for every existing script.
  const preexisting = new Set<string>();
  const onParsed = (m: { params: { url: string } }): void => {
    preexisting.add(m.params.url);
  };
  session.on('Debugger.scriptParsed', onParsed);
  // Sources come from V8 itself: a loader (tsx, ts-node, babel-register) may
  // have changed the text, and offsets refer to what V8 ran, not to the disk.
  await session.post('Debugger.enable');
  session.off('Debugger.scriptParsed', onParsed);
  const pathWanted = createPathFilter({
    include: opts.include,
    exclude: opts.exclude,
    includeNodeModules: opts.includeNodeModules,
  });
  const acc = createV8Accumulator({
    converter: 'ast',
    excludePath: (p) => !pathWanted(p),
    onWarning: (m) => opts.logger?.warn(m),
  });

  const wanted = (url: string): boolean => {
    if (!url.startsWith('file:')) return false; // node: internals, eval, wasm
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch {
      return false;
    }
    if (path.startsWith(EXPORTERS_DIR) || preexisting.has(url)) return false;
    return pathWanted(path);
  };

  const load = async (script: ScriptCov): Promise<ScriptSource | undefined> => {
    const { scriptSource } = await session.post('Debugger.getScriptSource', { scriptId: script.scriptId });
    return { path: fileURLToPath(script.url), source: scriptSource };
  };

  async function take(): Promise<ScriptCov[]> {
    const { result } = await session.post('Profiler.takePreciseCoverage');
    return (result as ScriptCov[]).filter((s) => wanted(s.url));
  }

  return {
    async snapshot() {
      await acc.add(await take(), load);
      return acc.toIstanbul();
    },
    async reset() {
      // Fold in what ran since the last take first, so scripts seen only now
      // keep their functions (with zero counts) after the reset.
      await acc.add(await take(), load);
      acc.reset();
    },
    async close() {
      try {
        await session.post('Profiler.stopPreciseCoverage');
        await session.post('Debugger.disable');
      } finally {
        session.disconnect();
      }
    },
  };
}
