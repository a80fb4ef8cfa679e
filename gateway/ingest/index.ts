/**
 * Stage between decoding and the store: turns a decoded payload (full data or
 * a counters-only reply) into an AppendInput. Shared by scrapes and push ingest.
 */
import { errors, CovgateError } from '../errors.ts';
import { splitCoverageMap, type FileCounters, type FileStructure, type Snapshot } from '../model/index.ts';
import type { Decoded } from '../formats/types.ts';
import { validateHits } from '../formats/validate.ts';

/** Prefix of the ids of targets that exist only through push ingest. */
export const PUSH_TARGET_PREFIX = 'push:';

/** Whether a stored target exists only through push ingest (no scrape target behind it). */
export const isPushTarget = (t: { id: string }): boolean => t.id.startsWith(PUSH_TARGET_PREFIX);
import type { AppendInput, CoverageStore } from '../store/index.ts';

/** Code of the error raised when a counters-only reply names a structure the store does not hold. */
export const STRUCTURE_UNKNOWN = 'COVGATE_STRUCTURE_UNKNOWN';

export function structureUnknown(id: string): CovgateError {
  return new CovgateError(STRUCTURE_UNKNOWN, 'bad_data', 409, `counters-only reply for structure ${JSON.stringify(id)} which the gateway does not hold`, {
    retryable: true,
  });
}

/** Counter shape of each structure, computed once: counters-only replies are checked against it on every scrape. */
const shapes = new WeakMap<FileStructure, { nS: number; nF: number; arms: number[] }>();

function shapeOf(structure: FileStructure): { nS: number; nF: number; arms: number[] } {
  let shape = shapes.get(structure);
  if (!shape) {
    shape = { nS: Object.keys(structure.statementMap).length, nF: Object.keys(structure.fnMap).length, arms: Object.values(structure.branchMap).map((m) => m.locations.length) };
    shapes.set(structure, shape);
  }
  return shape;
}

function checkHits(path: string, hits: FileCounters, structure: FileStructure): void {
  const { nS, nF, arms } = shapeOf(structure);
  if (hits.s.length !== nS || hits.f.length !== nF || hits.b.length !== arms.length) {
    throw errors.badCoverage(
      `counters-only reply for ${JSON.stringify(path)} does not fit its structure (s ${hits.s.length}/${nS}, f ${hits.f.length}/${nF}, b ${hits.b.length}/${arms.length})`,
    );
  }
  for (let i = 0; i < hits.b.length; i++) {
    const h = hits.b[i]!;
    if (h.length !== arms[i]) throw errors.badCoverage(`counters-only reply for ${JSON.stringify(path)}: b[${i}] has ${h.length} counters, its branch has ${arms[i]} locations`);
  }
}

/**
 * Builds what the store appends. Throws COVGATE_BAD_COVERAGE for data that
 * does not validate and STRUCTURE_UNKNOWN for a counters-only reply the store
 * cannot resolve (the scraper then asks again for the full data).
 */
export function toAppendInput(decoded: Decoded, target: AppendInput['target'], store: Pick<CoverageStore, 'envelopeFiles' | 'structure'>): AppendInput {
  const base = {
    target,
    instance: decoded.instance,
    startTime: decoded.startTime,
    build: decoded.build,
    counters: decoded.counters,
  };
  if (decoded.resolveHits) {
    const id = decoded.structureId;
    const files = id ? store.envelopeFiles(target.id, id) : undefined;
    if (!id || !files) throw structureUnknown(id ?? '(none)');
    const structures: Record<string, FileStructure> = {};
    for (const [path, hash] of Object.entries(files)) {
      const structure = store.structure(hash);
      if (!structure) throw structureUnknown(id);
      structures[path] = structure;
    }
    decoded = { ...decoded, hits: validateHits(decoded.resolveHits(id, structures)), resolveHits: undefined };
  }
  if (decoded.hits) {
    const id = decoded.structureId;
    const files = id ? store.envelopeFiles(target.id, id) : undefined;
    if (!id || !files) throw structureUnknown(id ?? '(none)');
    const snapshot: Snapshot = {};
    for (const [path, hits] of Object.entries(decoded.hits)) {
      const hash = files[path];
      const structure = hash ? store.structure(hash) : undefined;
      if (!hash || !structure) throw structureUnknown(id);
      checkHits(path, hits, structure);
      snapshot[path] = { structure: hash, counters: { s: hits.s, f: hits.f, b: hits.b } };
    }
    return { ...base, structures: new Map(), snapshot };
  }
  const { structures, snapshot } = decoded.split ?? splitCoverageMap(decoded.coverage ?? {});
  const input: AppendInput = { ...base, structures, snapshot };
  if (decoded.structureId) {
    input.envelope = { id: decoded.structureId, files: Object.fromEntries(Object.entries(snapshot).map(([p, f]) => [p, f.structure])) };
  }
  return input;
}
