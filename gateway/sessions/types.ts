import type { Labels } from '../config/types.ts';
import type { CounterSetData, Selector, Snapshot, Summary } from '../model/index.ts';

/** Per target, per lifetime: the newest cumulative snapshot at a point in time. */
export type LifetimeState = Record<string /* targetId */, Record<string /* lifetimeId */, Snapshot>>;

export interface PushStatus {
  id: string;
  status: 'pending' | 'delivered' | 'failed' | 'none' | string;
}

/** A test session as stored (LevelDB sublevel `sessions`). */
export interface SessionRecord {
  id: string;
  labels: Labels;
  /** Target selector: which targets this session scrapes and measures. */
  selector: Selector;
  state: 'running' | 'finished';
  startedAt: number;
  finishedAt?: number;
  /** State of the selected targets at the start (what ran before never counts). */
  baseline: LifetimeState;
  /** State at the finish: the baseline of a following session that had no /test-started. */
  endState?: LifetimeState;
  /** What ran during the session, per target. */
  coverage?: Record<string, CounterSetData>;
  summary?: Summary;
  /** Per service summaries (for covgate_last_session_coverage_ratio). */
  services?: Record<string, Summary>;
  /** Build info of the newest lifetime seen in the session. */
  build?: Record<string, string>;
  /**
   * Only when the session spans builds (a redeploy inside it): what ran,
   * per build (`build.commit`; absent = no commit) and target, so queries
   * can carry the older builds onto the newest. `coverage` stays the sum.
   */
  builds?: Array<{ commit?: string; firstSeen: number; lastSeen: number; coverage: Record<string, CounterSetData> }>;
}

/** What the API shows of a session (no counters). */
export interface SessionView {
  id: string;
  labels: Labels;
  selector: Selector;
  state: SessionRecord['state'];
  startedAt: string;
  finishedAt?: string;
  summary?: Summary;
  services?: Record<string, Summary>;
  targets: number;
  push: PushStatus;
}
