import CDP from 'chrome-remote-interface';
import { EventEmitter } from 'node:events';
import type { CoverageMapData } from 'istanbul-lib-coverage';
import type { ScriptCov } from '@bcoe/v8-coverage';
import type { CoverageCollector } from '../shared/coverage-server.ts';
import { createV8Accumulator, type ScriptSource } from '../shared/v8-accumulator.ts';
import type { ExporterLogger } from '../shared/settings.ts';
import { repeat, systemTimers, type Timers } from '../shared/clock.ts';
import { fetchText, loadBrowserSourceMap, reportPath, type TextFetcher } from './source-maps.ts';

type Client = CDP.Client;

/** Target types that run JavaScript we can cover. */
const JS_TARGETS = new Set(['page', 'iframe', 'worker', 'shared_worker', 'service_worker']);

export interface BrowserCollectorOptions {
  /** DevTools endpoints: http://host:port (uses /json/version) or a browser ws:// URL. */
  endpoints: string[];
  /** Periodic take (documents going away are taken anyway, see HIDE_HOOK). Default 5 s. */
  intervalMs?: number;
  /** Timers of the periodic take; the system's unless injected. */
  timers?: Timers;
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
  /** Fetched when the script is parsed, so it outlives its document. */
  source: Promise<string | undefined>;
}

/**
 * Injected into every document of every page (and its in-process frames).
 * Its `debugger;` statements pause the document just before it goes away,
 * and the sidecar takes that document's coverage during the pause, then
 * resumes (a DevTools pause runs a nested loop in which the renderer still
 * answers protocol commands; V8 does not report a navigated-away document's
 * scripts in later takes, so this is the last chance):
 * - `beforeunload` runs before any navigation starts (link, location change,
 *   reload, same- or cross-site, browser-initiated or not). Later is too late:
 *   once a navigation has started Chromium holds the page's protocol commands
 *   until it commits, which is also why pausing the Document request with the
 *   `Fetch` domain deadlocks, and why a `pagehide` pause is not seen then;
 * - `pagehide` is where a closed tab can still be paused (Target.closeTarget
 *   and window.close() do not run beforeunload).
 * A binding call or a `sendBeacon` from these handlers is asynchronous (the
 * document is gone before the take), and a synchronous XHR is refused during
 * page dismissal since Chrome 80, hence the debugger pause.
 */
const HOOK_FUNCTIONS = new Set(['__covgateTakeBeforeUnload', '__covgateTakeOnPageHide']);
const HIDE_HOOK = `(() => {
  if (Object.prototype.hasOwnProperty.call(globalThis, '__covgateHooked')) return;
  Object.defineProperty(globalThis, '__covgateHooked', { value: true });
  addEventListener('beforeunload', function __covgateTakeBeforeUnload() { debugger; }, true);
  addEventListener('pagehide', function __covgateTakeOnPageHide() { debugger; }, true);
})();`;

/** One raw `takePreciseCoverage` result, with each script's source pinned at take time. */
interface RawTake {
  result: ScriptCov[];
  scripts: Map<string, ScriptInfo | undefined>;
  send: (m: string, p?: object) => Promise<any>;
}


