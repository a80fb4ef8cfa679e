/** Stage: test sessions (baselines, finish, idempotent push) and selection by session labels. */
export { createSessions } from './sessions.ts';
export type { Sessions, SessionsOptions, PushPort, ScrapeNow, StartRequest, FinishRequest, FinishResult } from './sessions.ts';
export { sessionRoutes } from './routes.ts';
export type * from './types.ts';
