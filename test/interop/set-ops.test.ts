/**
 * Set operations (`GET /api/v1/coverage?…&op=merge|subtract|intersect&b.<label>=…`)
 * on real coverage, checked against the ecosystem's own arithmetic:
 *   - Go: a program built with `go build -cover -covermode=count`, run with
 *     different inputs into two GOCOVERDIRs; each converted with
 *     `go tool covdata textfmt` and pushed to the real gateway as gocover under
 *     two labels. covgate's op (format=gocover) equals
 *     `go tool covdata merge|subtract|intersect` + textfmt, block by block with counts.
 *   - JavaScript: a small app run twice under nyc with different inputs; both
 *     coverage-final.json maps pushed as istanbul. covgate's op equals the same
 *     arithmetic done on istanbul-lib-coverage's FileCoverage objects of the
 *     same maps, id by id (merge is istanbul-lib-coverage's own merge).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import libCoverage from 'istanbul-lib-coverage';
import type { CoverageMapData } from 'istanbul-lib-coverage';
import { parseGoCover } from '../../gateway/formats/gocover.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { requireTools, run } from './formats-tools.ts';

const GO = '/usr/lib/go-1.23/bin/go';
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const NYC = join(REPO, 'node_modules/.bin/nyc');

const GO_FILES: Record<string, string> = {
  'go.mod': 'module example.com/setops\n\ngo 1.21\n',
  'main.go': `package main

import (
	"fmt"
	"os"

	"example.com/setops/calc"
)

func main() {
	total := 0
	for _, a := range os.Args[1:] {
		switch a {
		case "add":
			total = calc.Add(total, 3)
		case "mul":
			total = calc.Mul(total, 2)
		case "neg":
			total = calc.Neg(total)
		default:
			fmt.Println("unknown", a)
		}
	}
	fmt.Println(total)
}
`,
  'calc/calc.go': `package calc

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
`,
};

/** Block key → "numStmts count", from a coverprofile (repeated blocks merged as Go does). */
function blocks(profile: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const b of parseGoCover(profile).blocks) out[`${b.file}:${b.startLine}.${b.startCol},${b.endLine}.${b.endCol}`] = `${b.numStmts} ${b.count}`;
  return out;
}

