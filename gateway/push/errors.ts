import { errors } from '../errors.ts';

/**
 * Push failures, classified once where the answer is read: the outbox decides
 * retry or fail from `retryable`, never from the message. The codes and their
 * classes live in the catalogue (gateway/errors.ts); these only shape the arguments.
 */
export const pushErrors = {
  /** 408, 429, 5xx or a network error: the upstream may accept it later. */
  unavailable: (message: string, details: { status?: number; retryAfterMs?: number } = {}, cause?: unknown) => errors.pushUnavailable(message, { details, cause }),
  /** No answer within the upstream's `timeout`. */
  timeout: (message: string, cause?: unknown) => errors.pushTimeout(message, { cause }),
  /** Any other answer (4xx, 3xx): sending the same request again cannot help. */
  rejected: (message: string, details: { status: number }) => errors.pushRejected(message, { details }),
  /** The outbox is stopping: the attempt does not count. */
  aborted: (cause?: unknown) => errors.pushAborted('push aborted: the gateway is stopping', { cause }),
};
