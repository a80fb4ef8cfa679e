import { randomBytes } from 'node:crypto';
import type { Level } from 'level';
import {
  addSnapshots,
  continuesLifetime,
  CounterSet,
  matchesSelector,
  type CounterSetData,
  type FileStructure,
  type Selector,
  type Snapshot,
} from '../model/index.ts';
import { HIGH, lifetimeKey, snapshotKey, snapshotPrefix, snapshotTime, enc } from './keys.ts';
import type {
  AppendInput,
  AppendResult,
  CoverageStore,
  KeyValue,
  Lifetime,
  LifetimeSnapshots,
  RetentionResult,
  StoredTarget,
} from './types.ts';

type Db = Level<string, unknown>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type BatchOp = { type: 'put'; sublevel: any; key: string; value: unknown } | { type: 'del'; sublevel: any; key: string };
type Sub<V> = ReturnType<Db['sublevel']> & { get(key: string): Promise<V | undefined> };

interface LiveLifetime {
  meta: Lifetime;
  latest: Snapshot;
}

interface TargetRecord extends StoredTarget {
  /** Lifetime the last snapshot went to. */
  current?: string;
}

/** A lifetime begun before the target's window (POST /api/v1/clear) is history, not part of the window. */
function beforeWindow(target: StoredTarget | undefined, lt: LiveLifetime): boolean {
  return target?.windowStart !== undefined && lt.meta.firstSeen < target.windowStart;
}

/**
 * LevelDB-backed coverage store (see CoverageStore for the contract).
 * Memory holds the structures, the newest snapshot of each lifetime and the
 * archives; disk holds those plus the raw snapshot history until retention.
 */
