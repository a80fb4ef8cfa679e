import type { CoverageMapData } from './types.ts';

/** A `path_map`: coverage path prefix → repository path (docs/contract.md §3). */
export type PathMap = Record<string, string>;

/**
 * Renames a path by the longest matching prefix of `pathMap`
 * (`example.com/shop/calc/a.go` with `{"example.com/shop/": "./"}` →
 * `calc/a.go`); a leading `./` of the result is dropped. Paths no prefix
 * matches are returned unchanged.
 */
export function mapPath(path: string, pathMap: PathMap): string {
  let best: string | undefined;
  for (const prefix of Object.keys(pathMap)) {
    if (path.startsWith(prefix) && (best === undefined || prefix.length > best.length)) best = prefix;
  }
  if (best === undefined) return path;
  const mapped = `${pathMap[best]}${path.slice(best.length)}`.replace(/^(\.\/)+/, '');
  return mapped === '' ? path : mapped;
}

/**
 * The map with every file renamed by `pathMap` (key and `path`). Pure; the
 * input is not changed. Files that would share a name keep their own names,
 * so nothing is merged or lost silently.
 */
export function applyPathMap(map: CoverageMapData, pathMap: PathMap | undefined): CoverageMapData {
  if (!pathMap || Object.keys(pathMap).length === 0) return map;
  const wanted = new Map<string, string>();
  const uses = new Map<string, number>();
  for (const [key, data] of Object.entries(map)) {
    const name = mapPath(typeof data.path === 'string' && data.path !== '' ? data.path : key, pathMap);
    wanted.set(key, name);
    uses.set(name, (uses.get(name) ?? 0) + 1);
  }
  const out: CoverageMapData = {};
  for (const [key, data] of Object.entries(map)) {
    const name = wanted.get(key)!;
    // A name two files would share (or an unmapped key already holds) is not used: both keep their own.
    if (name === key || uses.get(name)! > 1 || (Object.hasOwn(map, name) && name !== key)) out[key] = data;
    else out[name] = { ...data, path: name };
  }
  return out;
}
