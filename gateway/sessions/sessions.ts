import { randomUUID } from 'node:crypto';
import type { Labels } from '../config/types.ts';
import { errors } from '../errors.ts';
import type { Clock } from '../clock/index.ts';
import type { Logger } from '../log/index.ts';
import { CounterSet, isLabelName, matchesSelector, parseSelector, summarize, type CoverageMapData, type Selector, type Summary } from '../model/index.ts';
import { isPushTarget } from '../ingest/index.ts';
import type { KeyValue, StoreReader } from '../store/index.ts';
import type { LifetimeState, PushStatus, SessionRecord, SessionView } from './types.ts';

/** Longest a `/test-finished` with `wait: true` holds the request for the push; then it answers with the status at that moment. */
const WAIT_TIMEOUT_MS = 60_000;

/** What the session stage needs from the scrape stage: scrape the targets matching a selector, now. */
export type ScrapeNow = (selector: Selector) => Promise<unknown>;

/** What it needs from the push stage. */
export interface PushPort {
  enqueue(job: {
    sessionId: string;
    labels: Labels;
    build?: Record<string, string>;
    services?: string[];
    done?: boolean;
    summary: Summary;
    coverage: CoverageMapData;
  }): Promise<unknown>;
  statusOf(sessionId: string): PushStatus;
  waitFor(sessionId: string, timeoutMs?: number): Promise<unknown>;
}

export interface SessionsOptions {
  kv: KeyValue<SessionRecord>;
  store: StoreReader;
  clock: Clock;
  scrape: ScrapeNow;
  push?: PushPort;
  pushOnFinish: () => boolean;
  observer?: { sessionFinished(service: string, summary: Summary): void };
  logger: Logger;
  /**
   * Carries a session's older builds onto its newest (diff stage), builds
   * newest first; undefined = merged by location. Absent: never carried.
   */
  carry?: (selector: Selector, builds: Array<{ commit?: string; lastSeen: number; coverage: { map: CoverageMapData } }>) => Promise<CoverageMapData | undefined>;
}

/** What ran in a session per build, newest build (first seen last) first. */
interface BuildPart {
  commit?: string;
  firstSeen: number;
  lastSeen: number;
  perTarget: Record<string, CounterSet>;
}

export interface StartRequest {
  session?: string;
  labels?: Labels;
  selector?: Selector;
}

export interface FinishRequest extends StartRequest {
  wait?: boolean;
  /** The last session of its build: centers with parallel builds (coveralls) close the build after this push. */
  done?: boolean;
}

export interface FinishResult {
  session: SessionView;
  /** False when the session was finished before (idempotent replay). */
  finishedNow: boolean;
}

/**
 * Test sessions (contract sections 2 and 5).
 *
 * - `start` scrapes the selected targets synchronously and stores their
 *   state as the baseline: what ran before never counts in the session.
 * - `finish` scrapes them again, computes per target and per process
 *   lifetime what ran since the baseline (cumulative and delta exporters
 *   alike, restarts within the session included: a lifetime absent from the
 *   baseline counts whole), stores it, and enqueues the push. It is
 *   idempotent: a finished session is never computed or pushed twice.
 * - A finish without a start measures from the end of the previous finished
 *   session with the same selector, else from the gateway's start.
 * - Sessions on different selectors are independent; calls for one session
 *   are serialised.
 */
