/**
 * Helpers for the formats interop tests: find an outside tool, and skip when
 * it is missing — but only outside CI. Under CI (env CI set) a missing tool
 * fails the test, so CI cannot silently stop checking interop.
 */
import { spawnSync } from 'node:child_process';

export function hasTool(cmd: string): boolean {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '';
}

/** Call at the top of a test or hook: skips (locally) or throws (under CI) when a tool is missing. */
export function requireTools(ctx: Mocha.Context, tools: string[], debianPackages: string): void {
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length === 0) return;
  const message = `interop tool(s) ${missing.join(', ')} not installed (Debian: apt-get install -y ${debianPackages})`;
  if (process.env.CI) throw new Error(`${message}; required under CI`);
  ctx.skip();
}

/** Runs a command, returning stdout; throws with stderr when it fails. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd, env: { ...process.env, ...opts.env }, timeout: 110_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}
