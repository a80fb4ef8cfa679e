/**
 * Key layout inside the LevelDB sublevels. '!' separates parts; every part
 * that comes from outside is URI-encoded so it can never contain '!'.
 * Timestamps are zero-padded so keys sort by time.
 */
export const SEP = '!';
export const HIGH = '\xff';

export const enc = (part: string): string => encodeURIComponent(part);

export const lifetimeKey = (targetId: string, lifetimeId: string): string => `${enc(targetId)}${SEP}${enc(lifetimeId)}`;

export const snapshotPrefix = (targetId: string, lifetimeId: string): string => `${lifetimeKey(targetId, lifetimeId)}${SEP}`;

export const snapshotKey = (targetId: string, lifetimeId: string, ts: number, seq: number): string =>
  `${snapshotPrefix(targetId, lifetimeId)}${String(ts).padStart(15, '0')}-${String(seq).padStart(6, '0')}`;

/** The time part of a snapshot key. */
export function snapshotTime(key: string): number {
  const last = key.slice(key.lastIndexOf(SEP) + 1);
  return Number(last.split('-')[0]);
}
