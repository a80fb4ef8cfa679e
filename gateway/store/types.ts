import type { CounterSet, FileStructure, Selector, Snapshot } from '../model/index.ts';
import type { Labels } from '../config/types.ts';

/** Where a stored target's coverage came from: scrapes of a discovered target, push ingest, or scrapes of a self-registered one. */
export type TargetSource = 'scrape' | 'push' | 'registration';

/** A target as the store remembers it, after it stopped being discovered too. */
export interface StoredTarget {
  id: string;
  job: string;
  /** Persisted with the target (records of older versions: inferred from the id at load). */
  source: TargetSource;
  labels: Labels;
  url?: string;
  firstSeen: number;
  lastSeen: number;
  /**
   * Epoch ms of the last `POST /api/v1/clear` of the target: its window (what a
   * target-label query sums) holds only lifetimes begun since; earlier ones
   * stay in the store for sessions and history.
   */
  windowStart?: number;
}

/** One process lifetime of a target (an `instance`, or a run between counter resets). */
export interface Lifetime {
  targetId: string;
  id: string;
  /** The exporter's `instance`, when it sends one. */
  instance?: string;
  startTime?: string;
  build?: Record<string, string>;
  firstSeen: number;
  lastSeen: number;
  /** Key of the newest snapshot (authoritative, cumulative). */
  latestKey: string;
  restarts: number;
}

/** What the scrape (or push ingest) hands to the store: validated, split, cumulative or delta. */
export interface AppendInput {
  /** `source` absent (direct callers, tools): inferred from the id as for records of older versions. */
  target: { id: string; job: string; labels: Labels; url?: string; source?: TargetSource };
  instance?: string;
  startTime?: string;
  build?: Record<string, string>;
  counters: 'cumulative' | 'delta';
  /** Structures referenced by `snapshot` that the store may not have yet. */
  structures: Map<string, FileStructure>;
  snapshot: Snapshot;
  /** Envelope-level structure id and its files, for the structure-once exchange. */
  envelope?: { id: string; files: Record<string, string> };
}

export interface AppendResult {
  lifetimeId: string;
  /** A new lifetime started (new instance, or counters went down). */
  newLifetime: boolean;
  /** The new lifetime replaced an earlier one of the same target (a restart). */
  restarted: boolean;
  /** Whether anything changed (an unchanged cumulative snapshot writes no new record). */
  changed: boolean;
  files: number;
}

/** Per lifetime, its newest cumulative snapshot: the unit sessions take baselines of. */
export type LifetimeSnapshots = Map<string /* targetId */, Map<string /* lifetimeId */, Snapshot>>;

export interface RetentionResult {
  deletedSnapshots: number;
  foldedLifetimes: number;
}

/**
 * The write side of the store: what ingest (the only writer of coverage),
 * the clear endpoint and the retention loop use. Contract:
 * - Every write is refused with a 503 while the store is unwritable; nothing is
 *   half-written (one batch per append) and nothing refused is acknowledged.
 * - `append` validates nothing (callers pass model-checked data) and is
 *   atomic: one LevelDB batch holds the new structures, the snapshot, the
 *   lifetime and target records; when it resolves, the snapshot survives kill -9.
 * - Merged totals never shrink: retention folds old lifetimes into a per-target
 *   archive before deleting their raw snapshots.
 */
export interface StoreWriter {
  append(input: AppendInput, now: number): Promise<AppendResult>;
  /**
   * Starts a new window for the targets (after their counters were reset):
   * lifetimes begun before `now` leave their window sum but stay in the store
   * (sessions, lifetimeSnapshots). Resolves with the ids it knew.
   */
  clearWindow(targetIds: Iterable<string>, now: number): Promise<string[]>;
  retention(now: number, retentionMs: number): Promise<RetentionResult>;
  /**
   * Whether writes are accepted. After a failed write (ENOSPC, EIO) every write
   * is refused with COVGATE_UNAVAILABLE (503) until a probe write succeeds.
   */
  health(): StoreHealth;
  /** Tries a probe write (reopening LevelDB if its error is sticky); resolves true when writable again. */
  recover(): Promise<boolean>;
}

/**
 * The read side: merge, sessions, metrics, reports, the API and the status
 * page hold only this (or a narrower Pick). Reads are served from memory
 * (loaded at `open`), never from disk, and never change anything.
 */
