import type { StoredTarget, TargetSource } from './types.ts';

/** Prefix of the ids of targets that exist only through push ingest (ids stay as they were; `source` says where a target came from). */
export const PUSH_TARGET_PREFIX = 'push:';

/**
 * A target record as read from disk: records written before targets carried
 * `source` get one inferred from the id (push ingest ids begin with `push:`;
 * registered and discovered targets were not told apart, so both read as 'scrape').
 */
export function withSource<T extends Omit<StoredTarget, 'source'> & { source?: TargetSource }>(record: T): T & { source: TargetSource } {
  if (record.source !== undefined) return record as T & { source: TargetSource };
  return { ...record, source: record.id.startsWith(PUSH_TARGET_PREFIX) ? 'push' : 'scrape' };
}
