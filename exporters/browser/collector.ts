import CDP from 'chrome-remote-interface';
import { EventEmitter } from 'node:events';
import type { CoverageMapData } from 'istanbul-lib-coverage';
import type { ScriptCov } from '@bcoe/v8-coverage';
import type { CoverageCollector } from '../shared/coverage-server.ts';
import { createV8Accumulator, type ScriptSource } from '../shared/v8-accumulator.ts';
import type { ExporterLogger } from '../shared/settings.ts';
import { fetchText, loadBrowserSourceMap, reportPath, type TextFetcher } from './source-maps.ts';

type Client = CDP.Client;

/** Target types that run JavaScript we can cover. */
const JS_TARGETS = new Set(['page', 'iframe', 'worker', 'shared_worker', 'service_worker']);

export interface BrowserCollectorOptions {
  /** DevTools endpoints: http://host:port (uses /json/version) or a browser ws:// URL. */
  endpoints: string[];
  /** Periodic take, so coverage of closed tabs and navigated-away documents is kept. Default 5 s. */
  intervalMs?: number;
  /** Report http-served sources under this directory (e.g. the repository root). */
  sourceRoot?: string;
  includeNodeModules?: boolean;
  /** Which script URLs to cover; default http(s) and file URLs. */
  includeUrl?: (url: string) => boolean;
  fetcher?: TextFetcher;
  logger?: ExporterLogger;
}

interface ScriptInfo {
  url: string;
  sourceMapURL?: string;
}

interface SessionState {
  sessionId: string;
  client: Client;
  type: string;
  url: string;
  scripts: Map<string, ScriptInfo>;
}

/**
 * Browser coverage over the Chrome DevTools protocol. Emits `attached`
 * ({type, url}) for every page or worker it covers and `disconnected`
 * ({endpoint}) when a browser goes away.
 */
export interface BrowserCollector extends CoverageCollector, EventEmitter {
  readonly sessions: number;
  /** Takes coverage from every attached target now. */
  collect(): Promise<void>;
}

/**
 * Attaches to every page and worker of one or more Chromium instances
 * (auto-attach with flat sessions, paused on start so coverage begins before
 * the first script runs), takes V8 precise coverage from each periodically
 * and on every scrape, and converts it with source maps to Istanbul.
 */
