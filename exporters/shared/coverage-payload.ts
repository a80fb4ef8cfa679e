import { createHash } from 'node:crypto';
import type { CoverageMapData, FileCoverageData } from 'istanbul-lib-coverage';

/** Counters of one file, arrays indexed by Istanbul ids (structure-once `hits`). */
export interface FileHits {
  s: number[];
  f: number[];
  b: number[][];
}

const fileStructureCache = new WeakMap<object, string>();

/**
 * Content hash of one file's structure (path + statementMap/fnMap/branchMap).
 * Cached on the identity of the `statementMap` object: Istanbul's
 * `__coverage__` and the V8 converter's cached output never mutate their maps,
 * so an unchanged file costs one WeakMap lookup per scrape.
 */
export function fileStructureHash(file: FileCoverageData): string {
  const key = file.statementMap as object;
  let hash = fileStructureCache.get(key);
  if (hash === undefined) {
    const h = createHash('sha256');
    h.update(file.path);
    h.update('\0');
    h.update(JSON.stringify(file.statementMap));
    h.update('\0');
    h.update(JSON.stringify(file.fnMap));
    h.update('\0');
    h.update(JSON.stringify(file.branchMap));
    hash = h.digest('base64url').slice(0, 32);
    fileStructureCache.set(key, hash);
  }
  return hash;
}

/**
 * Hash of the structure of a whole coverage map: changes whenever a file is
 * added or removed or any file's maps change, and only then.
 */
export function mapStructureHash(map: CoverageMapData): string {
  const h = createHash('sha256');
  for (const path of Object.keys(map).sort()) {
    h.update(path);
    h.update('\0');
    h.update(fileStructureHash(map[path]!));
    h.update('\n');
  }
  return h.digest('base64url').slice(0, 32);
}

/** Counters only, indexed by Istanbul ids (object keys "0", "1", … become array positions). */
export function hitsOf(map: CoverageMapData): Record<string, FileHits> {
  const hits: Record<string, FileHits> = {};
  for (const path of Object.keys(map)) {
    const file = map[path]!;
    hits[path] = {
      s: indexed(file.s as Record<string, number>, 0),
      f: indexed(file.f as Record<string, number>, 0),
      b: indexed(file.b as Record<string, number[]>, []),
    };
  }
  return hits;
}

function indexed<T>(counters: Record<string, T>, missing: T): T[] {
  const out: T[] = [];
  for (const key of Object.keys(counters)) {
    const i = Number(key);
    if (Number.isInteger(i) && i >= 0) out[i] = counters[key]!;
  }
  for (let i = 0; i < out.length; i++) if (out[i] === undefined) out[i] = missing;
  return out;
}

/** Short content hash used for ETags. */
export function contentHash(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(p);
    h.update('\0');
  }
  return h.digest('base64url').slice(0, 27);
}

/**
 * Zeroes an Istanbul coverage map's counters in place (s, f, b and the
 * optional logical-branch `bT`), keeping its structure. Used for
 * `POST /coverage/reset` on `__coverage__`, which instrumented code keeps
 * incrementing through the same objects.
 */
export function zeroCounters(map: CoverageMapData): void {
  for (const file of Object.values(map)) {
    for (const k of Object.keys(file.s)) file.s[k] = 0;
    for (const k of Object.keys(file.f)) file.f[k] = 0;
    for (const arr of Object.values(file.b)) arr.fill(0);
    const bT = (file as { bT?: Record<string, number[]> }).bT;
    if (bT) for (const arr of Object.values(bT)) arr.fill(0);
  }
}
