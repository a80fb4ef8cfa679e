import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { SAMPLE_APP } from './exporter-process.ts';

/** What istanbul-lib-coverage computes from raw maps, without the instrumenter's bookkeeping fields. */
export function istanbulMerge(...maps: CoverageMapData[]): CoverageMapData {
  const cm = libCoverage.createCoverageMap({});
  for (const m of maps) cm.merge(structuredClone(m));
  const out = JSON.parse(JSON.stringify(cm.toJSON())) as CoverageMapData;
  for (const fc of Object.values(out)) {
    delete (fc as unknown as Record<string, unknown>).hash;
    delete (fc as unknown as Record<string, unknown>)._coverageSchema;
  }
  return out;
}

/** Line → hits of one file (Istanbul line coverage). */
export function lineHitsOf(map: CoverageMapData, path = SAMPLE_APP): Record<string, number> {
  if (!map[path]) return {};
  return libCoverage.createFileCoverage(map[path]).getLineCoverage() as unknown as Record<string, number>;
}

/** Sorted lines of a file with hits > 0. */
export function coveredLines(map: CoverageMapData, path = SAMPLE_APP): number[] {
  return Object.entries(lineHitsOf(map, path))
    .filter(([, n]) => n > 0)
    .map(([l]) => Number(l))
    .sort((a, b) => a - b);
}
