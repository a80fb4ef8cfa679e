import { expect } from 'chai';
import { CovgateError, ERROR_CODES, errors, type ErrorCode, type ErrorType } from '../gateway/errors.ts';

/**
 * The one table of the catalogue (as undici's errors test): every stable code
 * with what the API answers and whether retrying can help. A code added to
 * the catalogue without a row here fails the first test.
 */
const TABLE: Record<ErrorCode, { errorType: ErrorType; status: number; retryable: boolean; factory: keyof typeof errors }> = {
  COVGATE_BAD_DATA: { errorType: 'bad_data', status: 400, retryable: false, factory: 'badData' },
  COVGATE_BAD_CONFIG: { errorType: 'bad_data', status: 400, retryable: false, factory: 'badConfig' },
  COVGATE_BAD_COVERAGE: { errorType: 'bad_data', status: 400, retryable: false, factory: 'badCoverage' },
  COVGATE_BODY_TOO_LARGE: { errorType: 'bad_data', status: 413, retryable: false, factory: 'tooLarge' },
  COVGATE_NOT_FOUND: { errorType: 'not_found', status: 404, retryable: false, factory: 'notFound' },
  COVGATE_METHOD_NOT_ALLOWED: { errorType: 'bad_data', status: 405, retryable: false, factory: 'methodNotAllowed' },
  COVGATE_STRUCTURE_UNKNOWN: { errorType: 'bad_data', status: 409, retryable: true, factory: 'structureUnknown' },
  COVGATE_UNSUPPORTED_MEDIA_TYPE: { errorType: 'bad_data', status: 415, retryable: false, factory: 'unsupportedMediaType' },
  COVGATE_FORBIDDEN: { errorType: 'forbidden', status: 403, retryable: false, factory: 'forbidden' },
  COVGATE_UNAUTHORIZED: { errorType: 'unauthorized', status: 401, retryable: false, factory: 'unauthorized' },
  COVGATE_UNAVAILABLE: { errorType: 'unavailable', status: 503, retryable: true, factory: 'unavailable' },
  COVGATE_SCRAPE_FAILED: { errorType: 'unavailable', status: 502, retryable: true, factory: 'scrapeFailed' },
  COVGATE_SCRAPE_TIMEOUT: { errorType: 'unavailable', status: 504, retryable: true, factory: 'scrapeTimeout' },
  COVGATE_PUSH_UNAVAILABLE: { errorType: 'unavailable', status: 502, retryable: true, factory: 'pushUnavailable' },
  COVGATE_PUSH_TIMEOUT: { errorType: 'unavailable', status: 504, retryable: true, factory: 'pushTimeout' },
  COVGATE_PUSH_REJECTED: { errorType: 'bad_data', status: 502, retryable: false, factory: 'pushRejected' },
  COVGATE_PUSH_ABORTED: { errorType: 'unavailable', status: 503, retryable: true, factory: 'pushAborted' },
  COVGATE_INTERNAL: { errorType: 'internal', status: 500, retryable: false, factory: 'internal' },
};

describe('gateway/errors (the catalogue)', () => {
  it('lists exactly the codes of the table, and each factory makes its own code', () => {
    expect(Object.keys(ERROR_CODES).sort()).to.deep.equal(Object.keys(TABLE).sort());
    const made = Object.values(TABLE).map((row) => row.factory).sort();
    expect(Object.keys(errors).sort()).to.deep.equal(made);
  });

  for (const [code, row] of Object.entries(TABLE) as Array<[ErrorCode, (typeof TABLE)[ErrorCode]]>) {
    it(`${code}: ${row.errorType}, HTTP ${row.status}, ${row.retryable ? 'retryable' : 'permanent'}`, () => {
      const cause = new Error('underneath');
      const err = errors[row.factory]('what went wrong', { cause, details: { key: 'v' } });
      expect(err).to.be.instanceOf(CovgateError);
      expect(err.name).to.equal('CovgateError');
      expect(err.code).to.equal(code);
      expect(err.errorType).to.equal(row.errorType);
      expect(err.status).to.equal(row.status);
      expect(err.retryable).to.equal(row.retryable);
      expect(err.message).to.equal('what went wrong');
      expect(err.cause).to.equal(cause);
      expect(err.details).to.deep.equal({ key: 'v' });
      expect(ERROR_CODES[code]).to.deep.equal({ errorType: row.errorType, status: row.status, retryable: row.retryable });
    });
  }
});
