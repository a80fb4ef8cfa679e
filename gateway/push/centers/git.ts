import type { PushJob } from '../types.ts';

/** Git and CI metadata of a session, for the centers that key coverage by commit. */
export interface GitMeta {
  commit?: string;
  branch?: string;
  /** CI build number / id. */
  build?: string;
  /** CI build url. */
  buildUrl?: string;
  pr?: string;
  slug?: string;
}

const first = (...vs: Array<string | undefined>): string | undefined => vs.find((v) => v !== undefined && v !== '');

/**
 * Session labels win over the exporter's envelope `build` fields (the test
 * run knows what it tests); envelope names follow common CI wording
 * (`commit`/`revision`/`sha`, `branch`, `build`/`build_number`, `build_url`).
 */
export function gitMeta(job: PushJob): GitMeta {
  const l = job.labels;
  const b = job.build ?? {};
  const out: GitMeta = {};
  const set = (k: keyof GitMeta, v: string | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('commit', first(l.commit, b.commit, b.revision, b.sha));
  set('branch', first(l.branch, b.branch));
  set('build', first(l.build, b.build, b.build_number));
  set('buildUrl', first(l.build_url, b.build_url));
  set('pr', first(l.pr, b.pr));
  set('slug', first(l.slug, b.slug));
  return out;
}

/** A git object name: 40 (SHA-1) or 64 (SHA-256) hex digits. */
export const COMMIT_RE = /^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/;
