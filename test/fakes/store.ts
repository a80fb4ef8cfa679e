import type { Clock } from '../../gateway/clock/index.ts';
import { errors } from '../../gateway/errors.ts';
import { CounterSet, matchesSelector, type FileStructure, type Selector, type Snapshot } from '../../gateway/model/index.ts';
import type {
  AppendInput,
  AppendResult,
  Lifetime,
  LifetimeSnapshots,
  RetentionResult,
  StoreHealth,
  StoreReader,
  StoreWriter,
  StoredTarget,
  TargetChange,
} from '../../gateway/store/index.ts';

interface FakeLifetime {
  meta: Lifetime;
  latest: Snapshot;
}

/** One call the write side received, in order (as OTel's consumertest sink keeps what it consumed). */
export type WriteCall =
  | { op: 'append'; input: AppendInput; now: number; result: AppendResult }
  | { op: 'clearWindow'; targetIds: string[]; now: number }
  | { op: 'retention'; now: number; retentionMs: number };

export interface FakeStore extends StoreWriter, StoreReader {
  /** Every write accepted, in order. Refused writes are not recorded (nothing refused is acknowledged). */
  readonly writes: WriteCall[];
  /** The appends among `writes`. */
  readonly appends: Array<{ input: AppendInput; now: number; result: AppendResult }>;
  /** From now on every write is refused with COVGATE_UNAVAILABLE (503), as the real store after ENOSPC. */
  failWrites(cause: string): void;
  /** Forgets a structure (as a gateway that lost its data would): counters-only replies naming it cannot be resolved. */
  forgetStructures(): void;
}

/**
 * A store for stage tests, in memory: a recording write side and a reader
 * honouring the store contract (types.ts) for what stages rely on:
 * - an append writes its structures, envelope files (scoped per target),
 *   target record (with its `source`) and lifetime at once, or nothing when
 *   writes are refused;
 * - a lifetime is the payload's `instance` (or one per target without it);
 *   cumulative counters replace the lifetime's snapshot, delta counters add
 *   up; an unchanged cumulative snapshot reports `changed: false`;
 * - `counterSet` sums each selected target's window (lifetimes begun since
 *   its last clearWindow); `version()` changes whenever coverage changes.
 * Counter-decrease detection (a restart without an instance) and retention
 * folding are the real store's (test/store/ covers them); retention here only
 * records the call.
 */
