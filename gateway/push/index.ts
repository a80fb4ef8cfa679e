/** Stage: the durable outbox that delivers finished sessions' coverage to the configured upstreams. */
export { createPushOutbox, UPSTREAM_GONE } from './outbox.ts';
export { pushRoutes, sonarqubeRoutes } from './routes.ts';
export { centerOf, encodeSlug, signBody, SIGNATURE_HEADER, sonarReport, sonarReportPath } from './centers/index.ts';
export { pushRecordId } from './record-id.ts';
export { backoffDelay, parseRetryAfter } from './backoff.ts';
export { pushErrors } from './errors.ts';
export type * from './types.ts';