export async function createBrowserCollector(opts: BrowserCollectorOptions): Promise<BrowserCollector> {
  const logger = opts.logger;
  const fetcher = opts.fetcher ?? fetchText;
  const includeUrl = opts.includeUrl ?? ((u: string) => /^(https?|file):/.test(u));
  const emitter = new EventEmitter() as BrowserCollector;
  const sessions = new Map<string, SessionState>();
  const clients: Client[] = [];
  const acc = createV8Accumulator({
    excludePath: (p) => !opts.includeNodeModules && p.includes('/node_modules/'),
    onWarning: (m) => logger?.warn(m),
  });
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = queue.then(fn, fn);
    queue = p.catch(() => undefined);
    return p;
  };

  async function setupSession(client: Client, sessionId: string, type: string, url: string, waiting: boolean): Promise<void> {
    const send = (method: string, params: object = {}): Promise<unknown> =>
      (client as unknown as { send(m: string, p: object, s: string): Promise<unknown> }).send(method, params, sessionId);
    try {
      if (JS_TARGETS.has(type)) {
        const state: SessionState = { sessionId, client, type, url, scripts: new Map() };
        sessions.set(sessionId, state);
        await send('Profiler.enable');
        await send('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
        await send('Debugger.enable');
        // A `debugger;` statement in the page must not freeze it because we listen.
        await send('Debugger.setSkipAllPauses', { skip: true });
        // Workers and out-of-process iframes of this target.
        await send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true }).catch(() => undefined);
        logger?.info(`attached ${type} ${url}`);
        emitter.emit('attached', { type, url });
      }
    } catch (err) {
      logger?.warn(`cannot cover ${type} ${url}: ${(err as Error).message}`);
    } finally {
      if (waiting) await send('Runtime.runIfWaitingForDebugger').catch(() => undefined);
    }
  }

  async function connect(endpoint: string): Promise<void> {
    let ws = endpoint;
    if (!/^wss?:/.test(endpoint)) {
      const res = await fetch(`${endpoint.replace(/\/+$/, '')}/json/version`, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`${endpoint}/json/version answered ${res.status}`);
      ws = ((await res.json()) as { webSocketDebuggerUrl: string }).webSocketDebuggerUrl;
    }
    const client = await CDP({ target: ws, local: true });
    clients.push(client);
    const on = client as unknown as { on(event: string, fn: (params: any, sessionId?: string) => void): void };
    on.on('Target.attachedToTarget', (p: { sessionId: string; targetInfo: { type: string; url: string }; waitingForDebugger: boolean }) => {
      void setupSession(client, p.sessionId, p.targetInfo.type, p.targetInfo.url, p.waitingForDebugger);
    });
    on.on('Target.detachedFromTarget', (p: { sessionId: string }) => {
      sessions.delete(p.sessionId);
    });
    on.on('Debugger.scriptParsed', (p: { scriptId: string; url: string; sourceMapURL?: string }, sessionId?: string) => {
      if (!sessionId || !p.url) return;
      sessions.get(sessionId)?.scripts.set(p.scriptId, { url: p.url, ...(p.sourceMapURL ? { sourceMapURL: p.sourceMapURL } : {}) });
    });
    client.on('disconnect', () => {
      for (const [id, s] of sessions) if (s.client === client) sessions.delete(id);
      logger?.warn(`browser at ${endpoint} disconnected`);
      emitter.emit('disconnected', { endpoint });
    });
    // Browser-level auto-attach reaches every existing and new page; each page
    // session then auto-attaches its workers and iframes.
    await client.send('Target.setDiscoverTargets', { discover: true });
    await client.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true });
  }

  async function takeAll(): Promise<void> {
    const all = [...sessions.values()];
    const takes = await Promise.all(
      all.map(async (s) => {
        const send = (m: string, p: object = {}): Promise<any> =>
          (s.client as unknown as { send(m: string, p: object, sid: string): Promise<any> }).send(m, p, s.sessionId);
        try {
          const { result } = (await send('Profiler.takePreciseCoverage')) as { result: ScriptCov[] };
          return { s, send, result: result.filter((r) => r.url && includeUrl(r.url)) };
        } catch {
          return undefined; // the target went away in between
        }
      }),
    );
    for (const t of takes) {
      if (!t) continue;
      await acc.add(t.result, async (script): Promise<ScriptSource | undefined> => {
        const { scriptSource } = (await t.send('Debugger.getScriptSource', { scriptId: script.scriptId })) as { scriptSource: string };
        const info = t.s.scripts.get(script.scriptId);
        const sourceMap = await loadBrowserSourceMap(script.url, info?.sourceMapURL ?? sourceMappingUrlOf(scriptSource), fetcher, opts.sourceRoot);
        if (info?.sourceMapURL && !sourceMap) logger?.warn(`source map of ${script.url} not loaded; reporting the script itself`);
        return {
          path: reportPath(script.url, opts.sourceRoot),
          source: sourceMap ? scriptSource : stripSourceMapComment(scriptSource),
          ...(sourceMap ? { sourceMap } : {}),
        };
      });
    }
  }

  for (const endpoint of opts.endpoints) await connect(endpoint);
  const timer = setInterval(() => void serial(takeAll).catch((e: unknown) => logger?.warn(`take failed: ${(e as Error).message}`)), opts.intervalMs ?? 5000);
  timer.unref();

  Object.defineProperty(emitter, 'sessions', { get: () => sessions.size });
  emitter.collect = () => serial(takeAll);
  emitter.snapshot = () =>
    serial(async (): Promise<CoverageMapData> => {
      await takeAll();
      return acc.toIstanbul();
    });
  emitter.reset = () =>
    serial(async () => {
      await takeAll();
      acc.reset();
    });
  let closed = false;
  emitter.close = async () => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  };
  return emitter;
}

function sourceMappingUrlOf(source: string): string | undefined {
  const m = /\/\/[#@]\s*sourceMappingURL=(\S+)\s*$/.exec(source.slice(-4096));
  return m?.[1];
}

function stripSourceMapComment(source: string): string {
  return source.replace(/\/\/[#@]\s*sourceMappingURL=[^\n]*/g, '');
}
