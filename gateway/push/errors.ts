import { CovgateError } from '../errors.ts';

/**
 * Push failures, classified once where the answer is read: the outbox decides
 * retry or fail from `retryable`, never from the message. (Candidates for the
 * catalogue in gateway/errors.ts.)
 */
export const pushErrors = {
  /** 408, 429, 5xx or a network error: the upstream may accept it later. */
  unavailable: (message: string, details: { status?: number; retryAfterMs?: number } = {}, cause?: unknown) =>
    new CovgateError('COVGATE_PUSH_UNAVAILABLE', 'unavailable', 502, message, { retryable: true, details, cause }),
  /** No answer within the upstream's `timeout`. */
  timeout: (message: string, cause?: unknown) => new CovgateError('COVGATE_PUSH_TIMEOUT', 'unavailable', 504, message, { retryable: true, cause }),
  /** Any other answer (4xx, 3xx): sending the same request again cannot help. */
  rejected: (message: string, details: { status: number }) =>
    new CovgateError('COVGATE_PUSH_REJECTED', 'bad_data', 502, message, { retryable: false, details }),
  /** The outbox is stopping: the attempt does not count. */
  aborted: (cause?: unknown) => new CovgateError('COVGATE_PUSH_ABORTED', 'unavailable', 503, 'push aborted: the gateway is stopping', { retryable: true, cause }),
};