export function createFakeStore(opts: { clock?: Clock } = {}): FakeStore {
  const structures = new Map<string, FileStructure>();
  const envelopes = new Map<string, Record<string, string>>();
  const lastEnvelope = new Map<string, string>();
  const totals = new Map<string, { version: number; set: CounterSet }>(); // target → its last envelope structure id
  const targets = new Map<string, StoredTarget>();
  const lifetimes = new Map<string, Map<string, FakeLifetime>>();
  const versions = new Map<string, number>();
  const current = new Map<string, string>(); // target → the lifetime of its last append
  const writes: WriteCall[] = [];
  const listeners: Array<(change: TargetChange) => void> = [];
  let globalVersion = 0;
  let failure: { cause: string; since: number } | undefined;

  const bump = (tid: string) => {
    versions.set(tid, (versions.get(tid) ?? 0) + 1);
    globalVersion++;
  };
  const refuseIfFailing = () => {
    if (failure) throw errors.unavailable(`the store is not writable: ${failure.cause}`);
  };
  const inWindow = (t: StoredTarget | undefined, lt: FakeLifetime) => t?.windowStart === undefined || lt.meta.firstSeen >= t.windowStart;
  const selectIds = (select: Selector | { ids: string[] }): string[] =>
    Array.isArray((select as { ids?: unknown }).ids)
      ? (select as { ids: string[] }).ids
      : [...targets.values()].filter((t) => matchesSelector({ ...t.labels, job: t.job }, select as Selector)).map((t) => t.id);
  const toSnapshot = (set: CounterSet): Snapshot => {
    const out: Snapshot = {};
    for (const [path, byHash] of set.entries()) for (const [structure, counters] of byHash) out[path] = { structure, counters };
    return out;
  };

  const store: FakeStore = {
    writes,
    get appends() {
      return writes.filter((w): w is Extract<WriteCall, { op: 'append' }> => w.op === 'append');
    },
    failWrites(cause) {
      failure = { cause, since: opts.clock?.now() ?? 0 };
    },
    forgetStructures() {
      structures.clear();
    },

    async append(input, now) {
      refuseIfFailing();
      const tid = input.target.id;
      const byId = lifetimes.get(tid) ?? new Map<string, FakeLifetime>();
      const lifetimeId = input.instance ?? 'default';
      const prev = byId.get(lifetimeId);
      const latest =
        prev && input.counters === 'delta' ? toSnapshot(CounterSet.fromSnapshot(prev.latest).addSnapshot(input.snapshot)) : structuredClone(input.snapshot);
      const changed = !prev || JSON.stringify(prev.latest) !== JSON.stringify(latest);
      const meta: Lifetime = {
        targetId: tid,
        id: lifetimeId,
        ...(input.instance !== undefined ? { instance: input.instance } : {}),
        ...(input.startTime !== undefined ? { startTime: input.startTime } : {}),
        ...((input.build ?? prev?.meta.build) !== undefined ? { build: input.build ?? prev?.meta.build } : {}),
        firstSeen: prev?.meta.firstSeen ?? now,
        lastSeen: now,
        latestKey: `${tid}/${lifetimeId}/${now}`,
        restarts: prev?.meta.restarts ?? 0,
      };
      // Everything below is one step: no await between the first and the last change.
      for (const [hash, s] of input.structures) structures.set(hash, s);
      if (input.envelope) {
        envelopes.set(`${tid}\0${input.envelope.id}`, { ...input.envelope.files });
        lastEnvelope.set(tid, input.envelope.id);
      }
      const old = targets.get(tid);
      targets.set(tid, {
        id: tid,
        job: input.target.job,
        source: input.target.source ?? (tid.startsWith('push:') ? 'push' : 'scrape'),
        labels: { ...input.target.labels },
        ...((input.target.url ?? old?.url) !== undefined ? { url: input.target.url ?? old?.url } : {}),
        firstSeen: old?.firstSeen ?? now,
        lastSeen: now,
        ...(old?.windowStart !== undefined ? { windowStart: old.windowStart } : {}),
      });
      byId.set(lifetimeId, { meta, latest });
      lifetimes.set(tid, byId);
      current.set(tid, lifetimeId);
      if (changed || !prev) bump(tid);
      if (changed) {
        const version = versions.get(tid)!;
        for (const l of listeners) l({ targetId: tid, previous: version - 1, version, lifetimeId, ...(prev ? { before: prev.latest } : {}), after: latest });
      }
      const result: AppendResult = { lifetimeId, newLifetime: !prev, restarted: !prev && byId.size > 1, changed, files: Object.keys(input.snapshot).length };
      writes.push({ op: 'append', input, now, result });
      return result;
    },
    async clearWindow(targetIds, now) {
      refuseIfFailing();
      const done: string[] = [];
      for (const tid of targetIds) {
        const t = targets.get(tid);
        if (!t) continue;
        targets.set(tid, { ...t, windowStart: now });
        bump(tid);
        done.push(tid);
      }
      writes.push({ op: 'clearWindow', targetIds: done, now });
      return done;
    },
    async retention(now, retentionMs): Promise<RetentionResult> {
      refuseIfFailing();
      writes.push({ op: 'retention', now, retentionMs });
      return { deletedSnapshots: 0, foldedLifetimes: 0 };
    },
    health(): StoreHealth {
      return failure ? { writable: false, ...failure } : { writable: true };
    },
    async recover() {
      failure = undefined;
      return true;
    },

    structure: (hash) => structures.get(hash),
    envelopeFiles: (tid, id) => envelopes.get(`${tid}\0${id}`),
    knownStructureId: (tid) => {
      const id = lastEnvelope.get(tid);
      return id !== undefined && envelopes.has(`${tid}\0${id}`) ? id : undefined;
    },
    targets: () => [...targets.values()],
    target: (id) => targets.get(id),
    lifetimes: (tid) => [...(lifetimes.get(tid)?.values() ?? [])].map((lt) => lt.meta),
    counterSet(select) {
      const set = new CounterSet();
      for (const tid of selectIds(select)) for (const lt of lifetimes.get(tid)?.values() ?? []) if (inWindow(targets.get(tid), lt)) set.addSnapshot(lt.latest);
      return set;
    },
    targetTotal(tid) {
      // One object per target version, as the real store: readers diff the previous one against it.
      const v = versions.get(tid) ?? 0;
      const cached = totals.get(tid);
      if (cached && cached.version === v) return cached.set;
      const set = store.counterSet({ ids: [tid] });
      totals.set(tid, { version: v, set });
      return set;
    },
    counterSetsByBuild(select) {
      const groups = new Map<string, { commit?: string; firstSeen: number; lastSeen: number; set: CounterSet }>();
      for (const tid of selectIds(select)) {
        for (const lt of lifetimes.get(tid)?.values() ?? []) {
          if (!inWindow(targets.get(tid), lt)) continue;
          const commit = lt.meta.build?.commit || undefined;
          let g = groups.get(commit ?? '');
          if (!g) groups.set(commit ?? '', (g = { ...(commit !== undefined ? { commit } : {}), firstSeen: Infinity, lastSeen: 0, set: new CounterSet() }));
          g.set.addSnapshot(lt.latest);
          g.firstSeen = Math.min(g.firstSeen, lt.meta.firstSeen);
          g.lastSeen = Math.max(g.lastSeen, lt.meta.lastSeen);
        }
      }
      return [...groups.values()];
    },
    lifetimeSnapshots(targetIds): LifetimeSnapshots {
      const out: LifetimeSnapshots = new Map();
      for (const tid of targetIds) {
        const byId = lifetimes.get(tid);
        if (byId) out.set(tid, new Map([...byId].map(([id, lt]) => [id, lt.latest])));
      }
      return out;
    },
    version: () => globalVersion,
    targetVersion: (tid) => versions.get(tid) ?? 0,
    targetWindow(tid) {
      const out = new Map<string, Snapshot>();
      for (const lt of lifetimes.get(tid)?.values() ?? []) if (inWindow(targets.get(tid), lt)) out.set(lt.meta.id, lt.latest);
      return { version: versions.get(tid) ?? 0, lifetimes: out };
    },
    currentSnapshot(tid) {
      const lt = lifetimes.get(tid)?.get(current.get(tid) ?? '');
      return lt && inWindow(targets.get(tid), lt) ? lt.latest : undefined;
    },
    onChange(listener) {
      listeners.push(listener);
      return () => void listeners.splice(listeners.indexOf(listener), 1);
    },
  };
  return store;
}
