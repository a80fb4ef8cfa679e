import { createHash } from 'node:crypto';

/**
 * The id of the push of `sessionId` to `upstream`: a pure function of both,
 * so enqueue is idempotent per session and the `Idempotency-Key` an upstream
 * sees is the same on every retry and after every restart. Hex, so it is a
 * safe header value and LevelDB key whatever the session id contains.
 */
export function pushRecordId(sessionId: string, upstream: string): string {
  return createHash('sha256').update(`${sessionId}\u0000${upstream}`).digest('hex').slice(0, 32);
}
