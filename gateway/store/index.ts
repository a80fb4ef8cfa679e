/** Stage: the LevelDB store of structures, snapshots, lifetimes and archives. */
export { createCoverageStore } from './coverage-store.ts';
export type * from './types.ts';
