/** Stage: scrape pools and loops; fetches and decodes, then hands each payload to the ingester (the store's only writer). */
export { createScrapeManager } from './manager.ts';
export type { ScrapeManager, ScrapeManagerOptions } from './manager.ts';
export { ScrapeTarget } from './target.ts';
export { REGISTRY_SOURCE_PREFIX } from './pool.ts';
export { fetchCoverage } from './fetch.ts';
export type * from './types.ts';
