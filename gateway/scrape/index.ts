/** Stage: scrape pools and loops; appends what it scrapes to the store. */
export { createScrapeManager } from './manager.ts';
export type { ScrapeManager, ScrapeManagerOptions } from './manager.ts';
export { ScrapeTarget } from './target.ts';
export { REGISTRY_SOURCE_PREFIX } from './pool.ts';
export { fetchCoverage } from './fetch.ts';
export type * from './types.ts';
