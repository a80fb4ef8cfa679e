/**
 * The error catalogue. Every error the gateway raises on purpose is a
 * CovgateError with a stable `code`, an `errorType` from the contract
 * (bad_data | not_found | unavailable | internal | forbidden | unauthorized),
 * an HTTP status for the API, and whether retrying can help (`retryable`).
 * Callers branch on `code`/`retryable`, never on the message.
 */
export type ErrorType = 'bad_data' | 'not_found' | 'unavailable' | 'internal' | 'forbidden' | 'unauthorized';

export interface CovgateErrorOptions {
  cause?: unknown;
  retryable?: boolean;
  details?: Record<string, unknown>;
}

export class CovgateError extends Error {
  readonly code: string;
  readonly errorType: ErrorType;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, errorType: ErrorType, status: number, message: string, opts: CovgateErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CovgateError';
    this.code = code;
    this.errorType = errorType;
    this.status = status;
    this.retryable = opts.retryable ?? false;
    this.details = opts.details;
  }
}

const make =
  (code: string, errorType: ErrorType, status: number, retryable = false) =>
  (message: string, opts: CovgateErrorOptions = {}) =>
    new CovgateError(code, errorType, status, message, { retryable, ...opts });

/** Catalogue: one factory per stable code. */
export const errors = {
  /** Input (a body, a query, a file) is malformed; retrying the same input cannot help. */
  badData: make('COVGATE_BAD_DATA', 'bad_data', 400),
  /** A config file is invalid; the message names the key and the line. */
  badConfig: make('COVGATE_BAD_CONFIG', 'bad_data', 400),
  /** A coverage payload could not be decoded in the format it claims. */
  badCoverage: make('COVGATE_BAD_COVERAGE', 'bad_data', 400),
  /** A body exceeded `body_size_limit`. */
  tooLarge: make('COVGATE_BODY_TOO_LARGE', 'bad_data', 413),
  notFound: make('COVGATE_NOT_FOUND', 'not_found', 404),
  /** The route exists but not for this method; the answer carries `Allow`. */
  methodNotAllowed: make('COVGATE_METHOD_NOT_ALLOWED', 'bad_data', 405),
  /** The body's Content-Type is not one this endpoint reads. */
  unsupportedMediaType: make('COVGATE_UNSUPPORTED_MEDIA_TYPE', 'bad_data', 415),
  forbidden: make('COVGATE_FORBIDDEN', 'forbidden', 403),
  unauthorized: make('COVGATE_UNAUTHORIZED', 'unauthorized', 401),
  /** The gateway (or a dependency) is not ready; try again later. */
  unavailable: make('COVGATE_UNAVAILABLE', 'unavailable', 503, true),
  /** A target could not be reached or answered with an error. */
  scrapeFailed: make('COVGATE_SCRAPE_FAILED', 'unavailable', 502, true),
  scrapeTimeout: make('COVGATE_SCRAPE_TIMEOUT', 'unavailable', 504, true),
  internal: make('COVGATE_INTERNAL', 'internal', 500),
};

export function isCovgateError(err: unknown): err is CovgateError {
  return err instanceof CovgateError;
}

/** A short, single-line description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
