import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './formats-tools.ts';

/** Go 1.23, as the interop tests require (not bare `go`). */
export const GO = '/usr/lib/go-1.23/bin/go';

/** Go functions both Go service fixtures carry: a loop whose counts grow with n, and one that never runs. */
export const GO_FIB_AND_UNUSED = `func Fib(n int) int {
	x, y := 0, 1
	for i := 0; i < n; i++ {
		x, y = y, x+y
	}
	return x
}

func Unused() int {
	v := 1
	v++
	return v
}
`;

/**
 * A Go module written to a temp folder, built and measured with Go's own
 * tools offline (no proxy, no toolchain download, no cgo): what the Go
 * service tests (goc agent, Go exporter) share.
 */
export interface GoModule {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  go(args: string[]): string;
  /** `go build -cover -covermode=atomic` of the main package with `-coverpkg` = the module and these sub-packages; returns the binary's path. */
  buildCover(binary: string, module: string, packages: string[]): string;
  /** `go tool covdata textfmt` of a GOCOVERDIR, as text. */
  textfmt(covdir: string): string;
  /** `go tool cover -func` of a text profile (written to `name` in the module folder). */
  coverFunc(profile: string, name: string): string;
  dispose(): void;
}

export function createGoModule(prefix: string, files: Record<string, string>): GoModule {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const env: NodeJS.ProcessEnv = { GOPATH: join(dir, '.gopath'), GOCACHE: join(dir, '.gocache'), GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', GOPROXY: 'off', CGO_ENABLED: '0' };
  const go = (args: string[]) => run(GO, args, { cwd: dir, env });
  return {
    dir,
    env,
    go,
    buildCover(binary, module, packages) {
      const bin = join(dir, binary);
      go(['build', '-cover', '-covermode=atomic', `-coverpkg=${[module, ...packages.map((p) => `${module}/${p}`)].join(',')}`, '-o', bin, '.']);
      return bin;
    },
    textfmt(covdir) {
      const out = `${covdir}.textfmt.txt`;
      go(['tool', 'covdata', 'textfmt', `-i=${covdir}`, `-o=${out}`]);
      return readFileSync(out, 'utf8');
    },
    coverFunc(profile, name) {
      writeFileSync(join(dir, name), profile);
      return go(['tool', 'cover', `-func=${name}`]);
    },
    dispose() {
      run('chmod', ['-R', 'u+w', dir]); // the module cache is read-only
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