interface SessionState {
  sessionId: string;
  client: Client;
  type: string;
  url: string;
  scripts: Map<string, ScriptInfo>;
  /** Scripts whose first take was checked for a late coverage start (see takeRaw). */
  checked: Set<string>;
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
  /** Raw takes not yet converted; every take is added to the accumulator exactly once. */
  const pending: RawTake[] = [];
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
        const state: SessionState = { sessionId, client, type, url, scripts: new Map(), checked: new Set() };
        sessions.set(sessionId, state);
        await send('Profiler.enable');
        await send('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
        await send('Debugger.enable');
        if (type === 'page' || type === 'iframe') {
          // Take before a document goes away: see HIDE_HOOK. Pauses other than
          // ours are resumed at once (Debugger.paused below).
          // Without the hook the target is still covered, only not up to its last moment.
          await send('Page.enable')
            .then(() => send('Page.addScriptToEvaluateOnNewDocument', { source: HIDE_HOOK }))
            .then(() => (waiting ? undefined : send('Runtime.evaluate', { expression: HIDE_HOOK })))
            .catch((err: Error) => logger?.warn(`${type} ${url}: no take before unload (${err.message})`));
        } else {
          // A `debugger;` statement in a worker must not freeze it because we listen.
          await send('Debugger.setSkipAllPauses', { skip: true });
        }
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

  const sendOn = (s: SessionState) => (m: string, p: object = {}): Promise<any> =>
    (s.client as unknown as { send(m: string, p: object, sid: string): Promise<any> }).send(m, p, s.sessionId);

  /**
   * Takes the raw coverage of `targets` (default: all) and queues it for
   * conversion, so a take is never delayed by source-map loading. Note: a
   * take sent while a page navigates is held by Chromium until the
   * navigation commits (so a CDP `Fetch` pause of the Document request
   * cannot be used to take the old document's coverage: it deadlocks).
   */
  async function takeRaw(targets: SessionState[] = [...sessions.values()]): Promise<void> {
    await Promise.all(
      targets.map(async (s) => {
        const send = sendOn(s);
        try {
          const { result } = (await send('Profiler.takePreciseCoverage')) as { result: ScriptCov[] };
          const kept = result.filter((r) => r.url && includeUrl(r.url));
          if (kept.length === 0) return;
          // A script whose top level ran under coverage has a function range starting at
          // offset 0 in its first take. Without one, coverage started after the script ran
          // (seen when a tab is created with its URL: the document may commit in a new
          // renderer before the session's coverage state reaches it), and the counts from
          // before the start are missing. Said once per script rather than hidden.
          for (const r of kept) {
            if (s.checked.has(r.scriptId)) continue;
            s.checked.add(r.scriptId);
            if (!r.functions.some((f) => f.ranges[0]?.startOffset === 0)) {
              logger?.warn(`coverage of ${r.url} started after the script began to run; counts from before that are missing (open the page on about:blank first, then navigate)`);
            }
          }
          // Script ids are per renderer process: after a cross-process navigation the
          // same id names another script, so the sources are pinned now.
          const scripts = new Map(kept.map((r) => [r.scriptId, s.scripts.get(r.scriptId)] as const));
          pending.push({ result: kept, scripts, send });
        } catch {
          // the target went away in between: nothing was taken, nothing is lost twice
        }
      }),
    );
  }

  /** Converts the queued raw takes (serialised: one conversion at a time). */
  async function flush(): Promise<void> {
    while (pending.length > 0) {
      const t = pending.shift()!;
      await acc.add(t.result, async (script): Promise<ScriptSource | undefined> => {
        const pinned = t.scripts.get(script.scriptId);
        const info = pinned && pinned.url === script.url ? pinned : undefined;
        const scriptSource =
          (await info?.source) ??
          ((await t.send('Debugger.getScriptSource', { scriptId: script.scriptId })) as { scriptSource: string }).scriptSource;
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

  async function takeAll(): Promise<void> {
    await takeRaw();
    await flush();
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
      const s = sessionId ? sessions.get(sessionId) : undefined;
      if (!s || !p.url || !includeUrl(p.url)) return;
      // Read now: once the document is gone the debugger forgets its scripts,
      // while V8 still reports their counts (precise coverage keeps them alive).
      const source = sendOn(s)('Debugger.getScriptSource', { scriptId: p.scriptId }).then(
        (r: { scriptSource: string }) => r.scriptSource,
        () => undefined,
      );
      s.scripts.set(p.scriptId, { url: p.url, source, ...(p.sourceMapURL ? { sourceMapURL: p.sourceMapURL } : {}) });
    });
    on.on('Debugger.paused', (p: { callFrames: { functionName: string }[] }, sessionId?: string) => {
      const s = sessionId ? sessions.get(sessionId) : undefined;
      if (!s) return;
      const resume = (): Promise<unknown> => sendOn(s)('Debugger.resume').catch(() => undefined);
      // A `debugger;` of the page itself must not freeze it because we listen.
      if (!HOOK_FUNCTIONS.has(p.callFrames[0]?.functionName ?? '')) return void resume();
      void takeRaw([s]).finally(resume);
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

  for (const endpoint of opts.endpoints) await connect(endpoint);
  const stopTakes = repeat(opts.timers ?? systemTimers, opts.intervalMs ?? 5000, () => void serial(takeAll).catch((e: unknown) => logger?.warn(`take failed: ${(e as Error).message}`)));

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
    stopTakes();
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
