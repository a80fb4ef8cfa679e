import { errors } from '../errors.ts';
import { structureHash } from './hash.ts';
import type {
  CoverageMapData,
  FileCounters,
  FileCoverageData,
  FileStructure,
  Snapshot,
  StructureLookup,
} from './types.ts';

/** The result of splitting an Istanbul map: structures by hash plus a counters-only snapshot. */
export interface SplitCoverage {
  structures: Map<string, FileStructure>;
  snapshot: Snapshot;
}

/** Ids in Istanbul maps are usually "0".."n-1"; order numeric ids numerically, others as given. */
function orderedKeys(obj: Record<string, unknown>): string[] {
  const keys = Object.keys(obj);
  if (keys.every((k) => /^\d+$/.test(k))) return keys.sort((a, b) => Number(a) - Number(b));
  return keys;
}

function count(value: unknown, where: string): number {
  if (value === undefined || value === null) return 0;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n) || n < 0) throw errors.badCoverage(`${where}: hit count must be a non-negative number, got ${JSON.stringify(value)}`);
  return n;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks that `data` looks like an Istanbul FileCoverage (as istanbul-lib-coverage's
 * assertValidObject does) and names what is missing. Throws COVGATE_BAD_COVERAGE.
 */
export function assertFileCoverage(key: string, data: unknown): asserts data is FileCoverageData {
  if (!isObject(data)) throw errors.badCoverage(`file ${JSON.stringify(key)}: expected an object, got ${data === null ? 'null' : typeof data}`);
  for (const prop of ['statementMap', 'fnMap', 'branchMap', 's', 'f', 'b']) {
    if (!isObject(data[prop])) throw errors.badCoverage(`file ${JSON.stringify(key)}: missing or invalid "${prop}"`);
  }
}

/**
 * Splits one Istanbul file coverage into its structure (ids made dense) and
 * its counters. Validates as it goes; never returns a half-read file.
 */
export function splitFile(key: string, data: unknown): { structure: FileStructure; counters: FileCounters } {
  assertFileCoverage(key, data);
  const path = typeof data.path === 'string' && data.path !== '' ? data.path : key;
  const structure: FileStructure = { path, statementMap: {}, fnMap: {}, branchMap: {} };
  const where = `file ${JSON.stringify(path)}`;
  // Exact-size packed arrays (push, then slice): these counters are what the store keeps for the
  // lifetime; push() alone leaves up to half again (a 2-arm branch array kept 17 slots), and
  // `new Array(n)` filled by index stays "holey" in V8, which slows every loop over them.
  const s: number[] = [];
  const f: number[] = [];
  const b: number[][] = [];

  let i = 0;
  for (const id of orderedKeys(data.statementMap)) {
    structure.statementMap[String(i)] = data.statementMap[id]!;
    s.push(count(data.s[id], `${where} statement ${id}`));
    i++;
  }
  i = 0;
  for (const id of orderedKeys(data.fnMap)) {
    structure.fnMap[String(i)] = data.fnMap[id]!;
    f.push(count(data.f[id], `${where} function ${id}`));
    i++;
  }
  i = 0;
  for (const id of orderedKeys(data.branchMap)) {
    const mapping = data.branchMap[id]!;
    if (!isObject(mapping) || !Array.isArray((mapping as { locations?: unknown }).locations)) {
      throw errors.badCoverage(`${where} branch ${id}: missing "locations"`);
    }
    structure.branchMap[String(i)] = mapping;
    const raw = data.b[id];
    const arms = mapping.locations.length;
    const hits: number[] = [];
    const len = Math.max(arms, Array.isArray(raw) ? raw.length : 0);
    for (let k = 0; k < len; k++) hits.push(count(Array.isArray(raw) ? raw[k] : 0, `${where} branch ${id}[${k}]`));
    b.push(hits.slice());
    i++;
  }
  const counters: FileCounters = { s: s.slice(), f: f.slice(), b: b.slice() };
  const ism = (data as { inputSourceMap?: unknown }).inputSourceMap;
  if (ism !== undefined) structure.inputSourceMap = ism;
  return { structure, counters };
}

/** Splits a whole Istanbul coverage map. Throws on the first invalid file, naming it. */
export function splitCoverageMap(map: unknown): SplitCoverage {
  if (!isObject(map)) throw errors.badCoverage(`expected an Istanbul coverage map (an object of path → file coverage), got ${Array.isArray(map) ? 'an array' : typeof map}`);
  const structures = new Map<string, FileStructure>();
  const snapshot: Snapshot = {};
  for (const [key, data] of Object.entries(map)) {
    const { structure, counters } = splitFile(key, data);
    const hash = structureHash(structure);
    structures.set(hash, structure);
    snapshot[structure.path] = { structure: hash, counters };
  }
  return { structures, snapshot };
}

/** Joins a structure and its counters back into an Istanbul FileCoverage object. */
export function joinFile(structure: FileStructure, counters: FileCounters): FileCoverageData {
  const s: Record<string, number> = {};
  const f: Record<string, number> = {};
  const b: Record<string, number[]> = {};
  const nS = Object.keys(structure.statementMap).length;
  const nF = Object.keys(structure.fnMap).length;
  const nB = Object.keys(structure.branchMap).length;
  for (let i = 0; i < nS; i++) s[i] = counters.s[i] ?? 0;
  for (let i = 0; i < nF; i++) f[i] = counters.f[i] ?? 0;
  for (let i = 0; i < nB; i++) {
    const arms = structure.branchMap[i]!.locations.length;
    const hits = counters.b[i] ?? [];
    b[i] = Array.from({ length: Math.max(arms, hits.length) }, (_, k) => hits[k] ?? 0);
  }
  const out: FileCoverageData = {
    path: structure.path,
    statementMap: structure.statementMap,
    fnMap: structure.fnMap,
    branchMap: structure.branchMap,
    s,
    f,
    b,
  };
  if (structure.inputSourceMap !== undefined) (out as unknown as Record<string, unknown>).inputSourceMap = structure.inputSourceMap;
  return out;
}

/** Joins a snapshot back into an Istanbul map; files whose structure is unknown are reported. */
export function joinSnapshot(snapshot: Snapshot, lookup: StructureLookup): { map: CoverageMapData; missing: string[] } {
  const map: CoverageMapData = {};
  const missing: string[] = [];
  for (const [path, file] of Object.entries(snapshot)) {
    const structure = lookup(file.structure);
    if (!structure) {
      missing.push(file.structure);
      continue;
    }
    map[path] = joinFile(structure, file.counters);
  }
  return { map, missing };
}

/** Zero counters shaped for a structure. */
export function emptyCounters(structure: FileStructure): FileCounters {
  return {
    s: new Array(Object.keys(structure.statementMap).length).fill(0),
    f: new Array(Object.keys(structure.fnMap).length).fill(0),
    b: Object.values(structure.branchMap).map((m) => new Array(m.locations.length).fill(0)),
  };
}
