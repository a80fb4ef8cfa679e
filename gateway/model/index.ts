/** Pure coverage model: split, hash, add, subtract, merge, summarise. No I/O. */
export * from './types.ts';
export { structureHash } from './hash.ts';
export { splitCoverageMap, splitFile, joinFile, joinSnapshot, emptyCounters, assertFileCoverage } from './split.ts';
export type { SplitCoverage } from './split.ts';
export { addCounters, addCountersInto, subtractCounters, countersDecreased, continuesLifetime, addSnapshots, cloneCounters, isZero } from './counters.ts';
export { CounterSet } from './counter-set.ts';
export type { CounterSetData } from './counter-set.ts';
export { summarize, summarizeFiles, ratio, isAvailable, expandGoStatements, isGoFile, lineCounts } from './summary.ts';
export { parseSelector, parseSecondSelector, matchesSelector, selectorToString, NON_LABEL_PARAMS, SECOND_SELECTOR_PREFIX } from './selector.ts';
export type { Selector } from './selector.ts';
export { LABEL_NAME_RE, isLabelName } from './labels.ts';
export { combineCoverage, isSetOp, locationKey, SET_OPS } from './set-ops.ts';
export type { SetOp } from './set-ops.ts';
export { applyPathMap, mapPath } from './path-map.ts';
export type { PathMap } from './path-map.ts';
