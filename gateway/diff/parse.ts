import { parsePatch } from 'diff';
import { errors } from '../errors.ts';

/** One file of a unified diff, as covgate needs it: where it lives before and after, and which new lines it adds. */
export interface DiffFile {
  /** Path before the change (repository-relative, `a/` removed); undefined for an added file. */
  oldPath?: string;
  /** Path after the change; undefined for a deleted file. */
  newPath?: string;
  status: 'added' | 'deleted' | 'modified' | 'renamed';
  binary: boolean;
  /** Line numbers (1-based, in the new file) of added lines, ascending. */
  added: number[];
  /** Text of each added line, by line number (for rendering and for skipping blank lines). */
  text: Map<number, string>;
  /** Hunks as `old start/count → new start/count` (for carrying line counts through the change). */
  hunks: Array<{ oldStart: number; oldLines: number; newStart: number; newLines: number; lines: string[] }>;
}

const DEV_NULL = '/dev/null';

/** `a/x`/`b/x` (git's default prefixes) → `x`; other names are taken as written. Never absolute or with `..` segments. */
function cleanName(name: string | undefined, prefix: 'a/' | 'b/', git: boolean): string | undefined {
  if (name === undefined || name === '' || name === DEV_NULL) return undefined;
  let n = name.replace(/\t.*$/, '');
  if (git && n.startsWith(prefix)) n = n.slice(2);
  else if (!git && (n.startsWith('a/') || n.startsWith('b/'))) n = n.slice(2);
  n = n.replace(/^\.\//, '');
  return n;
}

/**
 * Parses a unified diff (git's dialect included: renames, deletions, new and
 * binary files) with jsdiff's `parsePatch` (the `diff` package: maintained,
 * typed, used by mocha and many others); this function only reshapes its
 * result. Throws COVGATE_BAD_DATA naming what is wrong: not a diff, a hunk
 * whose line counts do not match its header.
 */
export function parseUnifiedDiff(text: string): DiffFile[] {
  if (text.includes('\0')) throw errors.badData('diff: contains NUL bytes; expected a text unified diff');
  let patches: ReturnType<typeof parsePatch>;
  try {
    patches = parsePatch(text);
  } catch (err) {
    throw errors.badData(`diff: not a valid unified diff: ${(err as Error).message}`);
  }
  const out: DiffFile[] = [];
  for (const p of patches) {
    const git = p.isGit === true;
    const oldPath = cleanName(p.oldFileName, 'a/', git);
    const newPath = cleanName(p.newFileName, 'b/', git);
    if (oldPath === undefined && newPath === undefined) {
      if (p.hunks.length === 0) continue; // e.g. text before the first header
      throw errors.badData('diff: a hunk has no file header (expected "--- a/<path>" and "+++ b/<path>")');
    }
    for (const name of [oldPath, newPath]) {
      if (name !== undefined && (name.startsWith('/') || name.split('/').includes('..'))) {
        throw errors.badData(`diff: file name ${JSON.stringify(name)} must be relative to the repository, without ".."`);
      }
    }
    const status: DiffFile['status'] =
      p.isDelete || newPath === undefined ? 'deleted' : p.isCreate || oldPath === undefined ? 'added' : p.isRename || oldPath !== newPath ? 'renamed' : 'modified';
    const file: DiffFile = { status, binary: p.isBinary === true, added: [], text: new Map(), hunks: [] };
    if (status !== 'added') file.oldPath = oldPath;
    if (status !== 'deleted') file.newPath = newPath;
    for (const h of p.hunks) {
      file.hunks.push({ oldStart: h.oldStart, oldLines: h.oldLines, newStart: h.newStart, newLines: h.newLines, lines: h.lines });
      if (status === 'deleted') continue;
      let line = h.newStart;
      let oldSeen = 0;
      let newSeen = 0;
      for (const l of h.lines) {
        const c = l[0];
        if (c === '+') {
          file.added.push(line);
          file.text.set(line, l.slice(1));
          line++;
          newSeen++;
        } else if (c === ' ') {
          line++;
          newSeen++;
          oldSeen++;
        } else if (c === '-') {
          oldSeen++;
        } // '\' (No newline at end of file) carries no line
      }
      if (newSeen !== h.newLines || oldSeen !== h.oldLines) {
        throw errors.badData(
          `diff: hunk @@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@ of ${newPath ?? oldPath} has ${oldSeen} old and ${newSeen} new lines`,
        );
      }
    }
    out.push(file);
  }
  return out;
}
