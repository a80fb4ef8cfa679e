import { createHash } from 'node:crypto';
import type { FileStructure } from './types.ts';

/**
 * Content hash of a file structure. Two builds that produce the same maps for
 * the same path share a hash, so their counters add by index (the fast path of
 * the merge). The hash covers the path and the three maps; `inputSourceMap`
 * is not part of the identity (it does not change what the ids mean).
 */
export function structureHash(structure: FileStructure): string {
  const h = createHash('sha256');
  h.update(structure.path);
  h.update('\0');
  h.update(JSON.stringify(structure.statementMap));
  h.update('\0');
  h.update(JSON.stringify(structure.fnMap));
  h.update('\0');
  h.update(JSON.stringify(structure.branchMap));
  return h.digest('base64url').slice(0, 32);
}
