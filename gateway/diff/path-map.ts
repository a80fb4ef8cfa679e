/**
 * Maps coverage paths (what the exporter reported: absolute file paths, Go
 * import paths, `file:` URLs) to repository-relative paths (what a diff
 * names), through a job's `path_map` and its roots (`repository`, `sources`).
 * Pure and generic: Go import paths (`example.com/m/` → ``) and absolute
 * deployment paths (`/srv/app/` → ``) are the same prefix rule
 * (model/path-map.ts).
 */
import { mapPath } from '../model/index.ts';
export interface PathMapping {
  /** Coverage path prefix → repository path prefix; the longest matching prefix wins. */
  pathMap: Record<string, string>;
  /** Absolute folders that are the repository's root in the coverage paths (repository, sources). */
  roots: string[];
}

function normalize(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return parts.join('/');
}

/**
 * The repository-relative path of a coverage path, or undefined when no rule
 * applies and the path is absolute (then only a unique suffix match can place
 * it, see `createPathIndex`). Applies, in order: `file://` URLs to paths, the
 * longest `path_map` prefix, then the longest root.
 */
export function mapCoveragePath(coveragePath: string, mapping: PathMapping): string | undefined {
  let p = coveragePath;
  if (p.startsWith('file://')) {
    try {
      p = decodeURIComponent(new URL(p).pathname);
    } catch {
      return undefined;
    }
  }
  p = p.replace(/\\/g, '/');
  p = mapPath(p, mapping.pathMap); // the job's path_map, as reports and LCOV apply it
  if (p.startsWith('/')) {
    const roots = [...mapping.roots].map((r) => r.replace(/\/+$/, '')).sort((a, b) => b.length - a.length);
    const root = roots.find((r) => p.startsWith(`${r}/`));
    if (!root) return undefined;
    p = p.slice(root.length + 1);
  }
  return normalize(p);
}

/** Finds the coverage file of a repository path. */
export interface PathIndex {
  /** The coverage path of `repoPath`, or undefined. */
  lookup(repoPath: string): string | undefined;
}

/**
 * Indexes coverage paths by their repository path. A coverage path that no
 * rule maps (absolute, outside every root) is still found by a unique suffix
 * `/<repoPath>` (what diff-cover does), so a job without `path_map` works when
 * file names are unambiguous; an ambiguous suffix matches nothing.
 */
export function createPathIndex(coveragePaths: Iterable<string>, mapping: PathMapping): PathIndex {
  const exact = new Map<string, string>();
  const unmapped: string[] = [];
  for (const cp of coveragePaths) {
    const rp = mapCoveragePath(cp, mapping);
    if (rp !== undefined && !exact.has(rp)) exact.set(rp, cp);
    else if (rp === undefined) unmapped.push(cp);
  }
  return {
    lookup(repoPath) {
      const rp = normalize(repoPath);
      const hit = exact.get(rp);
      if (hit !== undefined) return hit;
      const suffix = `/${rp}`;
      const found = unmapped.filter((cp) => cp.endsWith(suffix));
      return found.length === 1 ? found[0] : undefined;
    },
  };
}
