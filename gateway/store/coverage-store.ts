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
import { CovgateError, errors } from '../errors.ts';
import { HIGH, SEP, lifetimeKey, snapshotKey, snapshotPrefix, snapshotTime, enc } from './keys.ts';
import { decodeSnapshot, encodeKeyframe, encodeNext, kindOf, KEYFRAME } from './snapshot-codec.ts';
import { PUSH_TARGET_PREFIX, withSource } from './target-source.ts';
import { systemClock, type Clock } from '../clock/index.ts';
import type {
  AppendInput,
  AppendResult,
  CoverageStore,
  KeyValue,
  Lifetime,
  LifetimeSnapshots,
  RetentionResult,
  StoredTarget,
  TargetChange,
} from './types.ts';

type Db = Level<string, unknown>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type BatchOp = { type: 'put'; sublevel: any; key: string; value: unknown } | { type: 'del'; sublevel: any; key: string };
type Sub<V> = ReturnType<Db['sublevel']> & { get(key: string): Promise<V | undefined> };

interface LiveLifetime {
  meta: Lifetime;
  latest: Snapshot;
  chain: Chain;
}

/**
 * Where the newest snapshot's value stands in its packed chain (see
 * snapshot-codec.ts): deltas since the last keyframe and their bytes. A new
 * keyframe is written after MAX_CHAIN deltas or once the deltas together
 * outweigh the keyframe, so reading a lifetime back costs at most a
 * keyframe's worth of bytes twice. `legacy`: the newest value is a JSON
 * value of an older version (rewritten as a keyframe on the next change).
 */
interface Chain {
  deltas: number;
  bytes: number;
  keyframeBytes: number;
  legacy?: boolean;
}

const MAX_CHAIN = 64;
/** Lifetime chains read at once while loading. */
const LOAD_CONCURRENCY = 8;
const LEGACY_CHAIN: Chain = { deltas: 0, bytes: 0, keyframeBytes: 0, legacy: true };

interface TargetRecord extends StoredTarget {
  /** Lifetime the last snapshot went to. */
  current?: string;
  /**
   * Envelope structure id of the target's last snapshot: after a restart of
   * the gateway the scraper sends it as X-Covgate-Known-Structure, so
   * exporters answer counters-only instead of every one re-sending its map.
   */
  structureId?: string;
}

/** A target record as readers see it (without the store's bookkeeping). */
function publicTarget({ current: _c, structureId: _s, ...t }: TargetRecord): StoredTarget {
  return t;
}

/** A lifetime begun before the target's window (POST /api/v1/clear) is history, not part of the window. */
function beforeWindow(target: StoredTarget | undefined, lt: LiveLifetime): boolean {
  return target?.windowStart !== undefined && lt.meta.firstSeen < target.windowStart;
}

const envelopeKey = (targetId: string, structureId: string) => `${targetId}\0${structureId}`;

const ERRNO_TEXT: Array<[RegExp, string]> = [
  [/no space left on device/i, 'ENOSPC'],
  [/input\/output error/i, 'EIO'],
  [/read-only file system/i, 'EROFS'],
  [/disk quota exceeded/i, 'EDQUOT'],
  [/permission denied/i, 'EACCES'],
  [/too many open files/i, 'EMFILE'],
];

/**
 * An error and its causes in one line, with the errno name added when
 * LevelDB only gives strerror's text ("IO error: …: No space left on device").
 */
export function errorChain(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const msg = e instanceof Error ? e.message : String(e);
    const code = (e as { code?: unknown }).code;
    const part = typeof code === 'string' && !msg.includes(code) && !code.startsWith('LEVEL_') ? `${msg} (${code})` : msg;
    if (!parts.some((p) => p.includes(part))) parts.push(part);
    e = e instanceof Error ? e.cause : undefined;
  }
  let text = parts.join(': ');
  for (const [re, name] of ERRNO_TEXT) if (re.test(text) && !text.includes(name)) text += ` (${name})`;
  return text;
}

