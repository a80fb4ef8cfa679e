import { errors } from '../errors.ts';
import type { KeyValue } from '../store/types.ts';
import { parseUnifiedDiff, type DiffFile } from './parse.ts';

/** A diff a build brought along: from `base` (a commit; absent: the build the service ran before) to the build's commit. */
export interface UploadedDiff {
  job: string;
  commit: string;
  base?: string;
  text: string;
  /** When the gateway first received it (epoch ms). */
  at: number;
}

/**
 * Diffs uploaded with a new build, for carrying coverage across builds when
 * the job has no `repository:` (the exporter's envelope `build.diff`, a
 * registration's `build.diff`, a push's envelope). Contract:
 * - `record` validates the diff (a unified diff, or empty for "nothing
 *   changed") before anything is stored: a bad one is COVGATE_BAD_COVERAGE /
 *   COVGATE_BAD_DATA naming `build.diff`, and nothing is written.
 * - The same diff sent again (every scrape of the build sends it) writes
 *   nothing; a different one for the same (job, commit, base) replaces it.
 * - Durable (a sublevel of the store) and read from memory.
 */
export interface BuildDiffs {
  open(): Promise<void>;
  /** Stores the diff; resolves false when it was already known. */
  record(d: { job: string; commit: string; base?: string; text: string }, now: number, what?: string): Promise<boolean>;
  /**
   * Takes `diff` / `diff_base` out of a build record (envelope or
   * registration `build`), records the diff for `job`, and returns the rest.
   */
  fromBuild(job: string, build: Record<string, string> | undefined, now: number): Promise<Record<string, string> | undefined>;
  /** The diffs recorded for a build of one of `jobs` (every job when undefined), parsed. */
  forCommit(commit: string, jobs?: string[]): Array<{ job: string; base?: string; files: DiffFile[] }>;
}

const key = (job: string, commit: string, base: string | undefined) => `${job}\0${commit}\0${base ?? ''}`;

export function createBuildDiffs(kv: KeyValue<UploadedDiff>): BuildDiffs {
  const known = new Map<string, UploadedDiff>();
  const parsed = new Map<string, DiffFile[]>();
  const parse = (k: string, d: UploadedDiff) => {
    let files = parsed.get(k);
    if (!files) parsed.set(k, (files = parseUnifiedDiff(d.text)));
    return files;
  };
  return {
    async open() {
      for await (const [k, v] of kv.entries()) known.set(k, v);
    },
    async record(d, now, what = 'build.diff') {
      if (d.commit === '') throw errors.badData(`${what} needs build.commit: the diff leads to that commit`);
      if (d.base === d.commit) throw errors.badData(`${what}_base is the build's own commit ${d.commit}`);
      const k = key(d.job, d.commit, d.base);
      const prev = known.get(k);
      if (prev && prev.text === d.text) return false;
      let files: DiffFile[];
      try {
        files = parseUnifiedDiff(d.text);
      } catch (err) {
        throw errors.badData(`${what}: ${(err as Error).message}`);
      }
      if (files.length === 0 && d.text.trim() !== '') throw errors.badData(`${what} is not a unified diff: no "--- a/<path>" / "+++ b/<path>" file headers found`);
      const value: UploadedDiff = { job: d.job, commit: d.commit, ...(d.base !== undefined ? { base: d.base } : {}), text: d.text, at: now };
      await kv.put(k, value);
      known.set(k, value);
      parsed.set(k, files);
      return true;
    },
    async fromBuild(job, b, now) {
      const { build, diff } = splitBuildDiff(b);
      if (diff) await this.record({ job, ...diff }, now);
      return build;
    },
    forCommit(commit, jobs) {
      const out: Array<{ job: string; base?: string; files: DiffFile[] }> = [];
      for (const [k, d] of known) {
        if (d.commit !== commit || (jobs && !jobs.includes(d.job))) continue;
        out.push({ job: d.job, ...(d.base !== undefined ? { base: d.base } : {}), files: parse(k, d) });
      }
      return out;
    },
  };
}

/** Reads `diff` / `diff_base` out of a build record: the rest stays build info, the diff goes to BuildDiffs. */
export function splitBuildDiff(build: Record<string, string> | undefined): { build: Record<string, string> | undefined; diff?: { commit: string; base?: string; text: string } } {
  if (!build || (build.diff === undefined && build.diff_base === undefined)) return { build };
  const { diff, diff_base: base, ...rest } = build;
  if (diff === undefined) throw errors.badData('build.diff_base without build.diff: send the unified diff from that commit as build.diff');
  if (!rest.commit) throw errors.badData('build.diff needs build.commit: the diff leads to that commit');
  return { build: rest, diff: { commit: rest.commit, ...(base ? { base } : {}), text: diff } };
}
