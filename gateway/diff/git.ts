import { execFile } from 'node:child_process';
import { errors } from '../errors.ts';

/**
 * Whether `ref` is safe to hand to git as a revision: not empty, not an
 * option (no leading '-'), only characters git allows in ref names and
 * revision suffixes (`~`, `^`), no `..` ranges, no `@{` reflog syntax, no
 * whitespace or control characters, at most 200 characters. Returns the
 * problem, or undefined when fine.
 */
export function gitRefProblem(ref: string): string | undefined {
  if (ref === '') return 'is empty';
  if (ref.length > 200) return 'is longer than 200 characters';
  if (ref.startsWith('-')) return 'must not start with "-"';
  if (!/^[A-Za-z0-9._/~^+-]+$/.test(ref)) return 'may contain only letters, digits and . _ / ~ ^ + -';
  if (ref.includes('..')) return 'must be one revision, not a range (covgate diffs base...head itself)';
  return undefined;
}

export function checkGitRef(ref: string, what: string): void {
  const problem = gitRefProblem(ref);
  if (problem) throw errors.badData(`${what} ${JSON.stringify(ref)} ${problem}`);
}

/** Runs git with an argument array (never a shell); resolves stdout. Injected in tests as needed. */
export type GitRunner = (repository: string, args: string[]) => Promise<string>;

/** The real runner: `git -C <repository> …` through execFile, bounded in time and output. */
export function createGitRunner(opts: { timeoutMs?: number; maxBytes?: number; gitBinary?: string } = {}): GitRunner {
  return (repository, args) =>
    new Promise((resolve, reject) => {
      execFile(
        opts.gitBinary ?? 'git',
        ['-C', repository, '-c', 'core.quotepath=off', ...args],
        {
          timeout: opts.timeoutMs ?? 30_000,
          maxBuffer: opts.maxBytes ?? 256 * 1024 * 1024,
          encoding: 'utf8',
          // Nothing from the user's git config may change the output: no pager, no external diff, no prompts.
          env: { ...process.env, GIT_PAGER: 'cat', GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C' },
        },
        (err, stdout, stderr) => {
          if (err) reject(Object.assign(err, { stderr }));
          else resolve(stdout);
        },
      );
    });
}

/**
 * `git diff base...head` (changes on head since the merge base) in
 * `repository`, with fixed prefixes and rename detection, whatever the
 * repository's own config says. Refs are checked with `gitRefProblem` and
 * resolved with `rev-parse --verify --end-of-options` first, so an unknown ref
 * is a clear 400 and nothing can be read as an option.
 */
export async function gitDiff(
  run: GitRunner,
  repository: string,
  base: string,
  head: string,
  /** `merge-base` (default): base...head, what a change request shows; `direct`: base head, what carrying counts from one build to another needs. */
  mode: 'merge-base' | 'direct' = 'merge-base',
): Promise<{ text: string; base: string; head: string }> {
  checkGitRef(base, 'base');
  checkGitRef(head, 'head');
  const resolve = async (ref: string, what: string) => {
    try {
      return (await run(repository, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`])).trim();
    } catch (err) {
      const e = err as { code?: unknown; stderr?: string };
      if (e.code === 'ENOENT') throw errors.unavailable('git is not installed on the gateway host');
      if (/not a git repository|cannot change to/i.test(e.stderr ?? '')) throw errors.unavailable(`the job's repository ${repository} is not a git checkout: ${e.stderr!.trim()}`);
      throw errors.badData(`${what} ${JSON.stringify(ref)} is not a commit in the job's repository ${repository}${e.stderr ? `: ${e.stderr.trim()}` : ''}`);
    }
  };
  const b = await resolve(base, 'base');
  const h = await resolve(head, 'head');
  try {
    const revs = mode === 'direct' ? [b, h] : [`${b}...${h}`];
    const text = await run(repository, ['diff', '--no-color', '--no-ext-diff', '--no-textconv', '--no-relative', '-M', '--src-prefix=a/', '--dst-prefix=b/', ...revs, '--']);
    return { text, base: b, head: h };
  } catch (err) {
    throw errors.unavailable(`git diff ${base}...${head} failed in ${repository}: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
  }
}
