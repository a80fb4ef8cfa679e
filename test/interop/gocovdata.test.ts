/**
 * gocovdata decoder against Go's own tool: a small multi-package program is
 * built with `-cover` by Go 1.21, 1.22 and 1.23 in set, count and atomic
 * mode, run twice with GOCOVERDIR, and its covmeta/covcounters files are
 * decoded by the TypeScript decoder (no Go toolchain involved) and pushed as
 * a tar to the real gateway's push-ingest API. Both must equal that Go
 * version's `go tool covdata textfmt` block by block, counts included, and
 * `go tool covdata func` per function and in total. Truncated and garbled
 * files are refused with 4xx and store nothing.
 * Debian packages: golang-1.21-go, golang-1.22-go, golang-1.23-go (bookworm-backports).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { decodeGoCoverFiles } from '../../gateway/formats/gocovdata.ts';
import { encodeCoverage } from '../../gateway/formats/index.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { funcFigures, goCoverDirJson, parseFuncReport, profileBlocks, readGoCoverDir, tarOfDir } from '../helpers/gocovdata.ts';
import { requireTools, run } from './formats-tools.ts';

const VERSIONS = ['1.21', '1.22', '1.23'];
const MODES = ['set', 'count', 'atomic'];
const goOf = (v: string) => `/usr/lib/go-${v}/bin/go`;
const APP = join(import.meta.dirname, '..', 'fixtures', 'formats', 'gocovdata', 'app');

/** A third package, so the meta-data has several packages with methods, switches and literals. */
const TEXT_PKG = `package text

import "strings"

type Shouter struct{ Bang string }

func (s Shouter) Shout(v string) string {
	switch {
	case v == "":
		return "?" + s.Bang
	case strings.HasPrefix(v, "q"):
		return strings.ToUpper(v) + "?"
	default:
		return strings.ToUpper(v) + s.Bang
	}
}

func Words(v string) (n int) {
	strings.FieldsFunc(v, func(r rune) bool {
		if r == ' ' {
			n++
			return true
		}
		return false
	})
	return n + 1
}

func Never(v string) string {
	if v != "" {
		return v
	}
	return "never"
}
`;

const MAIN = `package main

import (
	"fmt"
	"os"

	"example.com/shop/calc"
	"example.com/shop/text"
)

func main() {
	a := &calc.Acc{}
	for i := 0; i < len(os.Args)+3; i++ {
		a.Add(calc.Fib(i))
	}
	f := func(x int) int { return x * 2 }
	s := text.Shouter{Bang: "!"}
	for _, w := range os.Args[1:] {
		fmt.Println(s.Shout(w), text.Words(w+" x y"))
	}
	fmt.Println(f(a.Add(-1)))
}
`;