export function createCoverageStore(db: Db): CoverageStore {
  const sub = <V>(name: string) => db.sublevel<string, V>(name, { valueEncoding: 'json' }) as unknown as Sub<V>;
  const structuresDb = sub<FileStructure>('structures');
  const envelopesDb = sub<Record<string, string>>('envelopes');
  const targetsDb = sub<TargetRecord>('targets');
  const lifetimesDb = sub<Lifetime>('lifetimes');
  const snapshotsDb = sub<Snapshot>('snapshots');
  const archivesDb = sub<CounterSetData>('archives');

  const structures = new Map<string, FileStructure>();
  const envelopes = new Map<string, Record<string, string>>();
  const targets = new Map<string, TargetRecord>();
  const lifetimes = new Map<string, Map<string, LiveLifetime>>();
  const archives = new Map<string, CounterSet>();
  const targetVersions = new Map<string, number>();
  const totals = new Map<string, { version: number; set: CounterSet }>();
  let globalVersion = 0;
  let seq = 0;
  let opened = false;
  // Appends are serialised: the lifetime decision reads what the previous append wrote.
  let queue: Promise<unknown> = Promise.resolve();

  function bump(targetId: string): void {
    globalVersion++;
    targetVersions.set(targetId, (targetVersions.get(targetId) ?? 0) + 1);
  }

  async function open(): Promise<void> {
    if (opened) return;
    await db.open();
    for await (const [k, v] of structuresDb.iterator()) structures.set(k as string, v as FileStructure);
    for await (const [k, v] of envelopesDb.iterator()) envelopes.set(k as string, v as Record<string, string>);
    for await (const [k, v] of targetsDb.iterator()) targets.set(decodeURIComponent(k as string), v as TargetRecord);
    for await (const [k, v] of archivesDb.iterator()) archives.set(decodeURIComponent(k as string), CounterSet.fromJSON(v as CounterSetData));
    for await (const [, v] of lifetimesDb.iterator()) {
      const meta = v as Lifetime;
      const latest = ((await snapshotsDb.get(meta.latestKey)) as Snapshot | undefined) ?? {};
      let byId = lifetimes.get(meta.targetId);
      if (!byId) lifetimes.set(meta.targetId, (byId = new Map()));
      byId.set(meta.id, { meta, latest });
    }
    for (const id of targets.keys()) bump(id);
    opened = true;
  }

  async function close(): Promise<void> {
    await queue.catch(() => undefined);
    if (db.status === 'open') await db.close();
    opened = false;
  }

  function chooseLifetime(input: AppendInput, now: number): { id: string; prev?: LiveLifetime; isNew: boolean } {
    const byId = lifetimes.get(input.target.id);
    const all = byId ? [...byId.values()] : [];
    const target = targets.get(input.target.id);
    // After a clear, the first snapshot always opens a lifetime of the new window.
    // Within one instance only counters going down (same structure) end a lifetime; see continuesLifetime.
    const continues = (lt: LiveLifetime) =>
      !beforeWindow(target, lt) &&
      (input.counters === 'delta' ||
        continuesLifetime(lt.latest, input.snapshot, { sameInstance: input.instance !== undefined && lt.meta.instance === input.instance }));
    if (input.instance) {
      // Segments of one instance: "i:<instance>", "i:<instance>#2" after a counter reset.
      const segs = all.filter((lt) => lt.meta.instance === input.instance).sort((a, b) => a.meta.firstSeen - b.meta.firstSeen);
      const last = segs.at(-1);
      if (last && continues(last)) return { id: last.meta.id, prev: last, isNew: false };
      const base = `i:${input.instance}`;
      return { id: segs.length === 0 ? base : `${base}#${segs.length + 1}`, isNew: true };
    }
    const currentId = targets.get(input.target.id)?.current;
    const cur = currentId ? byId?.get(currentId) : undefined;
    if (cur && cur.meta.instance === undefined && continues(cur)) return { id: cur.meta.id, prev: cur, isNew: false };
    return { id: `a:${now.toString(36)}-${randomBytes(4).toString('hex')}`, isNew: true };
  }

  async function doAppend(input: AppendInput, now: number): Promise<AppendResult> {
    if (!opened) throw new Error('store is not open');
    const tid = input.target.id;
    const { id: lifetimeId, prev, isNew } = chooseLifetime(input, now);
    const oldTarget = targets.get(tid);
    // A new lifetime right after a clear is the new window, not a restart.
    const hadLifetimes = [...(lifetimes.get(tid)?.values() ?? [])].some((lt) => !beforeWindow(oldTarget, lt));

    // Counters only grow within a lifetime: a file missing from this read keeps its last counters.
    const cumulative: Snapshot =
      input.counters === 'delta' ? addSnapshots(prev?.latest ?? {}, input.snapshot) : { ...(prev?.latest ?? {}), ...input.snapshot };
    const changed = !prev || JSON.stringify(prev.latest) !== JSON.stringify(cumulative);

    const ops: BatchOp[] = [];
    const newStructures: Array<[string, FileStructure]> = [];
    for (const [hash, structure] of input.structures) {
      if (!structures.has(hash)) {
        newStructures.push([hash, structure]);
        ops.push({ type: 'put', sublevel: structuresDb, key: hash, value: structure });
      }
    }
    if (input.envelope && !envelopes.has(input.envelope.id)) {
      ops.push({ type: 'put', sublevel: envelopesDb, key: input.envelope.id, value: input.envelope.files });
    }
    const target: TargetRecord = {
      id: tid,
      job: input.target.job,
      labels: input.target.labels,
      url: input.target.url ?? oldTarget?.url,
      firstSeen: oldTarget?.firstSeen ?? now,
      lastSeen: now,
      current: lifetimeId,
      ...(oldTarget?.windowStart !== undefined ? { windowStart: oldTarget.windowStart } : {}),
    };
    ops.push({ type: 'put', sublevel: targetsDb, key: enc(tid), value: target });

    const latestKey = changed ? snapshotKey(tid, lifetimeId, now, seq++ % 1_000_000) : prev!.meta.latestKey;
    const meta: Lifetime = {
      targetId: tid,
      id: lifetimeId,
      instance: input.instance ?? prev?.meta.instance,
      startTime: input.startTime ?? prev?.meta.startTime,
      build: input.build ?? prev?.meta.build,
      firstSeen: prev?.meta.firstSeen ?? now,
      lastSeen: now,
      latestKey,
      restarts: prev?.meta.restarts ?? 0,
    };
    if (changed) ops.push({ type: 'put', sublevel: snapshotsDb, key: latestKey, value: cumulative });
    ops.push({ type: 'put', sublevel: lifetimesDb, key: lifetimeKey(tid, lifetimeId), value: meta });

    await db.batch(ops as never);

    // Memory follows disk only after the batch is durable.
    for (const [hash, structure] of newStructures) structures.set(hash, structure);
    if (input.envelope) envelopes.set(input.envelope.id, input.envelope.files);
    targets.set(tid, target);
    let byId = lifetimes.get(tid);
    if (!byId) lifetimes.set(tid, (byId = new Map()));
    byId.set(lifetimeId, { meta, latest: cumulative });
    if (changed || isNew || !oldTarget) bump(tid);
    return {
      lifetimeId,
      newLifetime: isNew,
      restarted: isNew && hadLifetimes,
      changed,
      files: Object.keys(input.snapshot).length,
    };
  }

  function append(input: AppendInput, now: number): Promise<AppendResult> {
    const run = queue.then(() => doAppend(input, now));
    queue = run.catch(() => undefined);
    return run;
  }

  function targetTotal(targetId: string): CounterSet {
    const version = targetVersions.get(targetId) ?? 0;
    const cached = totals.get(targetId);
    if (cached && cached.version === version) return cached.set;
    const set = new CounterSet();
    const target = targets.get(targetId);
    // The archive holds lifetimes folded by retention; after a clear they are history.
    const archive = target?.windowStart === undefined ? archives.get(targetId) : undefined;
    if (archive) set.addSet(archive);
    for (const lt of lifetimes.get(targetId)?.values() ?? []) if (!beforeWindow(target, lt)) set.addSnapshot(lt.latest);
    totals.set(targetId, { version, set });
    return set;
  }

  function selectIds(select: Selector | { ids: string[] }): string[] {
    if (Array.isArray((select as { ids?: unknown }).ids)) return (select as { ids: string[] }).ids;
    const selector = select as Selector;
    return [...targets.values()].filter((t) => matchesSelector({ ...t.labels, job: t.job }, selector)).map((t) => t.id);
  }

  async function retention(now: number, retentionMs: number): Promise<RetentionResult> {
    const cutoff = now - retentionMs;
    const result: RetentionResult = { deletedSnapshots: 0, foldedLifetimes: 0 };
    for (const [tid, byId] of lifetimes) {
      const ops: BatchOp[] = [];
      const fold: LiveLifetime[] = [];
      const current = targets.get(tid)?.current;
      for (const lt of byId.values()) {
        const expired = lt.meta.lastSeen < cutoff && lt.meta.id !== current;
        for await (const key of snapshotsDb.keys({ gte: snapshotPrefix(tid, lt.meta.id), lt: snapshotPrefix(tid, lt.meta.id) + HIGH })) {
          const k = key as string;
          if (expired || (k !== lt.meta.latestKey && snapshotTime(k) < cutoff)) {
            ops.push({ type: 'del', sublevel: snapshotsDb, key: k });
            result.deletedSnapshots++;
          }
        }
        if (expired) {
          fold.push(lt);
          ops.push({ type: 'del', sublevel: lifetimesDb, key: lifetimeKey(tid, lt.meta.id) });
        }
      }
      let archive: CounterSet | undefined;
      if (fold.length > 0) {
        // Fold the expired lifetimes' totals into the archive in the same batch that deletes them.
        archive = CounterSet.fromJSON(archives.get(tid)?.toJSON() ?? {});
        for (const lt of fold) archive.addSnapshot(lt.latest);
        ops.push({ type: 'put', sublevel: archivesDb, key: enc(tid), value: archive.toJSON() });
      }
      if (ops.length === 0) continue;
      await db.batch(ops as never);
      if (archive) {
        archives.set(tid, archive);
        for (const lt of fold) byId.delete(lt.meta.id);
        result.foldedLifetimes += fold.length;
        bump(tid);
      }
    }
    return result;
  }

  async function clearWindow(targetIds: Iterable<string>, now: number): Promise<string[]> {
    const run = queue.then(async () => {
      const done: string[] = [];
      const ops: BatchOp[] = [];
      const next: TargetRecord[] = [];
      for (const tid of targetIds) {
        const t = targets.get(tid);
        if (!t) continue;
        const record: TargetRecord = { ...t, windowStart: now };
        next.push(record);
        ops.push({ type: 'put', sublevel: targetsDb, key: enc(tid), value: record });
      }
      if (ops.length > 0) await db.batch(ops as never);
      for (const r of next) {
        targets.set(r.id, r);
        bump(r.id);
        done.push(r.id);
      }
      return done;
    });
    queue = run.catch(() => undefined);
    return run;
  }

  function sublevel<V>(name: string): KeyValue<V> {
    const s = sub<V>(`x-${name}`);
    return {
      get: async (key) => (await s.get(key)) as V | undefined,
      put: (key, value) => s.put(key, value as never),
      del: (key) => s.del(key),
      async *entries(opts = {}) {
        const range: { gte?: string; lt?: string } = {};
        if (opts.gte !== undefined) range.gte = opts.gte;
        if (opts.lt !== undefined) range.lt = opts.lt;
        for await (const [k, v] of s.iterator(range)) yield [k as string, v as V];
      },
      batch: (ops) => s.batch(ops as never),
    };
  }

  return {
    open,
    close,
    append,
    structure: (hash) => structures.get(hash),
    hasStructure: (hash) => structures.has(hash),
    envelopeFiles: (id) => envelopes.get(id),
    targets: () => [...targets.values()].map(({ current: _c, ...t }) => t),
    target: (id) => {
      const t = targets.get(id);
      if (!t) return undefined;
      const { current: _c, ...rest } = t;
      return rest;
    },
    lifetimes: (targetId) => [...(lifetimes.get(targetId)?.values() ?? [])].map((lt) => lt.meta),
    clearWindow,
    counterSet(select) {
      const set = new CounterSet();
      for (const id of selectIds(select)) set.addSet(targetTotal(id));
      return set;
    },
    counterSetsByBuild(select) {
      const groups = new Map<string, { commit?: string; firstSeen: number; lastSeen: number; set: CounterSet }>();
      const group = (commit: string | undefined) => {
        const k = commit ?? '';
        let g = groups.get(k);
        if (!g) groups.set(k, (g = { ...(commit !== undefined ? { commit } : {}), firstSeen: Infinity, lastSeen: 0, set: new CounterSet() }));
        return g;
      };
      for (const tid of selectIds(select)) {
        const target = targets.get(tid);
        const archive = target?.windowStart === undefined ? archives.get(tid) : undefined;
        if (archive) group(undefined).set.addSet(archive);
        for (const lt of lifetimes.get(tid)?.values() ?? []) {
          if (beforeWindow(target, lt)) continue;
          const commit = lt.meta.build?.commit;
          const g = group(commit === '' ? undefined : commit);
          g.set.addSnapshot(lt.latest);
          g.firstSeen = Math.min(g.firstSeen, lt.meta.firstSeen);
          g.lastSeen = Math.max(g.lastSeen, lt.meta.lastSeen);
        }
      }
      // An archive alone (folded lifetimes) has no known first scrape: the oldest.
      return [...groups.values()].map((g) => (g.firstSeen === Infinity ? { ...g, firstSeen: 0 } : g));
    },
    lifetimeSnapshots(targetIds) {
      const out: LifetimeSnapshots = new Map();
      for (const tid of targetIds) {
        const byId = lifetimes.get(tid);
        if (!byId) continue;
        out.set(tid, new Map([...byId.values()].map((lt) => [lt.meta.id, lt.latest])));
      }
      return out;
    },
    version: () => globalVersion,
    targetVersion: (id) => targetVersions.get(id) ?? 0,
    retention,
    sublevel,
  };
}
