/**
 * The error catalogue. Every error the gateway raises on purpose is a
 * CovgateError with a stable `code` (one of `ErrorCode`), an `errorType` from
 * the contract (bad_data | not_found | unavailable | internal | forbidden |
 * unauthorized), an HTTP status for the API, and whether retrying can help
 * (`retryable`). Type, status and retryability come from ERROR_CODES, the one
 * table; callers branch on `code`/`retryable`, never on the message.
 */
export type ErrorType = 'bad_data' | 'not_found' | 'unavailable' | 'internal' | 'forbidden' | 'unauthorized';

/** Every stable code, with what the API answers and whether retrying can help. */
export const ERROR_CODES = {
  /** Input (a body, a query, a file) is malformed; retrying the same input cannot help. */
  COVGATE_BAD_DATA: { errorType: 'bad_data', status: 400, retryable: false },
  /** A config file is invalid; the message names the key and the line. */
  COVGATE_BAD_CONFIG: { errorType: 'bad_data', status: 400, retryable: false },
  /** A coverage payload could not be decoded in the format it claims. */
  COVGATE_BAD_COVERAGE: { errorType: 'bad_data', status: 400, retryable: false },
  /** A body exceeded `body_size_limit`. */
  COVGATE_BODY_TOO_LARGE: { errorType: 'bad_data', status: 413, retryable: false },
  COVGATE_NOT_FOUND: { errorType: 'not_found', status: 404, retryable: false },
  /** The route exists but not for this method; the answer carries `Allow`. */
  COVGATE_METHOD_NOT_ALLOWED: { errorType: 'bad_data', status: 405, retryable: false },
  /** A counters-only reply names a structure the store does not hold: ask again for the full data. */
  COVGATE_STRUCTURE_UNKNOWN: { errorType: 'bad_data', status: 409, retryable: true },
  /** The body's Content-Type is not one this endpoint reads. */
  COVGATE_UNSUPPORTED_MEDIA_TYPE: { errorType: 'bad_data', status: 415, retryable: false },
  COVGATE_FORBIDDEN: { errorType: 'forbidden', status: 403, retryable: false },
  COVGATE_UNAUTHORIZED: { errorType: 'unauthorized', status: 401, retryable: false },
  /** The gateway (or a dependency) is not ready; try again later. */
  COVGATE_UNAVAILABLE: { errorType: 'unavailable', status: 503, retryable: true },
  /** A target could not be reached or answered with an error. */
  COVGATE_SCRAPE_FAILED: { errorType: 'unavailable', status: 502, retryable: true },
  COVGATE_SCRAPE_TIMEOUT: { errorType: 'unavailable', status: 504, retryable: true },
  /** An upstream answered 408, 429, 5xx or not at all: it may accept the push later. */
  COVGATE_PUSH_UNAVAILABLE: { errorType: 'unavailable', status: 502, retryable: true },
  /** No answer from the upstream within its `timeout`. */
  COVGATE_PUSH_TIMEOUT: { errorType: 'unavailable', status: 504, retryable: true },
  /** Any other upstream answer (4xx, 3xx): sending the same request again cannot help. */
  COVGATE_PUSH_REJECTED: { errorType: 'bad_data', status: 502, retryable: false },
  /** The outbox is stopping: the attempt does not count. */
  COVGATE_PUSH_ABORTED: { errorType: 'unavailable', status: 503, retryable: true },
  COVGATE_INTERNAL: { errorType: 'internal', status: 500, retryable: false },
} as const satisfies Record<string, { errorType: ErrorType; status: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface CovgateErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class CovgateError extends Error {
  readonly code: ErrorCode;
  readonly errorType: ErrorType;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: CovgateErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    const entry = ERROR_CODES[code];
    this.name = 'CovgateError';
    this.code = code;
    this.errorType = entry.errorType;
    this.status = entry.status;
    this.retryable = entry.retryable;
    this.details = opts.details;
  }
}

const make =
  (code: ErrorCode) =>
  (message: string, opts: CovgateErrorOptions = {}) =>
    new CovgateError(code, message, opts);

/** Catalogue: one factory per stable code (see ERROR_CODES for what each means). */
export const errors = {
  badData: make('COVGATE_BAD_DATA'),
  badConfig: make('COVGATE_BAD_CONFIG'),
  badCoverage: make('COVGATE_BAD_COVERAGE'),
  tooLarge: make('COVGATE_BODY_TOO_LARGE'),
  notFound: make('COVGATE_NOT_FOUND'),
  methodNotAllowed: make('COVGATE_METHOD_NOT_ALLOWED'),
  structureUnknown: make('COVGATE_STRUCTURE_UNKNOWN'),
  unsupportedMediaType: make('COVGATE_UNSUPPORTED_MEDIA_TYPE'),
  forbidden: make('COVGATE_FORBIDDEN'),
  unauthorized: make('COVGATE_UNAUTHORIZED'),
  unavailable: make('COVGATE_UNAVAILABLE'),
  scrapeFailed: make('COVGATE_SCRAPE_FAILED'),
  scrapeTimeout: make('COVGATE_SCRAPE_TIMEOUT'),
  pushUnavailable: make('COVGATE_PUSH_UNAVAILABLE'),
  pushTimeout: make('COVGATE_PUSH_TIMEOUT'),
  pushRejected: make('COVGATE_PUSH_REJECTED'),
  pushAborted: make('COVGATE_PUSH_ABORTED'),
  internal: make('COVGATE_INTERNAL'),
};

export function isCovgateError(err: unknown): err is CovgateError {
  return err instanceof CovgateError;
}

/** A short, single-line description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