export interface StoreReader {
  structure(hash: string): FileStructure | undefined;
  /**
   * Files of an envelope-level structure id the target itself sent, when known.
   * Scoped per target: another client's id never resolves here.
   */
  envelopeFiles(targetId: string, id: string): Record<string, string> | undefined;
  targets(): StoredTarget[];
  target(id: string): StoredTarget | undefined;
  lifetimes(targetId: string): Lifetime[];
  /** Sum of the targets' window (everything scraped since their last clear, else ever) matching `selector` (or the given ids). */
  counterSet(select: Selector | { ids: string[] }): CounterSet;
  /**
   * The same window sums as `counterSet`, split by the build (`build.commit`)
   * of each lifetime; lifetimes without a commit and retention archives go to
   * `commit: undefined`. `firstSeen` is when the build was first scraped (its
   * earliest lifetime), `lastSeen` its newest scrape.
   */
  counterSetsByBuild(select: Selector | { ids: string[] }): Array<{ commit?: string; firstSeen: number; lastSeen: number; set: CounterSet }>;
  /** Newest snapshot of each lifetime of the given targets. */
  lifetimeSnapshots(targetIds: Iterable<string>): LifetimeSnapshots;
  /** Monotonic number that changes whenever any coverage changes (for caches). */
  version(): number;
  /** Version of one target's coverage (for per-target caches). */
  targetVersion(targetId: string): number;
  /**
   * The envelope structure id of the target's last stored snapshot, when the
   * store still holds its files (persisted: it survives a restart of the
   * gateway, so the first scrape after one can already ask for counters only).
   */
  knownStructureId(targetId: string): string | undefined;
  /** The target's window sum (what `counterSet({ ids: [id] })` gives): a new set on each call, the caller's to keep. */
  targetTotal(targetId: string): CounterSet;
  /**
   * What `targetTotal` sums, by reference: the newest snapshot of each
   * lifetime in the target's window (immutable: an append replaces a
   * lifetime's snapshot, never changes it) and a copy of the retention
   * archive when it counts. With the target's version.
   */
  targetWindow(targetId: string): TargetWindow;
  /**
   * The newest snapshot of the target's current lifetime (by reference,
   * immutable), when that lifetime is in the window: what a repeat scrape's
   * counters are compared with (Ingester.previousCounters).
   */
  currentSnapshot(targetId: string): Snapshot | undefined;
  /**
   * Calls `listener` after each append that changed a target's coverage,
   * with the lifetime's snapshot before and after (so a reader can keep sums
   * up to date from what changed). Only appends are announced: any other
   * change (retention, clear, reload) moves `targetVersion` by more than the
   * event's step, and a reader that sees a gap rebuilds from `targetWindow`.
   * Returns the unsubscribe function.
   */
  onChange(listener: (change: TargetChange) => void): () => void;
}

export interface TargetWindow {
  version: number;
  lifetimes: Map<string, Snapshot>;
  archive?: CounterSet;
}

/** One append's effect on a target's window sum. */
export interface TargetChange {
  targetId: string;
  /** targetVersion before and after the append (after = previous + 1). */
  previous: number;
  version: number;
  lifetimeId: string;
  /** The lifetime's snapshot before the append; undefined for a new lifetime. */
  before?: Snapshot;
  after: Snapshot;
}

/**
 * The whole store, held only by the composition root (gateway/main.ts), which
 * hands each stage its side.
 */
export interface CoverageStore extends StoreWriter, StoreReader {
  open(): Promise<void>;
  close(): Promise<void>;
  /** Generic durable sub-stores for other stages (registry, sessions, outbox). */
  sublevel<V>(name: string): KeyValue<V>;
}

export type StoreHealth = { writable: true } | { writable: false; cause: string; since: number };

/** A JSON key-value namespace in the same LevelDB, with atomic batches. */
export interface KeyValue<V> {
  get(key: string): Promise<V | undefined>;
  put(key: string, value: V): Promise<void>;
  del(key: string): Promise<void>;
  entries(opts?: { gte?: string; lt?: string }): AsyncIterable<[string, V]>;
  batch(ops: Array<{ type: 'put'; key: string; value: V } | { type: 'del'; key: string }>): Promise<void>;
}
