/**
 * Carry-over (`carry=lines`) and diff coverage for Go, statement-weighted:
 * a Go program in a git repository, v1 → v2 inserting a function above the
 * code, changing one function and moving the others; each build compiled with
 * `go build -cover -covermode=count`, run into its own GOCOVERDIR, converted
 * with `go tool covdata textfmt` and pushed to the real gateway inside covgate
 * envelopes that name the build's commit. The oracle: the old inputs run on
 * the v2 binary (covdata textfmt), and git's own `-U0` hunks. Every v2 block no
 * change touched must count observed + the old inputs' count on v2; every
 * touched block only observed. Diff coverage of v1...v2 must equal, per
 * changed line, the highest count of the v2 blocks covering it (what
 * `go tool cover -html` colours), from the same textfmt.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseGoCover } from '../../gateway/formats/gocover.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { requireTools, run } from './formats-tools.ts';

const GO = '/usr/lib/go-1.23/bin/go';

const MAIN = `package main

import (
	"fmt"
	"os"

	"example.com/carry/calc"
)

func main() {
	total := 1
	for _, a := range os.Args[1:] {
		switch a {
		case "add":
			total = calc.Add(total, 3)
		case "mul":
			total = calc.Mul(total, 2)
		case "neg":
			total = calc.Neg(total)
		}
	}
	fmt.Println(total)
}
`;

const CALC_V1 = `package calc

func Add(a, b int) int {
	if b < 0 {
		return a
	}
	return a + b
}

func Mul(a, b int) int {
	r := 0
	for i := 0; i < b; i++ {
		r += a
	}
	return r
}

func Neg(a int) int {
	if a == 0 {
		return 0
	}
	return -a
}
`;

const CALC_V2 = `package calc

// Clamp keeps v within [lo, hi].
func Clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func Add(a, b int) int {
	if b < 0 {
		return a
	}
	return a + b
}

func Mul(a, b int) int {
	if b == 0 {
		return 0
	}
	return a * b
}

func Neg(a int) int {
	if a == 0 {
		return 0
	}
	return -a
}
`;

const OLD_INPUTS = [['add', 'mul', 'neg'], ['add', 'add']];
const NEW_INPUTS = [['mul', 'neg', 'neg']];

type Block = { file: string; startLine: number; startCol: number; endLine: number; endCol: number; numStmts: number; count: number };
const keyOf = (b: Block) => `${b.file}:${b.startLine}.${b.startCol},${b.endLine}.${b.endCol}`;
const byKey = (profile: string) => new Map(parseGoCover(profile).blocks.map((b) => [keyOf(b), b] as const));

describe('interop: Go carry-over and diff coverage (go build -cover, covdata textfmt)', function () {
  let dir: string;
  let repo: string;
  let gw: GatewayProcess;
  /** No repository: the v2 push brings the diff from v1 in its envelope (build.diff), as the Go exporter sends COVGATE_BUILD_DIFF_FILE. */
  let gwUpload: GatewayProcess;
  let env: NodeJS.ProcessEnv;
  let observed: string;
  let oldOnNew: string;
  const sha: Record<string, string> = {};

  const git = (...args: string[]) =>
    run('git', ['-C', repo, ...args], { env: { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.invalid', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.invalid', GIT_CONFIG_NOSYSTEM: '1' } });

  /** Builds the checked-out commit and runs it once per input into a fresh GOCOVERDIR; returns covdata textfmt. */
  function runBuild(name: string, inputs: string[][]): string {
    const bin = join(dir, `app-${name}`);
    run(GO, ['build', '-cover', '-covermode=count', '-coverpkg=./...', '-o', bin, '.'], { cwd: repo, env });
    const cov = join(dir, `cov-${name}`);
    mkdirSync(cov);
    for (const args of inputs) run(bin, args, { env: { GOCOVERDIR: cov } });
    run(GO, ['tool', 'covdata', 'textfmt', `-i=${cov}`, `-o=${join(dir, `${name}.txt`)}`], { env });
    return readFileSync(join(dir, `${name}.txt`), 'utf8');
  }

  before(async function () {
    requireTools(this, [GO, 'git'], 'golang-1.23-go git');
    dir = mkdtempSync(join(tmpdir(), 'covgate-carry-go-'));
    repo = join(dir, 'repo');
    mkdirSync(join(repo, 'calc'), { recursive: true });
    env = { GOPATH: join(dir, '.gopath'), GOCACHE: join(dir, '.gocache'), GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', GOPROXY: 'off', CGO_ENABLED: '0' };
    writeFileSync(join(repo, 'go.mod'), 'module example.com/carry\n\ngo 1.21\n');
    writeFileSync(join(repo, 'main.go'), MAIN);
    writeFileSync(join(repo, 'calc/calc.go'), CALC_V1);
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'v1');
    sha.v1 = git('rev-parse', 'HEAD').trim();
    const old = runBuild('v1', OLD_INPUTS);
    writeFileSync(join(repo, 'calc/calc.go'), CALC_V2);
    git('commit', '-q', '-am', 'v2');
    sha.v2 = git('rev-parse', 'HEAD').trim();
    observed = runBuild('v2', NEW_INPUTS);
    oldOnNew = runBuild('oracle', OLD_INPUTS);

    gw = await startGatewayProcess({
      configYaml: `global: { scrape_interval: 1h }
scrape_configs:
  - job_name: goapp
    repository: ${JSON.stringify(repo)}
    path_map: { "example.com/carry/": "" }
diffs:
  - { name: v2, job: goapp, base: ${sha.v1}, head: ${sha.v2} }
`,
    });
    gwUpload = await startGatewayProcess({
      configYaml: `global: { scrape_interval: 1h }
scrape_configs:
  - job_name: goapp
    path_map: { "example.com/carry/": "" }
`,
    });
    const diff = git('diff', '-M', '--no-color', sha.v1!, sha.v2!);
    for (const [build, text] of [['v1', old], ['v2', observed]] as const) {
      const envelope = { format: 'gocover', instance: `run-${build}`, build: { commit: sha[build] }, data: text };
      const r = await gw.api.post(`/api/v1/coverage?job=goapp&build=${build}`, JSON.stringify(envelope), { headers: { 'Content-Type': 'application/vnd.covgate.v1+json' } });
      expect(r.status, JSON.stringify(r.data)).to.equal(202);
      const uploaded = { ...envelope, build: build === 'v2' ? { commit: sha.v2, diff_base: sha.v1, diff } : envelope.build };
      const u = await gwUpload.api.post(`/api/v1/coverage?job=goapp&build=${build}`, JSON.stringify(uploaded), { headers: { 'Content-Type': 'application/vnd.covgate.v1+json' } });
      expect(u.status, JSON.stringify(u.data)).to.equal(202);
    }
  });

  after(async () => {
    await gw?.stop();
    await gwUpload?.stop();
    if (dir) {
      run('chmod', ['-R', 'u+w', dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Added lines and deletion points of calc/calc.go v1 → v2, from git -U0. */
  function changes(): { added: Set<number>; deletedAfter: number[] } {
    const out = { added: new Set<number>(), deletedAfter: [] as number[] };
    for (const line of git('diff', '-U0', '--no-color', sha.v1!, sha.v2!, '--', 'calc/calc.go').split('\n')) {
      const h = /^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(line);
      if (!h) continue;
      const oldCount = h[1] === undefined ? 1 : Number(h[1]);
      const start = Number(h[2]);
      const count = h[3] === undefined ? 1 : Number(h[3]);
      for (let l = start; l < start + count; l++) out.added.add(l);
      if (oldCount > 0) out.deletedAfter.push(start);
    }
    return out;
  }

  it('carry=lines: untouched v2 blocks = observed + old inputs on v2, touched blocks = observed only, block by block', async () => {
    await expectCarried(gw);
  });

  it('without a repository, through the diff the v2 push uploaded (build.diff): the same, block by block', async () => {
    await expectCarried(gwUpload);
    expect((await gwUpload.api.get('/api/v1/carry?job=goapp')).data.data.builds.map((b: { diff: string }) => b.diff)).to.deep.equal(['uploaded']);
  });

  async function expectCarried(g: GatewayProcess): Promise<void> {
    const r = await g.api.get('/api/v1/coverage?job=goapp&format=gocover', { transformResponse: (x) => x });
    expect(r.status, String(r.data)).to.equal(200);
    expect(r.headers['x-covgate-carry']).to.equal('lines');
    const got = byKey(String(r.data));
    const obs = byKey(observed);
    const old = byKey(oldOnNew);
    const ch = changes();
    expect([...got.keys()].sort()).to.deep.equal([...obs.keys()].sort());
    let carried = 0;
    let touchedBlocks = 0;
    for (const [k, b] of obs) {
      const touched =
        b.file.endsWith('calc/calc.go') &&
        ([...ch.added].some((l) => b.startLine <= l && l <= b.endLine) || ch.deletedAfter.some((c) => b.startLine <= c && c < b.endLine));
      const want = b.count + (touched ? 0 : old.get(k)!.count);
      expect(got.get(k)!.count, `${k}${touched ? ' (touched)' : ''}`).to.equal(want);
      expect(got.get(k)!.numStmts).to.equal(b.numStmts);
      if (touched) touchedBlocks++;
      else if (old.get(k)!.count > 0) carried++;
    }
    expect(carried).to.be.greaterThan(3);
    expect(touchedBlocks).to.be.greaterThan(2);
  }

  it('diff coverage of v1...v2 (path_map for the import path): each changed line has the highest count of the v2 blocks over it', async () => {
    const r = await gw.api.get('/api/v1/diff-coverage?diff=v2&carry=none&build=v2');
    expect(r.status, JSON.stringify(r.data)).to.equal(200);
    const file = (r.data.data.files as Array<{ path: string; lines: Array<{ line: number; hits: number | null; text: string }> }>).find((f) => f.path === 'calc/calc.go')!;
    expect(file).to.not.equal(undefined);
    const blocks = [...byKey(observed).values()].filter((b) => b.file === 'example.com/carry/calc/calc.go');
    const ch = changes();
    expect(file.lines.map((l) => l.line)).to.deep.equal([...ch.added].sort((a, b) => a - b));
    for (const l of file.lines) {
      const over = blocks.filter((b) => b.startLine <= l.line && l.line <= b.endLine);
      const blank = l.text.trim() === '' || l.text.trim().startsWith('//');
      const want = blank || over.length === 0 ? null : Math.max(...over.map((b) => b.count));
      expect(l.hits, `line ${l.line}: ${l.text}`).to.equal(want);
    }
    expect(file.lines.some((l) => l.hits === 0)).to.equal(true); // Clamp never ran
    expect(file.lines.some((l) => (l.hits ?? 0) > 0)).to.equal(true); // the new Mul ran
  });
});
