import type { Labels } from '../config/types.ts';

export type { Labels };

/**
 * A group of targets that share labels, as one discovery source sees them
 * (Prometheus `targetgroup.Group`).
 *
 * - `source` identifies the group within its provider (`static/0`,
 *   `/etc/targets/a.json:0`, `goc/http://goc:7777`); it is stable across
 *   updates so consumers may diff by it.
 * - every entry of `targets` has `__address__` (host:port) and may carry more
 *   labels (`__scheme__`, `__meta_*`); target labels win over group labels.
 * - `labels` apply to every target of the group.
 */
export interface TargetGroup {
  source: string;
  targets: Labels[];
  labels: Labels;
}

/** Receives a provider's FULL current set of groups. */
export type SendGroups = (groups: TargetGroup[]) => void;

/**
 * A discovery provider.
 *
 * Contract:
 * - `start(send)` begins discovery. Every call to `send` carries the
 *   provider's FULL current set of groups, never a diff: a group missing from
 *   a send is gone. When `start` returns a promise, it resolves after the
 *   first send (or after the first attempt failed), so a caller that awaits it
 *   sees a settled initial state.
 * - A provider keeps its last good set when a source fails (stale beats
 *   partial); it never sends a partial set because one source errored.
 * - `stop()` releases timers, watchers and sockets; it is safe before `start`
 *   and safe twice. No `send` happens after `stop()` resolves.
 */
export interface Discoverer {
  start(send: SendGroups): void | Promise<void>;
  stop(): Promise<void>;
}

/**
 * The logging surface discovery needs; a pino logger satisfies it.
 * Kept structural so discovery does not import the logging stage.
 */
export interface DiscoveryLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** A logger that drops everything: the default when none is injected. */
export const silentLogger: DiscoveryLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** One source's last failure, kept while the provider serves stale data. */
export interface DiscoveryError {
  /** The file path or server URL that failed. */
  source: string;
  error: string;
  /** When the failure was observed. */
  time: Date;
}

/**
 * A minimal HTTP GET, injected so tests and the composition root decide the
 * client. Resolves with any status (the caller judges it); rejects only on
 * transport failure or timeout.
 */
export type HttpGet = (url: string, opts: { timeoutMs: number; signal?: AbortSignal }) => Promise<{ status: number; body: string }>;

/** Label names Prometheus accepts (legacy validation). */
export { LABEL_NAME_RE } from '../model/labels.ts';

/** Deep-enough copy of groups so providers and consumers never share arrays. */
export function cloneGroups(groups: readonly TargetGroup[]): TargetGroup[] {
  return groups.map((g) => ({ source: g.source, labels: { ...g.labels }, targets: g.targets.map((t) => ({ ...t })) }));
}

/**
 * Meta label the registry sets on goc registrations: the registration's
 * generation, bumped whenever the agent registers again (a new process at the
 * same address). The scraper uses it as the instance when the target sends none.
 */
export const REGISTRATION_GENERATION_LABEL = '__meta_registration_generation';