/**
 * LevelDB-backed coverage store (see CoverageStore for the contract).
 * Memory holds the structures, the newest snapshot of each lifetime and the
 * archives; disk holds those plus the raw snapshot history until retention.
 */
export interface CoverageStoreOptions {
  /** Called when a write fails and the store becomes unwritable (cause: one line). */
  onFailure?: (cause: string) => void;
  /** Called when a probe write succeeds again. */
  onRecovered?: (cause: string) => void;
  /** Called when compacting after retention fails (nothing is lost; the disk space comes back later). */
  onCompactionError?: (cause: string) => void;
  /** When a failure began (health().since); the system clock unless a test injects one. */
  clock?: Clock;
}

interface StoreFailure {
  cause: string;
  since: number;
}

export function createCoverageStore(db: Db, options: CoverageStoreOptions = {}): CoverageStore {
  const clock = options.clock ?? systemClock;
  // Every sublevel ever handed out: after a reopen of the db they stay closed until opened themselves.
  const subs: Array<{ open(): Promise<void> }> = [];
  const sub = <V>(name: string, valueEncoding: 'json' | 'buffer' = 'json') => {
    const s = db.sublevel<string, V>(name, { valueEncoding }) as unknown as Sub<V>;
    subs.push(s as unknown as { open(): Promise<void> });
    return s;
  };
  const structuresDb = sub<FileStructure>('structures');
  // Structure ids of the structure-once exchange, scoped per target (key: target!id): one
  // client reusing another's id must not redirect that client's counters. The
  // unscoped 'envelopes' sublevel of older versions is no longer read.
  const structureIdsDb = sub<Record<string, string>>('structure-ids');
  const probeDb = sub<number>('probe');
  const targetsDb = sub<TargetRecord>('targets');
  const lifetimesDb = sub<Lifetime>('lifetimes');
  // Snapshot history: packed binary chains (snapshot-codec.ts). 'snapshots' holds the
  // JSON values of older versions: still read, never written, deleted by retention.
  const packedDb = sub<Buffer>('packed', 'buffer');
  const snapshotsDb = sub<Snapshot>('snapshots');
  const archivesDb = sub<CounterSetData>('archives');

  const structures = new Map<string, FileStructure>();
  const envelopes = new Map<string, Record<string, string>>(); // `${targetId}\0${structureId}`
  const targets = new Map<string, TargetRecord>();
  const lifetimes = new Map<string, Map<string, LiveLifetime>>();
  const archives = new Map<string, CounterSet>();
  const targetVersions = new Map<string, number>();
  const changeListeners: Array<(change: TargetChange) => void> = [];
  let globalVersion = 0;
  let seq = 0;
  let opened = false;
  /** Set when a write failed (disk full, I/O error): writes are refused until a probe write succeeds. */
  let failure: StoreFailure | undefined;
  let recovering: Promise<boolean> | undefined;
  // Appends are serialised: the lifetime decision reads what the previous append wrote.
  let queue: Promise<unknown> = Promise.resolve();

  function unwritable(): CovgateError {
    const f = failure!;
    return errors.unavailable(
      `the store is not writable since ${new Date(f.since).toISOString()}: ${f.cause}; nothing was written, try again once it recovers`,
      { details: { cause: f.cause } },
    );
  }

  /**
   * Every write goes through here. A failed write (disk full, I/O error) makes
   * the store unwritable: LevelDB keeps its background error and fails every
   * later write until it is reopened, so later writes are refused at once
   * (503) until `recover()` sees a probe write succeed.
   */
  async function guarded<T>(fn: () => Promise<T>): Promise<T> {
    if (failure) {
      void recover();
      throw unwritable();
    }
    try {
      return await fn();
    } catch (err) {
      if (!opened) throw err;
      if (!failure) {
        failure = { cause: errorChain(err), since: clock.now() };
        options.onFailure?.(failure.cause);
      }
      throw unwritable();
    }
  }

  async function probeWrite(): Promise<void> {
    await probeDb.put('probe', clock.now());
    await probeDb.del('probe');
  }

  /**
   * One probe at a time: a probe write; if LevelDB still holds its sticky
   * error, close and reopen it and probe again. A reopen reloads memory from
   * disk, so memory and disk agree about any batch whose write failed.
   */
  function recover(): Promise<boolean> {
    if (!failure) return Promise.resolve(true);
    recovering ??= (async () => {
      try {
        try {
          await probeWrite();
        } catch {
          if (db.status === 'open') await db.close();
          await db.open();
          for (const s of subs) await s.open();
          await load();
          await probeWrite();
        }
        const was = failure;
        failure = undefined;
        if (was) options.onRecovered?.(was.cause);
        return true;
      } catch (err) {
        if (failure) failure.cause = errorChain(err);
        return false;
      } finally {
        recovering = undefined;
      }
    })();
    return recovering;
  }

  function bump(targetId: string): void {
    globalVersion++;
    targetVersions.set(targetId, (targetVersions.get(targetId) ?? 0) + 1);
  }

  /** Reads everything memory serves from disk, replacing what memory held. */
  async function load(): Promise<void> {
    const nStructures = new Map<string, FileStructure>();
    const nEnvelopes = new Map<string, Record<string, string>>();
    const nTargets = new Map<string, TargetRecord>();
    const nArchives = new Map<string, CounterSet>();
    const nLifetimes = new Map<string, Map<string, LiveLifetime>>();
    for await (const [k, v] of structuresDb.iterator()) nStructures.set(k as string, v as FileStructure);
    for await (const [k, v] of structureIdsDb.iterator()) {
      const [tid, id] = (k as string).split(SEP).map(decodeURIComponent) as [string, string];
      nEnvelopes.set(envelopeKey(tid, id), v as Record<string, string>);
    }
    for await (const [k, v] of targetsDb.iterator()) nTargets.set(decodeURIComponent(k as string), withSource(v as TargetRecord));
    for await (const [k, v] of archivesDb.iterator()) nArchives.set(decodeURIComponent(k as string), CounterSet.fromJSON(v as CounterSetData));
    // Only each lifetime's newest state is read (its keyframe and the deltas after it), never the
    // history before it. Several chains are read at once: LevelDB's reads run on the thread pool
    // while this thread decodes, which roughly halves start-up with thousands of lifetimes.
    const metas: Lifetime[] = [];
    for await (const [, v] of lifetimesDb.iterator()) metas.push(v as Lifetime);
    const read: Array<{ latest: Snapshot; chain: Chain }> = new Array(metas.length);
    let next = 0;
    const worker = async () => {
      while (next < metas.length) {
        const i = next++;
        read[i] = await readLatest(metas[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOAD_CONCURRENCY, metas.length) }, worker));
    metas.forEach((meta, i) => {
      let byId = nLifetimes.get(meta.targetId);
      if (!byId) nLifetimes.set(meta.targetId, (byId = new Map()));
      byId.set(meta.id, { meta, ...read[i]! });
    });
    // Swapped in one synchronous step: reads never see half a reload.
    const swap = <K, V>(into: Map<K, V>, from: Map<K, V>) => {
      into.clear();
      for (const [k, v] of from) into.set(k, v);
    };
    swap(structures, nStructures);
    swap(envelopes, nEnvelopes);
    swap(targets, nTargets);
    swap(archives, nArchives);
    swap(lifetimes, nLifetimes);
    for (const id of targets.keys()) bump(id);
    globalVersion++;
  }

  /**
   * The newest snapshot of a lifetime: its packed chain read backwards from
   * `latestKey` to the keyframe, then applied forwards; or the JSON value an
   * older version wrote.
   */
  async function readLatest(meta: Lifetime): Promise<{ latest: Snapshot; chain: Chain }> {
    const values: Buffer[] = [];
    const prefix = snapshotPrefix(meta.targetId, meta.id);
    const take = (entries: Iterable<[string, Buffer]>) => {
      values.length = 0;
      for (const [k, v] of entries) {
        if (values.length === 0 && k !== meta.latestKey) break; // the newest value is not packed
        values.push(v);
        if (kindOf(v) === KEYFRAME) return true;
      }
      return false;
    };
    // A chain is at most MAX_CHAIN values: one native read fetches all of it (a value at a time
    // costs a round trip to LevelDB's thread each); a longer one (another MAX_CHAIN) is walked.
    const range = { lte: meta.latestKey, gte: prefix, reverse: true };
    const first = (await packedDb.iterator({ ...range, limit: MAX_CHAIN }).all()) as Array<[string, Buffer]>;
    if (!take(first) && first.length === MAX_CHAIN) {
      const all: Array<[string, Buffer]> = [];
      for await (const [k, v] of packedDb.iterator(range)) {
        all.push([k as string, v as Buffer]);
        if (kindOf(v as Buffer) === KEYFRAME) break;
      }
      take(all);
    }
    if (values.length === 0) {
      const legacy = (await snapshotsDb.get(meta.latestKey)) as Snapshot | undefined;
      return { latest: legacy ?? {}, chain: LEGACY_CHAIN };
    }
    if (kindOf(values.at(-1)!) !== KEYFRAME) {
      throw new Error(`store: the snapshot chain of lifetime ${JSON.stringify(meta.id)} of target ${JSON.stringify(meta.targetId)} has no keyframe`);
    }
    let latest: Snapshot = {};
    const keyframeBytes = values.at(-1)!.length;
    let bytes = 0;
    for (let i = values.length - 1; i >= 0; i--) {
      // The keyframe's decode is fresh and owned here: the deltas are applied to it in place.
      latest = decodeSnapshot(values[i]!, latest, i < values.length - 1);
      if (i < values.length - 1) bytes += values[i]!.length;
    }
    return { latest, chain: { deltas: values.length - 1, bytes, keyframeBytes } };
  }

  async function open(): Promise<void> {
    if (opened) return;
    try {
      await db.open();
    } catch (err) {
      // classic-level says only "Database failed to open"; the cause (ENOSPC, EACCES, LOCK) is what an operator needs.
      throw new Error(`cannot open the store at ${db.location}: ${errorChain(err)}`, { cause: err });
    }
    await load();
    opened = true;
  }

  async function close(): Promise<void> {
    await queue.catch(() => undefined);
    await recovering?.catch(() => undefined);
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
    // (The copy is owned here: encodeNext below may swap in prev's entries of unchanged files.)
    // The packed value: a keyframe for a new lifetime, a migrated one or a long chain; else what changed.
    let value: Buffer | undefined;
    let chain: Chain;
    if (!prev || prev.chain.legacy) {
      value = prev && encodeNext(prev.latest, cumulative, { shareUnchanged: true }) === undefined ? undefined : encodeKeyframe(cumulative);
      chain = value ? { deltas: 0, bytes: 0, keyframeBytes: value.length } : prev!.chain;
    } else {
      value = encodeNext(prev.latest, cumulative, { shareUnchanged: true });
      chain = prev.chain;
      if (value && kindOf(value) !== KEYFRAME && (chain.deltas + 1 >= MAX_CHAIN || chain.bytes + value.length > chain.keyframeBytes)) {
        value = encodeKeyframe(cumulative);
      }
      if (value) {
        chain =
          kindOf(value) === KEYFRAME
            ? { deltas: 0, bytes: 0, keyframeBytes: value.length }
            : { deltas: chain.deltas + 1, bytes: chain.bytes + value.length, keyframeBytes: chain.keyframeBytes };
      }
    }
    const changed = value !== undefined;

    const ops: BatchOp[] = [];
    const newStructures: Array<[string, FileStructure]> = [];
    for (const [hash, structure] of input.structures) {
      if (!structures.has(hash)) {
        newStructures.push([hash, structure]);
        ops.push({ type: 'put', sublevel: structuresDb, key: hash, value: structure });
      }
    }
    const envKey = input.envelope ? envelopeKey(tid, input.envelope.id) : undefined;
    if (input.envelope && JSON.stringify(envelopes.get(envKey!)) !== JSON.stringify(input.envelope.files)) {
      ops.push({ type: 'put', sublevel: structureIdsDb, key: `${enc(tid)}${SEP}${enc(input.envelope.id)}`, value: input.envelope.files });
    }
    const target: TargetRecord = {
      id: tid,
      job: input.target.job,
      source: input.target.source ?? (tid.startsWith(PUSH_TARGET_PREFIX) ? 'push' : 'scrape'),
      labels: input.target.labels,
      url: input.target.url ?? oldTarget?.url,
      firstSeen: oldTarget?.firstSeen ?? now,
      lastSeen: now,
      current: lifetimeId,
      ...(input.envelope || oldTarget?.structureId !== undefined ? { structureId: input.envelope?.id ?? oldTarget?.structureId } : {}),
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
    if (value) ops.push({ type: 'put', sublevel: packedDb, key: latestKey, value });
    ops.push({ type: 'put', sublevel: lifetimesDb, key: lifetimeKey(tid, lifetimeId), value: meta });

    await guarded(() => db.batch(ops as never));

    // Memory follows disk only after the batch is durable.
    for (const [hash, structure] of newStructures) structures.set(hash, structure);
    if (input.envelope) envelopes.set(envKey!, input.envelope.files);
    targets.set(tid, target);
    let byId = lifetimes.get(tid);
    if (!byId) lifetimes.set(tid, (byId = new Map()));
    byId.set(lifetimeId, { meta, latest: changed ? cumulative : prev!.latest, chain });
    if (changed || isNew || !oldTarget) bump(tid);
    if (changed) {
      const version = targetVersions.get(tid)!;
      const change: TargetChange = { targetId: tid, previous: version - 1, version, lifetimeId, ...(prev ? { before: prev.latest } : {}), after: cumulative };
      for (const l of changeListeners) {
        try {
          l(change);
        } catch {
          // A reader's failure must not fail an acknowledged append; it resyncs from targetWindow on its next read.
        }
      }
    }
    return {
      lifetimeId,
      newLifetime: isNew,
      restarted: isNew && hadLifetimes,
      changed,
      files: Object.keys(input.snapshot).length,
    };
  }

  function append(input: AppendInput, now: number): Promise<AppendResult> {
    return serial(() => doAppend(input, now));
  }

  /**
   * The target's window sum, built on each call (not cached: the readers that
   * read it often keep their own sums from onChange, and a cache per target
   * was one more copy of every counter in memory).
   */
  function targetTotal(targetId: string, into = new CounterSet()): CounterSet {
    const target = targets.get(targetId);
    // The archive holds lifetimes folded by retention; after a clear they are history.
    const archive = target?.windowStart === undefined ? archives.get(targetId) : undefined;
    if (archive) into.addSet(archive);
    for (const lt of lifetimes.get(targetId)?.values() ?? []) if (!beforeWindow(target, lt)) into.addSnapshot(lt.latest);
    return into;
  }

  function selectIds(select: Selector | { ids: string[] }): string[] {
    if (Array.isArray((select as { ids?: unknown }).ids)) return (select as { ids: string[] }).ids;
    const selector = select as Selector;
    return [...targets.values()].filter((t) => matchesSelector({ ...t.labels, job: t.job }, selector)).map((t) => t.id);
  }

  /** Runs `fn` in the append queue: it sees no append half-done and no append sees it half-done. */
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn);
    queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Deletes snapshots older than the cutoff (except each live lifetime's
   * newest, rewritten as a keyframe when it was a delta so its chain no longer
   * needs what is deleted) and folds expired lifetimes into the archive, one
   * target per batch and each batch between appends. Then compacts the
   * snapshot ranges so the disk space is given back.
   */
  async function retention(now: number, retentionMs: number): Promise<RetentionResult> {
    const cutoff = now - retentionMs;
    const result: RetentionResult = { deletedSnapshots: 0, foldedLifetimes: 0 };
    for (const tid of [...lifetimes.keys()]) {
      await serial(async () => {
        const byId = lifetimes.get(tid);
        if (!byId) return;
        const ops: BatchOp[] = [];
        const fold: LiveLifetime[] = [];
        const rechained: Array<[LiveLifetime, Chain]> = [];
        const current = targets.get(tid)?.current;
        let deleted = 0;
        for (const lt of byId.values()) {
          const expired = lt.meta.lastSeen < cutoff && lt.meta.id !== current;
          const range = { gte: snapshotPrefix(tid, lt.meta.id), lt: snapshotPrefix(tid, lt.meta.id) + HIGH };
          let trimmed = false;
          for (const sublevel of [packedDb, snapshotsDb] as Array<Sub<unknown>>) {
            for await (const key of (sublevel as unknown as Sub<unknown> & { keys(r: typeof range): AsyncIterable<string> }).keys(range)) {
              const k = key as string;
              if (expired || (k !== lt.meta.latestKey && snapshotTime(k) < cutoff)) {
                ops.push({ type: 'del', sublevel, key: k });
                deleted++;
                trimmed = true;
              }
            }
          }
          if (expired) {
            fold.push(lt);
            ops.push({ type: 'del', sublevel: lifetimesDb, key: lifetimeKey(tid, lt.meta.id) });
          } else if (trimmed && (lt.chain.deltas > 0 || lt.chain.legacy)) {
            const value = encodeKeyframe(lt.latest);
            ops.push({ type: 'put', sublevel: packedDb, key: lt.meta.latestKey, value });
            if (lt.chain.legacy) ops.push({ type: 'del', sublevel: snapshotsDb, key: lt.meta.latestKey });
            rechained.push([lt, { deltas: 0, bytes: 0, keyframeBytes: value.length }]);
          }
        }
        let archive: CounterSet | undefined;
        if (fold.length > 0) {
          // Fold the expired lifetimes' totals into the archive in the same batch that deletes them.
          archive = CounterSet.fromJSON(archives.get(tid)?.toJSON() ?? {});
          for (const lt of fold) archive.addSnapshot(lt.latest);
          ops.push({ type: 'put', sublevel: archivesDb, key: enc(tid), value: archive.toJSON() });
        }
        if (ops.length === 0) return;
        await guarded(() => db.batch(ops as never));
        result.deletedSnapshots += deleted;
        for (const [lt, chain] of rechained) lt.chain = chain;
        if (archive) {
          archives.set(tid, archive);
          for (const lt of fold) byId.delete(lt.meta.id);
          result.foldedLifetimes += fold.length;
          bump(tid);
        }
      });
    }
    if (result.deletedSnapshots > 0) await compact();
    return result;
  }

  /**
   * LevelDB only drops deleted entries when it compacts the files holding
   * them; without this, retention would free nothing on disk until enough new
   * writes trigger compactions of those key ranges.
   */
  async function compact(): Promise<void> {
    // classic-level (Node) has compactRange; browser-level and memory-level do not.
    const compactRange = (db as unknown as { compactRange?: (start: string, end: string) => Promise<void> }).compactRange?.bind(db);
    if (!compactRange) return;
    for (const sublevel of [packedDb, snapshotsDb, lifetimesDb] as unknown as Array<{ prefix: string }>) {
      const prefix = sublevel.prefix;
      await compactRange(prefix, `${prefix}${HIGH}`).catch((err: unknown) => {
        // A failed compaction loses nothing (the deletes are committed); the space comes back later.
        options.onCompactionError?.(errorChain(err));
      });
    }
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
      if (ops.length > 0) await guarded(() => db.batch(ops as never));
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
      put: (key, value) => guarded(() => s.put(key, value as never)),
      del: (key) => guarded(() => s.del(key)),
      async *entries(opts = {}) {
        const range: { gte?: string; lt?: string } = {};
        if (opts.gte !== undefined) range.gte = opts.gte;
        if (opts.lt !== undefined) range.lt = opts.lt;
        for await (const [k, v] of s.iterator(range)) yield [k as string, v as V];
      },
      batch: (ops) => guarded(() => s.batch(ops as never)),
    };
  }

  return {
    open,
    close,
    append,
    structure: (hash) => structures.get(hash),
    envelopeFiles: (targetId, id) => envelopes.get(envelopeKey(targetId, id)),
    health: () => (failure ? { writable: false, cause: failure.cause, since: failure.since } : { writable: true }),
    recover,
    targets: () => [...targets.values()].map(publicTarget),
    target: (id) => {
      const t = targets.get(id);
      return t ? publicTarget(t) : undefined;
    },
    knownStructureId(targetId) {
      const id = targets.get(targetId)?.structureId;
      return id !== undefined && envelopes.has(envelopeKey(targetId, id)) ? id : undefined;
    },
    lifetimes: (targetId) => [...(lifetimes.get(targetId)?.values() ?? [])].map((lt) => lt.meta),
    clearWindow,
    counterSet(select) {
      const set = new CounterSet();
      for (const id of selectIds(select)) targetTotal(id, set);
      return set;
    },
    counterSetsByBuild(select) {
      // Each group's set is summed on first read: a caller that only counts builds (carrying
      // for /metrics stops at one build) does not copy every counter of the selection.
      type Group = { commit?: string; firstSeen: number; lastSeen: number; parts: Array<CounterSet | Snapshot> };
      const groups = new Map<string, Group>();
      const group = (commit: string | undefined) => {
        const k = commit ?? '';
        let g = groups.get(k);
        if (!g) groups.set(k, (g = { ...(commit !== undefined ? { commit } : {}), firstSeen: Infinity, lastSeen: 0, parts: [] }));
        return g;
      };
      for (const tid of selectIds(select)) {
        const target = targets.get(tid);
        const archive = target?.windowStart === undefined ? archives.get(tid) : undefined;
        // Copied now: retention folds lifetimes into an archive in place (snapshots are never changed, only replaced).
        if (archive) group(undefined).parts.push(new CounterSet().addSet(archive));
        for (const lt of lifetimes.get(tid)?.values() ?? []) {
          if (beforeWindow(target, lt)) continue;
          const commit = lt.meta.build?.commit;
          const g = group(commit === '' ? undefined : commit);
          g.parts.push(lt.latest);
          g.firstSeen = Math.min(g.firstSeen, lt.meta.firstSeen);
          g.lastSeen = Math.max(g.lastSeen, lt.meta.lastSeen);
        }
      }
      // An archive alone (folded lifetimes) has no known first scrape: the oldest.
      return [...groups.values()].map(({ parts, ...g }) => {
        let set: CounterSet | undefined;
        return {
          ...g,
          firstSeen: g.firstSeen === Infinity ? 0 : g.firstSeen,
          get set(): CounterSet {
            if (!set) {
              set = new CounterSet();
              for (const p of parts) {
                if (p instanceof CounterSet) set.addSet(p);
                else set.addSnapshot(p);
              }
            }
            return set;
          },
        };
      });
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
    targetTotal,
    targetWindow(tid) {
      const target = targets.get(tid);
      const archive = target?.windowStart === undefined ? archives.get(tid) : undefined;
      const out = new Map<string, Snapshot>();
      for (const lt of lifetimes.get(tid)?.values() ?? []) if (!beforeWindow(target, lt)) out.set(lt.meta.id, lt.latest);
      return { version: targetVersions.get(tid) ?? 0, lifetimes: out, ...(archive ? { archive: new CounterSet().addSet(archive) } : {}) };
    },
    currentSnapshot(tid) {
      const target = targets.get(tid);
      const lt = target?.current !== undefined ? lifetimes.get(tid)?.get(target.current) : undefined;
      return lt && !beforeWindow(target, lt) ? lt.latest : undefined;
    },
    onChange(listener) {
      changeListeners.push(listener);
      return () => {
        const i = changeListeners.indexOf(listener);
        if (i >= 0) changeListeners.splice(i, 1);
      };
    },
    retention,
    sublevel,
  };
}
