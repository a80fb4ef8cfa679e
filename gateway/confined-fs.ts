/**
 * Reading files named by the outside world (coverage paths, V8 script URLs)
 * without letting them reach the gateway's own files: only regular files
 * under configured roots, realpath'd so symlinks and ".." cannot leave a
 * root, NUL refused, size bounded. Used by reports (sources shown) and by
 * scrapes (V8 sources of file: URLs).
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';

/** A file bigger than this is never read through here. */
export const CONFINED_READ_LIMIT = 8 << 20;

function realRoots(roots: string[]): string[] {
  return roots.flatMap((r) => {
    try {
      return [realpathSync(r)];
    } catch {
      return [];
    }
  });
}

/** Whether `file` (realpath'd) lies under one of `roots` (realpath'd). */
function underRoot(file: string, roots: string[]): boolean {
  return roots.some((r) => file === r || file.startsWith(r.endsWith(sep) ? r : r + sep));
}

/**
 * The real path of the regular file `path` names under one of `roots`
 * (absolute paths must lie under a root; relative ones are looked up in each
 * root), or undefined.
 */
export function confinedPath(path: string, roots: string[]): string | undefined {
  if (!roots.length || path.includes('\0')) return undefined;
  const real = realRoots(roots);
  const candidates = isAbsolute(path) ? [path] : real.map((r) => join(r, path));
  for (const c of candidates) {
    try {
      const resolved = realpathSync(c); // follows symlinks: the target must still be under a root
      if (!underRoot(resolved, real)) continue;
      const st = statSync(resolved);
      if (!st.isFile() || st.size > CONFINED_READ_LIMIT) continue;
      return resolved;
    } catch {
      /* not there: try the next root */
    }
  }
  return undefined;
}

export function readConfinedSync(path: string, roots: string[]): string | undefined {
  const file = confinedPath(path, roots);
  return file === undefined ? undefined : readFileSync(file, 'utf8');
}

export async function readConfined(path: string, roots: string[]): Promise<string | undefined> {
  const file = confinedPath(path, roots);
  return file === undefined ? undefined : readFile(file, 'utf8');
}