describe('interop: gocovdata decoder against go tool covdata (Go 1.21, 1.22, 1.23; set, count, atomic)', function () {
  this.timeout(300_000);
  let dir: string;
  let gw: GatewayProcess | undefined;
  const env = (v: string): NodeJS.ProcessEnv => ({
    GOPATH: join(dir, '.gopath'),
    GOCACHE: join(dir, `.gocache-${v}`),
    GOFLAGS: '-mod=mod',
    GOTOOLCHAIN: 'local',
    GOPROXY: 'off',
    CGO_ENABLED: '0',
  });

  before(async function () {
    requireTools(this, VERSIONS.map(goOf), 'golang-1.21-go golang-1.22-go golang-1.23-go');
    dir = mkdtempSync(join(tmpdir(), 'covgate-gocovdata-'));
    cpSync(APP, join(dir, 'app'), { recursive: true });
    mkdirSync(join(dir, 'app', 'text'));
    writeFileSync(join(dir, 'app', 'text', 'text.go'), TEXT_PKG);
    writeFileSync(join(dir, 'app', 'cmd', 'main.go'), MAIN);
    gw = await startGatewayProcess({ configYaml: 'scrape_configs: []\n' });
    // The builds between requests outlast koa's keep-alive: fresh connections avoid racing its close.
    gw.api.defaults.httpAgent = new http.Agent({ keepAlive: false });
  });
  after(async () => {
    await gw?.stop().catch(() => undefined);
    if (dir) {
      run('chmod', ['-R', 'u+w', dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const covdirs = new Map<string, string>();

  for (const v of VERSIONS) {
    for (const mode of MODES) {
      it(`go${v} -covermode=${mode}: decoded and pushed coverage equal go tool covdata textfmt and func`, async () => {
        const go = goOf(v);
        const bin = join(dir, `bin-${v}-${mode}`);
        const covdir = join(dir, `cov-${v}-${mode}`);
        mkdirSync(covdir);
        run(go, ['build', '-cover', `-covermode=${mode}`, '-coverpkg=./...', '-o', bin, './cmd'], { cwd: join(dir, 'app'), env: env(v) });
        run(bin, ['hello', 'quiet'], { env: { GOCOVERDIR: covdir } });
        run(bin, [], { env: { GOCOVERDIR: covdir } });
        run(bin, [''], { env: { GOCOVERDIR: covdir } });
        covdirs.set(`${v}-${mode}`, covdir);
        const files = readGoCoverDir(covdir);
        expect(files.metas).to.have.length(1);
        expect(files.counters).to.have.length(3);

        const textfmt = join(dir, `textfmt-${v}-${mode}.txt`);
        run(go, ['tool', 'covdata', 'textfmt', `-i=${covdir}`, `-o=${textfmt}`], { env: env(v) });
        const oracle = readFileSync(textfmt, 'utf8');
        expect(oracle.split('\n')[0]).to.equal(`mode: ${mode}`);
        const oracleFunc = parseFuncReport(run(go, ['tool', 'covdata', 'func', `-i=${covdir}`], { env: env(v) }));

        // The decoder alone.
        const { coverage, metas } = decodeGoCoverFiles(files);
        expect(metas[0]!.mode).to.equal(mode);
        const ours = encodeCoverage(coverage, 'gocover').body;
        expect(profileBlocks(ours)).to.deep.equal(profileBlocks(oracle));
        expect(profileBlocks(oracle).length).to.be.greaterThan(15);
        expect(funcFigures(coverage)).to.deep.equal(oracleFunc);

        // Through the gateway: a tar of the GOCOVERDIR pushed, read back as a coverprofile and a summary.
        const job = `go${v.replace('.', '')}-${mode}`;
        const pushed = await gw!.api.post(`/api/v1/coverage?job=${job}`, tarOfDir(covdir), { headers: { 'Content-Type': 'application/x-tar' } });
        expect(pushed.status, JSON.stringify(pushed.data)).to.equal(202);
        expect(pushed.data.data.format).to.equal('gocovdata');
        const back = await gw!.api.get(`/api/v1/coverage?job=${job}&format=gocover`, { responseType: 'text', transformResponse: (x) => x });
        expect(profileBlocks(String(back.data))).to.deep.equal(profileBlocks(oracle));
        const summary = (await gw!.api.get(`/api/v1/coverage?job=${job}&format=json-summary`)).data.total;
        expect(summary.semantics).to.equal('go-statements');
        expect(`${((100 * summary.statements.covered) / summary.statements.total).toFixed(1)}%`).to.equal(oracleFunc.total);
      });
    }
  }

  it('push ingest refuses truncated and garbled GOCOVERDIR files with 400 and stores nothing', async function () {
    const covdir = covdirs.get('1.23-atomic');
    if (!covdir) this.skip();
    const json = goCoverDirJson(covdir!);
    const meta = Buffer.from(json.meta, 'base64');
    const ctr = Buffer.from(json.counters[0]!, 'base64');
    const garbled = Buffer.from(meta);
    for (let i = 100; i < garbled.length; i += 7) garbled[i] ^= 0x5a;
    const cases: Array<[string, unknown, RegExp]> = [
      ['truncated meta', { meta: meta.subarray(0, meta.length - 9).toString('base64'), counters: json.counters }, /truncated/],
      ['truncated counters', { meta: json.meta, counters: [ctr.subarray(0, ctr.length - 5).toString('base64')] }, /covcounters|counter|footer|truncated/],
      ['garbled meta', { meta: garbled.toString('base64'), counters: json.counters }, /gocovdata/],
      ['not a meta file', { meta: ctr.toString('base64'), counters: [] }, /bad magic/],
    ];
    for (const [what, body, message] of cases) {
      const r = await gw!.api.post('/api/v1/coverage?job=bad', JSON.stringify(body), { headers: { 'Content-Type': 'application/vnd.covgate.gocovdata+json' } });
      expect(r.status, what).to.equal(400);
      expect(r.data.errorType, what).to.equal('bad_data');
      expect(r.data.error, what).to.match(message);
    }
    const tar = tarOfDir(covdir!);
    const r = await gw!.api.post('/api/v1/coverage?job=bad', tar.subarray(0, tar.length - 2000), { headers: { 'Content-Type': 'application/x-tar' } });
    expect(r.status).to.equal(400);
    expect(r.data.error).to.match(/tar|truncated|gocovdata/);
    expect((await gw!.api.get('/-/healthy')).status).to.equal(200);
    const stored = await gw!.api.get('/api/v1/coverage?job=bad');
    expect(stored.status === 404 || Object.keys(stored.data).length === 0, JSON.stringify(stored.data).slice(0, 200)).to.equal(true);
  });
});
