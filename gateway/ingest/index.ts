/**
 * Stage between decoding and the store, and the store's only writer of
 * coverage: `createIngester` takes a decoded payload (full data or a
 * counters-only reply) plus its origin, builds the store's AppendInput and
 * appends it. Scrapes and push ingest both hand over here.
 */
import { createHash } from 'node:crypto';
import { errors } from '../errors.ts';
import { splitCoverageMap, type FileCounters, type FileStructure, type Snapshot } from '../model/index.ts';
import type { Decoded, PreviousCounters } from '../formats/types.ts';
import { validateHits } from '../formats/validate.ts';
import type { Clock } from '../clock/index.ts';
import type { AppendInput, AppendResult, StoreReader, StoreWriter, StoredTarget, TargetSource } from '../store/index.ts';

export { PUSH_TARGET_PREFIX } from '../store/index.ts';

/** Whether a stored target exists only through push ingest (no scrape target behind it). */
export const isPushTarget = (t: Pick<StoredTarget, 'source'>): boolean => t.source === 'push';

/** What a decoded payload is appended to: the target it belongs to (its origin travels beside it). */
export type IngestTarget = Omit<AppendInput['target'], 'source'>;

/** A decoded payload and where it came from. */
export interface IngestRequest {
  decoded: Decoded;
  source: TargetSource;
  target: IngestTarget;
}

/**
 * The ingest seam. Contract: `ingest` resolves once the payload is durable in
 * the store; it rejects with COVGATE_BAD_COVERAGE for data that does not fit
 * and COVGATE_STRUCTURE_UNKNOWN (retryable) for a counters-only reply naming a
 * structure the store does not hold (a scraper then asks again for the full
 * data); nothing is written when it rejects.
 */
export interface Ingester {
  ingest(req: IngestRequest): Promise<AppendResult>;
  /**
   * The structure id a scrape of this target may offer as known: the id its
   * last reply carried (`current`), else the one the store kept across a
   * restart; only while the store still holds its files.
   */
  knownStructure(targetId: string, current?: string): string | undefined;
  /**
   * For decodePayload's `previousCounters`: the counters the store holds for
   * the target's files (its current lifetime's newest snapshot), so a repeat
   * scrape's unchanged counters come back as the stored arrays themselves.
   */
  previousCounters(targetId: string): PreviousCounters | undefined;
}

/** What the ingester needs of the store: its write side plus the two lookups that resolve counters-only replies. */
export type IngestStore = Pick<StoreWriter, 'append'> & Pick<StoreReader, 'envelopeFiles' | 'structure' | 'knownStructureId' | 'currentSnapshot'>;

export interface IngesterDeps {
  store: IngestStore;
  clock: Clock;
}

/** Instance of a lifetime accumulating pushes without an instance. */
export const FOLDED_INSTANCE_PREFIX = 'push-runs:';

/** The lifetime that pushes without an instance fold into: one per set of file structures (one per build). */
export function foldedInstance(snapshot: Record<string, { structure: string }>): string {
  const h = createHash('sha256');
  for (const path of Object.keys(snapshot).sort()) h.update(`${path}\0${snapshot[path]!.structure}\0`);
  return `${FOLDED_INSTANCE_PREFIX}${h.digest('base64url').slice(0, 22)}`;
}

export function createIngester(deps: IngesterDeps): Ingester {
  return {
    async ingest({ decoded, source, target }) {
      const input: AppendInput = { ...toAppendInput(decoded, target, deps.store), target: { ...target, source } };
      if (source === 'push' && input.instance === undefined) {
        // Each push without an instance is a whole process run: runs of the same
        // build add up in one accumulated lifetime (counters: delta), instead of
        // one lifetime per push held in memory until retention.
        input.instance = foldedInstance(input.snapshot);
        input.counters = 'delta';
      }
      return deps.store.append(input, deps.clock.now());
    },
    knownStructure(targetId, current) {
      const id = current ?? deps.store.knownStructureId(targetId);
      return id !== undefined && deps.store.envelopeFiles(targetId, id) !== undefined ? id : undefined;
    },
    previousCounters(targetId) {
      return previousCounters(deps.store.currentSnapshot(targetId));
    },
  };
}

/** A lookup of a snapshot's counters by path (decodePayload's `previousCounters`). */
export function previousCounters(snapshot: Snapshot | undefined): PreviousCounters | undefined {
  if (!snapshot) return undefined;
  const lookup = (path: string) => (Object.hasOwn(snapshot, path) ? snapshot[path]!.counters : undefined);
  return Object.assign(lookup, { paths: Object.keys(snapshot) });
}

const structureUnknown = (id: string) => errors.structureUnknown(`counters-only reply for structure ${JSON.stringify(id)} which the gateway does not hold`);

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
 * Builds what the store appends (the ingester adds the target's source).
 * Throws COVGATE_BAD_COVERAGE for data that does not validate and
 * COVGATE_STRUCTURE_UNKNOWN for a counters-only reply the store cannot
 * resolve. Pure apart from the two store lookups.
 */
export function toAppendInput(
  decoded: Decoded,
  target: IngestTarget,
  store: Pick<StoreReader, 'envelopeFiles' | 'structure'> & Partial<Pick<StoreReader, 'currentSnapshot'>>,
): Omit<AppendInput, 'target'> & { target: IngestTarget } {
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
    // Counters a decoder returned as the stored ones themselves (previousCounters) keep the stored
    // entry: it was checked when stored, and the store sees at once that the file did not change.
    const current = store.currentSnapshot?.(target.id);
    const paths = Object.keys(decoded.hits);
    for (let i = 0; i < paths.length; i++) {
      const path = paths[i]!;
      const hits = decoded.hits[path]!;
      const hash = files[path];
      const held = current && Object.hasOwn(current, path) ? current[path] : undefined;
      if (held && held.counters === hits && held.structure === hash) {
        snapshot[path] = held;
        continue;
      }
      const structure = hash ? store.structure(hash) : undefined;
      if (!hash || !structure) throw structureUnknown(id);
      checkHits(path, hits, structure);
      snapshot[path] = { structure: hash, counters: { s: hits.s, f: hits.f, b: hits.b } };
    }
    return { ...base, structures: new Map(), snapshot };
  }
  const { structures, snapshot } = decoded.split ?? splitCoverageMap(decoded.coverage ?? {});
  const input: Omit<AppendInput, 'target'> & { target: IngestTarget } = { ...base, structures, snapshot };
  if (decoded.structureId) {
    input.envelope = { id: decoded.structureId, files: Object.fromEntries(Object.entries(snapshot).map(([p, f]) => [p, f.structure])) };
  }
  return input;
}