export function createSessions(opts: SessionsOptions) {
  const sessions = new Map<string, SessionRecord>();
  const locks = new Map<string, Promise<unknown>>();
  let startState: LifetimeState = {};
  let version = 0;

  const targetIds = (selector: Selector) =>
    opts.store
      .targets()
      .filter((t) => !isPushTarget(t) && matchesSelector({ ...t.labels, job: t.job }, selector))
      .map((t) => t.id);

  function stateOf(ids: string[]): LifetimeState {
    const out: LifetimeState = {};
    for (const [tid, byLifetime] of opts.store.lifetimeSnapshots(ids)) out[tid] = Object.fromEntries(byLifetime);
    return out;
  }

  function serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = locks.get(id) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(fn);
    locks.set(id, run);
    // The caller gets `run` (and its rejection); the lock cleanup must not fork a
    // second, unobserved rejected promise (that was an unhandled rejection: issue 8).
    const release = () => {
      if (locks.get(id) === run) locks.delete(id);
    };
    run.then(release, release);
    return run;
  }

  function view(r: SessionRecord): SessionView {
    return {
      id: r.id,
      labels: r.labels,
      selector: r.selector,
      state: r.state,
      startedAt: new Date(r.startedAt).toISOString(),
      finishedAt: r.finishedAt ? new Date(r.finishedAt).toISOString() : undefined,
      summary: r.summary,
      services: r.services,
      targets: Object.keys(r.coverage ?? r.baseline).length,
      push: opts.push && r.state === 'finished' ? opts.push.statusOf(r.id) : { id: '', status: 'none' },
    };
  }

  function checkLabels(labels: unknown): Labels {
    if (labels === undefined || labels === null) return {};
    if (typeof labels !== 'object' || Array.isArray(labels)) throw errors.badData('"labels" must be an object of label name → string');
    const out: Labels = {};
    for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
      if (!isLabelName(k)) throw errors.badData(`label name ${JSON.stringify(k)} is not a valid Prometheus label name`);
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw errors.badData(`label ${k}: value must be a string`);
      out[k] = String(v);
    }
    return out;
  }

  function checkId(id: unknown): string | undefined {
    if (id === undefined || id === null || id === '') return undefined;
    if (typeof id !== 'string' || id.length > 200 || !/^[\w.:@-]+$/.test(id)) {
      throw errors.badData(`"session" must be a string of letters, digits and . _ : @ - (at most 200), got ${JSON.stringify(id)}`);
    }
    return id;
  }

  /** Baseline for a session that finishes without having started. */
  function implicitBaseline(selector: Selector): LifetimeState {
    const key = JSON.stringify(selector);
    let best: SessionRecord | undefined;
    for (const s of sessions.values()) {
      if (s.state === 'finished' && s.endState && JSON.stringify(s.selector) === key && (!best || s.finishedAt! > best.finishedAt!)) best = s;
    }
    return best?.endState ?? startState;
  }

  function measure(baseline: LifetimeState, end: LifetimeState): Record<string, CounterSet> {
    const out: Record<string, CounterSet> = {};
    for (const [tid, lifetimes] of Object.entries(end)) {
      const set = new CounterSet();
      for (const [ltId, snap] of Object.entries(lifetimes)) {
        const base = baseline[tid]?.[ltId];
        // A file whose structure changed within the lifetime is subtracted by source location.
        const lookup = (h: string) => opts.store.structure(h);
        set.addSet(base ? CounterSet.fromSnapshot(snap).minus(CounterSet.fromSnapshot(base), lookup) : CounterSet.fromSnapshot(snap));
      }
      out[tid] = set;
    }
    return out;
  }

  /** The session's counts split by the build of each lifetime (as the store's counterSetsByBuild), newest first. */
  function measureByBuild(baseline: LifetimeState, end: LifetimeState): BuildPart[] {
    const parts = new Map<string, BuildPart>();
    const lookup = (h: string) => opts.store.structure(h);
    for (const [tid, lifetimes] of Object.entries(end)) {
      const meta = new Map(opts.store.lifetimes(tid).map((lt) => [lt.id, lt]));
      for (const [ltId, snap] of Object.entries(lifetimes)) {
        const lt = meta.get(ltId);
        const commit = lt?.build?.commit || undefined;
        const k = commit ?? '';
        let part = parts.get(k);
        if (!part) parts.set(k, (part = { ...(commit !== undefined ? { commit } : {}), firstSeen: Infinity, lastSeen: 0, perTarget: {} }));
        part.firstSeen = Math.min(part.firstSeen, lt?.firstSeen ?? 0);
        part.lastSeen = Math.max(part.lastSeen, lt?.lastSeen ?? 0);
        const base = baseline[tid]?.[ltId];
        const set = (part.perTarget[tid] ??= new CounterSet());
        set.addSet(base ? CounterSet.fromSnapshot(snap).minus(CounterSet.fromSnapshot(base), lookup) : CounterSet.fromSnapshot(snap));
      }
    }
    return [...parts.values()].sort((a, b) => b.firstSeen - a.firstSeen || b.lastSeen - a.lastSeen);
  }

  /** A map carried across the given builds (newest first) when the port is there and there is more than one. */
  async function carried(selector: Selector, builds: Array<{ commit?: string; lastSeen: number; set: CounterSet }>): Promise<CoverageMapData | undefined> {
    if (!opts.carry || builds.length <= 1) return undefined;
    const lookup = (h: string) => opts.store.structure(h);
    return opts.carry(
      selector,
      builds.map((b) => ({ ...(b.commit !== undefined ? { commit: b.commit } : {}), lastSeen: b.lastSeen, coverage: { map: b.set.toCoverageMap(lookup).map } })),
    );
  }

  return {
    /** Loads sessions and takes the gateway-start state (the implicit baseline of the first session). */
    async open(): Promise<void> {
      for await (const [id, r] of opts.kv.entries()) sessions.set(id, r);
      startState = stateOf(targetIds({}));
    },

    async start(req: StartRequest): Promise<{ session: SessionView; created: boolean }> {
      const id = checkId(req.session) ?? randomUUID();
      const labels = checkLabels(req.labels);
      const selector = parseSelector(req.selector as Record<string, unknown> | undefined);
      return serial(id, async () => {
        const existing = sessions.get(id);
        if (existing) return { session: view(existing), created: false };
        await opts.scrape(selector);
        const record: SessionRecord = {
          id,
          labels,
          selector,
          state: 'running',
          startedAt: opts.clock.now(),
          baseline: stateOf(targetIds(selector)),
        };
        await opts.kv.put(id, record);
        sessions.set(id, record);
        opts.logger.info({ session: id, labels, selector }, 'session started');
        return { session: view(record), created: true };
      });
    },

    async finish(req: FinishRequest): Promise<FinishResult> {
      let id = checkId(req.session);
      if (!id) {
        const running = [...sessions.values()].filter((s) => s.state === 'running');
        if (running.length === 1 && req.labels === undefined && req.selector === undefined) id = running[0]!.id;
        else id = randomUUID();
      }
      const sid = id;
      const result = await serial(sid, async (): Promise<FinishResult> => {
        let record = sessions.get(sid);
        if (record?.state === 'finished') return { session: view(record), finishedNow: false };
        if (!record) {
          const selector = parseSelector(req.selector as Record<string, unknown> | undefined);
          record = { id: sid, labels: checkLabels(req.labels), selector, state: 'running', startedAt: opts.clock.now(), baseline: implicitBaseline(selector) };
        }
        await opts.scrape(record.selector);
        const end = stateOf(targetIds(record.selector));
        const perTarget = measure(record.baseline, end);
        const total = new CounterSet();
        const byService = new Map<string, CounterSet>();
        let build: Record<string, string> | undefined;
        let newest = -1;
        for (const [tid, set] of Object.entries(perTarget)) {
          total.addSet(set);
          const t = opts.store.target(tid);
          const service = t?.labels.service ?? t?.job ?? 'unknown';
          if (!byService.has(service)) byService.set(service, new CounterSet());
          byService.get(service)!.addSet(set);
          for (const lt of opts.store.lifetimes(tid)) {
            if (lt.build && lt.lastSeen > newest) {
              newest = lt.lastSeen;
              build = lt.build;
            }
          }
        }
        const lookup = (h: string) => opts.store.structure(h);
        // A redeploy inside the session: its figures carry the older builds onto the newest, as queries do.
        const parts = measureByBuild(record.baseline, end);
        const sumOf = (p: BuildPart, keep: (tid: string) => boolean) => {
          const set = new CounterSet();
          for (const [tid, s] of Object.entries(p.perTarget)) if (keep(tid)) set.addSet(s);
          return { ...(p.commit !== undefined ? { commit: p.commit } : {}), lastSeen: p.lastSeen, set };
        };
        const serviceOf = (tid: string) => {
          const t = opts.store.target(tid);
          return t?.labels.service ?? t?.job ?? 'unknown';
        };
        const map = (await carried(record.selector, parts.map((p) => sumOf(p, () => true)))) ?? total.toCoverageMap(lookup).map;
        const summary = summarize(map);
        const services: Record<string, Summary> = {};
        for (const [service, set] of byService) {
          const own = parts.map((p) => sumOf(p, (tid) => serviceOf(tid) === service)).filter((b) => b.set.paths().length > 0);
          services[service] = summarize((await carried({ ...record.selector, service: [service] }, own)) ?? set.toCoverageMap(lookup).map);
        }

        // Enqueue first (idempotent per session): a crash before the record below
        // is written only means the next /test-finished recomputes and enqueues nothing new.
        if (opts.push && opts.pushOnFinish()) {
          await opts.push.enqueue({ sessionId: sid, labels: record.labels, build, services: [...byService.keys()], ...(req.done === true ? { done: true } : {}), summary, coverage: map });
        }
        const finished: SessionRecord = {
          ...record,
          state: 'finished',
          finishedAt: opts.clock.now(),
          endState: end,
          coverage: Object.fromEntries(Object.entries(perTarget).map(([tid, set]) => [tid, set.toJSON()])),
          summary,
          services,
          build,
          ...(parts.length > 1
            ? { builds: parts.map((p) => ({ ...(p.commit !== undefined ? { commit: p.commit } : {}), firstSeen: p.firstSeen, lastSeen: p.lastSeen, coverage: Object.fromEntries(Object.entries(p.perTarget).map(([tid, set]) => [tid, set.toJSON()])) })) }
            : {}),
        };
        await opts.kv.put(sid, finished);
        sessions.set(sid, finished);
        version++;
        for (const [service, s] of Object.entries(services)) opts.observer?.sessionFinished(service, s);
        opts.logger.info({ session: sid, lines: summary.lines.pct }, 'session finished');
        return { session: view(finished), finishedNow: true };
      });
      if (req.wait && opts.push && opts.pushOnFinish()) {
        await opts.push.waitFor(sid, WAIT_TIMEOUT_MS);
        return { ...result, session: view(sessions.get(sid)!) };
      }
      return result;
    },

    get(id: string): SessionView {
      const r = sessions.get(id);
      if (!r) throw errors.notFound(`session ${JSON.stringify(id)} not found`);
      return view(r);
    },

    list(selector: Selector = {}): SessionView[] {
      return [...sessions.values()]
        .filter((s) => matchesSelector({ ...s.labels, session: s.id, state: s.state }, selector))
        .sort((a, b) => a.startedAt - b.startedAt)
        .map(view);
    },

    /** Label names sessions carry (to tell session labels from target labels in a selector). */
    labelNames(): Set<string> {
      const out = new Set<string>(['session']);
      for (const s of sessions.values()) for (const k of Object.keys(s.labels)) out.add(k);
      return out;
    },

    /**
     * Coverage of a selection that names sessions (by `session` or a session
     * label): the matching finished sessions, restricted to targets matching
     * the remaining (target) labels, plus pushed coverage whose labels match
     * the whole selector. Undefined when the selector names no session label.
     */
    resolve(selector: Selector): CounterSet | undefined {
      const names = this.labelNames();
      const sessionKeys = Object.keys(selector).filter((k) => names.has(k));
      if (sessionKeys.length === 0) return undefined;
      const targetKeys = Object.keys(selector).filter((k) => !names.has(k));
      const set = new CounterSet();
      for (const s of sessions.values()) {
        if (s.state !== 'finished' || !s.coverage) continue;
        if (!matchesSelector({ ...s.labels, session: s.id }, selector, sessionKeys)) continue;
        for (const [tid, data] of Object.entries(s.coverage)) {
          const t = opts.store.target(tid);
          if (targetKeys.length > 0 && (!t || !matchesSelector({ ...t.labels, job: t.job }, selector, targetKeys))) continue;
          set.addSet(CounterSet.fromJSON(data));
        }
      }
      const pushed = opts.store.targets().filter((t) => isPushTarget(t) && matchesSelector({ ...t.labels, job: t.job }, selector));
      if (pushed.length > 0) set.addSet(opts.store.counterSet({ ids: pushed.map((t) => t.id) }));
      return set;
    },

    /**
     * The coverage `resolve` gives, split by build (newest first) for
     * carrying: a session that spans builds by its recorded parts, any other
     * as one part of its build's commit; pushed coverage by its builds.
     * Undefined when the selector names no session label.
     */
    resolveByBuild(selector: Selector): Array<{ commit?: string; firstSeen: number; lastSeen: number; set: CounterSet }> | undefined {
      const names = this.labelNames();
      const sessionKeys = Object.keys(selector).filter((k) => names.has(k));
      if (sessionKeys.length === 0) return undefined;
      const targetKeys = Object.keys(selector).filter((k) => !names.has(k));
      const groups = new Map<string, { commit?: string; firstSeen: number; lastSeen: number; set: CounterSet }>();
      const add = (commit: string | undefined, firstSeen: number, lastSeen: number, set: CounterSet) => {
        const k = commit ?? '';
        let g = groups.get(k);
        if (!g) groups.set(k, (g = { ...(commit !== undefined ? { commit } : {}), firstSeen, lastSeen, set: new CounterSet() }));
        g.firstSeen = Math.min(g.firstSeen, firstSeen);
        g.lastSeen = Math.max(g.lastSeen, lastSeen);
        g.set.addSet(set);
      };
      const keep = (tid: string) => {
        const t = opts.store.target(tid);
        return targetKeys.length === 0 || (t !== undefined && matchesSelector({ ...t.labels, job: t.job }, selector, targetKeys));
      };
      for (const s of sessions.values()) {
        if (s.state !== 'finished' || !s.coverage) continue;
        if (!matchesSelector({ ...s.labels, session: s.id }, selector, sessionKeys)) continue;
        const parts = s.builds ?? [{ ...(s.build?.commit ? { commit: s.build.commit } : {}), firstSeen: s.startedAt, lastSeen: s.finishedAt ?? s.startedAt, coverage: s.coverage }];
        for (const p of parts) {
          const set = new CounterSet();
          for (const [tid, data] of Object.entries(p.coverage)) if (keep(tid)) set.addSet(CounterSet.fromJSON(data));
          add(p.commit, p.firstSeen, p.lastSeen, set);
        }
      }
      const pushed = opts.store.targets().filter((t) => isPushTarget(t) && matchesSelector({ ...t.labels, job: t.job }, selector));
      if (pushed.length > 0) for (const g of opts.store.counterSetsByBuild({ ids: pushed.map((t) => t.id) })) add(g.commit, g.firstSeen, g.lastSeen, g.set);
      return [...groups.values()];
    },

    version: () => version,

    /** Finished sessions, oldest first: main replays them into the last-session metric after a restart. */
    lastFinished(): SessionRecord[] {
      return [...sessions.values()].filter((s) => s.state === 'finished').sort((a, b) => a.finishedAt! - b.finishedAt!);
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