describe('interop: set operations equal go tool covdata and istanbul-lib-coverage', function () {
  let dir: string;
  let gw: GatewayProcess;
  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'covgate-setops-'));
    gw = await startGatewayProcess({ configYaml: 'global: { scrape_interval: 1h }\nscrape_configs: []\n' });
  });
  after(async () => {
    await gw?.stop();
    if (dir) {
      run('chmod', ['-R', 'u+w', dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const push = async (labels: string, body: string, contentType: string) => {
    const r = await gw.api.post(`/api/v1/coverage?${labels}`, body, { headers: { 'Content-Type': contentType }, transformRequest: (d) => d });
    expect(r.status, JSON.stringify(r.data)).to.equal(202);
  };
  const get = async (query: string) => {
    const r = await gw.api.get(`/api/v1/coverage?${query}`, { transformResponse: (d) => d });
    expect(r.status, String(r.data)).to.equal(200);
    return String(r.data);
  };

  it('Go (count mode): merge, subtract and intersect equal go tool covdata, block by block with counts', async function () {
    requireTools(this, [GO], 'golang-1.23-go');
    const src = join(dir, 'go');
    for (const [name, text] of Object.entries(GO_FILES)) {
      mkdirSync(join(src, name, '..'), { recursive: true });
      writeFileSync(join(src, name), text);
    }
    const env = { GOPATH: join(dir, '.gopath'), GOCACHE: join(dir, '.gocache'), GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', GOPROXY: 'off', CGO_ENABLED: '0' };
    run(GO, ['build', '-cover', '-covermode=count', '-coverpkg=./...', '-o', 'app', '.'], { cwd: src, env });
    const dirA = join(dir, 'covA');
    const dirB = join(dir, 'covB');
    mkdirSync(dirA);
    mkdirSync(dirB);
    // A: two runs (counts summed by covdata); B: one run with a different input, overlapping on Add.
    run(join(src, 'app'), ['add', 'mul', 'mul', 'x'], { env: { GOCOVERDIR: dirA } });
    run(join(src, 'app'), ['add', 'add'], { env: { GOCOVERDIR: dirA } });
    run(join(src, 'app'), ['add', 'neg', 'neg'], { env: { GOCOVERDIR: dirB } });
    const textfmt = (input: string, name: string) => {
      run(GO, ['tool', 'covdata', 'textfmt', `-i=${input}`, `-o=${join(dir, name)}`], { env });
      return readFileSync(join(dir, name), 'utf8');
    };
    await push('job=goapp&run=a', textfmt(dirA, 'a.txt'), 'text/plain');
    await push('job=goapp&run=b', textfmt(dirB, 'b.txt'), 'text/plain');

    for (const op of ['merge', 'subtract', 'intersect'] as const) {
      const out = join(dir, `out-${op}`);
      mkdirSync(out);
      run(GO, ['tool', 'covdata', op, `-i=${dirA},${dirB}`, `-o=${out}`], { env });
      const want = blocks(textfmt(out, `${op}.txt`));
      const got = blocks(await get(`job=goapp&run=a&op=${op}&b.job=goapp&b.run=b&format=gocover`));
      expect(got, op).to.deep.equal(want);
      // The CLI on the same two local files.
      const cli = run(process.execPath, [join(REPO, 'bin/covgate.js'), op, join(dir, 'a.txt'), join(dir, 'b.txt'), '--format', 'gocover']);
      expect(blocks(cli), `cli ${op}`).to.deep.equal(want);
      // The operation is not a no-op on this data.
      expect(Object.values(want).some((v) => v.endsWith(' 0')), op).to.equal(true);
    }
    // Statement-weighted summary of the subtraction equals go tool cover -func of covdata's result.
    writeFileSync(join(dir, 'sub-ours.txt'), await get('job=goapp&run=a&op=subtract&b.job=goapp&b.run=b&format=gocover'));
    const goFunc = run(GO, ['tool', 'cover', `-func=${join(dir, 'subtract.txt')}`], { cwd: src, env });
    const goTotal = /total:\s+\(statements\)\s+(\d+\.\d)%/.exec(goFunc)![1];
    const summary = JSON.parse(await get('job=goapp&run=a&op=subtract&b.job=goapp&b.run=b&format=json-summary')) as { total: { statements: { covered: number; total: number }; semantics: string } };
    expect(summary.total.semantics).to.equal('go-statements');
    expect(((100 * summary.total.statements.covered) / summary.total.statements.total).toFixed(1)).to.equal(goTotal);
  });

  it('JavaScript (nyc): merge, subtract and intersect equal istanbul-lib-coverage arithmetic on the same maps', async function () {
    const app = join(dir, 'js');
    mkdirSync(app);
    writeFileSync(
      join(app, 'app.js'),
      `'use strict';
function price(kind, n) {
  if (kind === 'vip') return n * 0.9;
  else if (kind === 'bulk' && n > 10) return n - 5;
  return n;
}
function label(x) {
  return x > 100 ? 'big' : 'small';
}
const unused = () => 'never';
let t = 0;
for (const a of process.argv.slice(2)) {
  const [kind, n] = a.split(':');
  t += price(kind, Number(n));
  console.log(label(t));
}
`,
    );
    const nycRun = (name: string, args: string[]) => {
      const report = join(dir, `nyc-${name}`);
      run(NYC, ['--cwd', app, '--temp-dir', join(report, '.tmp'), '--report-dir', report, '--reporter=json', process.execPath, 'app.js', ...args], { cwd: app });
      return JSON.parse(readFileSync(join(report, 'coverage-final.json'), 'utf8')) as CoverageMapData;
    };
    const a = nycRun('a', ['vip:50', 'plain:7', 'vip:200']);
    const b = nycRun('b', ['bulk:20', 'plain:1', 'bulk:3']);
    await push('job=jsapp&run=a', JSON.stringify(a), 'application/json');
    await push('job=jsapp&run=b', JSON.stringify(b), 'application/json');

    // Reference: the same arithmetic on istanbul-lib-coverage's objects, id by id (both runs are one build).
    const ref = (op: 'subtract' | 'intersect') => {
      const keep = op === 'subtract' ? (v: number) => v === 0 : (v: number) => v > 0;
      const out = libCoverage.createCoverageMap({});
      for (const file of libCoverage.createCoverageMap(structuredClone(a)).files()) {
        const fa = libCoverage.createCoverageMap(structuredClone(a)).fileCoverageFor(file).toJSON() as CoverageMapData[string];
        const fb = libCoverage.createCoverageMap(structuredClone(b)).fileCoverageFor(file);
        for (const id of Object.keys(fa.s)) fa.s[id] = keep(fb.s[id]!) ? fa.s[id]! : 0;
        for (const id of Object.keys(fa.f)) fa.f[id] = keep(fb.f[id]!) ? fa.f[id]! : 0;
        for (const id of Object.keys(fa.b)) fa.b[id] = fa.b[id]!.map((v, k) => (keep(fb.b[id]![k]!) ? v : 0));
        out.addFileCoverage(fa);
      }
      return out;
    };
    const merged = libCoverage.createCoverageMap(structuredClone(a));
    merged.merge(structuredClone(b));
    for (const [op, want] of [['merge', merged], ['subtract', ref('subtract')], ['intersect', ref('intersect')]] as const) {
      const got = libCoverage.createCoverageMap(JSON.parse(await get(`job=jsapp&run=a&op=${op}&b.job=jsapp&b.run=b`)) as CoverageMapData);
      expect(got.files(), op).to.deep.equal(want.files());
      for (const file of want.files()) {
        const g = got.fileCoverageFor(file);
        const w = want.fileCoverageFor(file);
        expect(g.s, `${op} s`).to.deep.equal(w.s);
        expect(g.f, `${op} f`).to.deep.equal(w.f);
        expect(g.b, `${op} b`).to.deep.equal(w.b);
        expect(g.getLineCoverage(), `${op} lines`).to.deep.equal(w.getLineCoverage());
      }
      const summary = JSON.parse(await get(`job=jsapp&run=a&op=${op}&b.job=jsapp&b.run=b&format=json-summary`)) as { total: Record<string, { covered: number; total: number }> };
      const ws = want.getCoverageSummary().toJSON();
      for (const kind of ['lines', 'statements', 'functions', 'branches'] as const) {
        expect(summary.total[kind], `${op} ${kind}`).to.include({ covered: ws[kind].covered, total: ws[kind].total });
      }
    }
    // Subtract is not trivial here: A ran the vip price and label's 'big' arm, B never did.
    expect(ref('subtract').getCoverageSummary().statements.covered).to.be.greaterThan(0);
  });

  it('refuses an unknown op, an op without a second selector, and a second selector without op (400 naming it)', async () => {
    for (const [q, re] of [
      ['job=x&op=xor&b.job=y', /op must be one of merge, subtract, intersect/],
      ['job=x&op=subtract', /needs a second selector written b\.<label>/],
      ['job=x&b.job=y', /needs op=/],
    ] as const) {
      const r = await gw.api.get(`/api/v1/coverage?${q}`);
      expect(r.status, q).to.equal(400);
      expect(r.data.error, q).to.match(re);
    }
  });
});
