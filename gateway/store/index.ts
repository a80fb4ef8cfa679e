/** Stage: the LevelDB store of structures, snapshots, lifetimes and archives. */
export { createCoverageStore } from './coverage-store.ts';
export type * from './types.ts';
export { PUSH_TARGET_PREFIX, withSource } from './target-source.ts';
