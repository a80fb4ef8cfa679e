/**
 * The Go exporter (exporters/go) in a real service: a multi-package Go HTTP
 * service imports `…/exporters/go/autostart` (via a `replace` to this
 * repository), is built with Go 1.23 `-cover -covermode=atomic`, self-registers
 * with the real gateway and is scraped (format gocovdata, structure once then
 * counters only). Every figure is compared with Go's own tools on the same
 * processes' coverage files (GOCOVERDIR at exit, and an oracle dump endpoint
 * in a package left out of -coverpkg so it never changes what is measured):
 *   - one process: per-function figures equal `go tool covdata func`, blocks
 *     and counts equal `go tool covdata textfmt`;
 *   - a session: blocks and counts equal the oracle's after − before;
 *   - two instances and a restart of one: equal `go tool covdata merge` of
 *     all three runs (textfmt and func), and `go tool cover -func` on the
 *     gateway's `format=gocover` output equals it on the merged profile;
 *   - reset (ClearCounters) answers 204; a binary built without -cover
 *     starts no exporter.
 * Debian package: golang-1.23-go (bookworm-backports).
 */
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import axios from 'axios';
import { expect } from 'chai';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { funcFigures, parseFuncReport, profileBlocks } from '../helpers/gocovdata.ts';
import { spawnProcess, type Spawned } from '../helpers/process.ts';
import { requireTools } from './formats-tools.ts';
import { createGoModule, GO, GO_FIB_AND_UNUSED, type GoModule } from './go-module.ts';

const MODULE = 'example.com/shop';
const EXPORTER = join(import.meta.dirname, '..', '..', 'exporters', 'go');

const FILES: Record<string, string> = {
  'go.mod': `module ${MODULE}\n\ngo 1.21\n\nrequire github.com/covgate/covgate/exporters/go v0.0.0\n\nreplace github.com/covgate/covgate/exporters/go => ${EXPORTER}\n`,
  'calc/calc.go': `package calc

type Cart struct{ Items []int }

func (c *Cart) Add(price int) {
	if price <= 0 {
		return
	}
	c.Items = append(c.Items, price)
}

func (c *Cart) Total() (t int) {
	for _, p := range c.Items {
		t += p
	}
	if t > 100 {
		t = t * 9 / 10
	}
	return t
}

${GO_FIB_AND_UNUSED}`,
  'greet/greet.go': `package greet

import "strings"

func Hello(name string) string {
	switch {
	case name == "":
		return "hello, nobody"
	case strings.HasPrefix(name, "dr"):
		return "hello, Dr. " + strings.TrimPrefix(name, "dr")
	}
	return "hello, " + name
}
`,
  'api/api.go': `package api

import (
	"fmt"
	"net/http"
	"strconv"

	"${MODULE}/calc"
	"${MODULE}/greet"
)

func Routes(mux *http.ServeMux) {
	mux.HandleFunc("/cart", cart)
	mux.HandleFunc("/fib", fib)
	mux.HandleFunc("/greet", hello)
}

func cart(w http.ResponseWriter, r *http.Request) {
	c := &calc.Cart{}
	for _, p := range r.URL.Query()["p"] {
		n, err := strconv.Atoi(p)
		if err != nil {
			http.Error(w, "bad price", 400)
			return
		}
		c.Add(n)
	}
	fmt.Fprint(w, c.Total())
}

func fib(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil {
		http.Error(w, "bad n", 400)
		return
	}
	fmt.Fprint(w, calc.Fib(n))
}

func hello(w http.ResponseWriter, r *http.Request) {
	fmt.Fprint(w, greet.Hello(r.URL.Query().Get("name")))
}
`,
  // Test-only endpoints, not in -coverpkg: an oracle dump of the live counters and a clean exit.
  'oracle/oracle.go': `package oracle

import (
	"net"
	"net/http"
	"runtime/coverage"
	"time"

	"github.com/covgate/covgate/exporters/go/autostart"
)

func Routes(mux *http.ServeMux, ln net.Listener) {
	mux.HandleFunc("/oracle/dump", func(w http.ResponseWriter, r *http.Request) {
		dir := r.URL.Query().Get("dir")
		if err := coverage.WriteMetaDir(dir); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if err := coverage.WriteCountersDir(dir); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write([]byte("ok"))
	})
	// Deregisters (the gateway scrapes one last time), then stops serving: main returns
	// and Go writes the counters to GOCOVERDIR.
	mux.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		if autostart.Registration != nil {
			autostart.Registration.Stop(10 * time.Second)
		}
		w.Write([]byte("bye"))
		go ln.Close()
	})
}
`,
  'main.go': `package main

import (
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/covgate/covgate/exporters/go/autostart"
	"${MODULE}/api"
	"${MODULE}/oracle"
)

func main() {
	ln, err := net.Listen("tcp", os.Getenv("LISTEN"))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	api.Routes(mux)
	oracle.Routes(mux, ln)
	fmt.Println("LISTEN http://" + ln.Addr().String() + " EXPORTER " + autostart.URL)
	http.Serve(ln, mux)
}
`,
};

interface Service {
  url: string;
  exporter: string;
  proc: Spawned;
  covdir: string;
}

describe('interop: the Go exporter (exporters/go) in a go build -cover service, against go tool covdata', function () {
  this.timeout(300_000);
  let mod: GoModule | undefined;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let bin: string;
  let gw: GatewayProcess | undefined;
  const procs: Spawned[] = [];
  const agent = new http.Agent({ keepAlive: false });

  const go = (args: string[]) => mod!.go(args);
  const textfmt = (covdir: string) => mod!.textfmt(covdir);
  const coverFunc = (profile: string, name: string) => mod!.coverFunc(profile, name);

  before(function () {
    requireTools(this, [GO], 'golang-1.23-go');
    mod = createGoModule('covgate-goexp-', FILES);
    ({ dir, env } = mod);
    bin = mod.buildCover('shop', MODULE, ['calc', 'greet', 'api']);
  });
  after(async () => {
    for (const p of procs) await p.kill('SIGKILL').catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    mod?.dispose();
  });

  async function start(name: string, binary = bin, extraEnv: NodeJS.ProcessEnv = {}): Promise<Service> {
    const covdir = join(dir, `cov-${name}`);
    mkdirSync(covdir, { recursive: true });
    const proc = spawnProcess(binary, [], {
      env: { ...env, LISTEN: '127.0.0.1:0', GOCOVERDIR: covdir, COVGATE_LISTEN: '127.0.0.1:0', COVGATE_GATEWAY: gw!.url, COVGATE_SERVICE: 'shop', COVGATE_LABELS: `run=${name}`, ...extraEnv },
    });
    procs.push(proc);
    const m = await proc.waitForLine(/^LISTEN (http:\/\/\S+) EXPORTER ?(.*)$/, 30_000);
    const url = m[1]!;
    const exporter = m[2]!;
    return { url, exporter, proc, covdir };
  }

  const get = (url: string) => axios.get(url, { proxy: false, httpAgent: agent, validateStatus: () => true });
  async function traffic(s: Service, calls: string[]): Promise<void> {
    for (const c of calls) await get(`${s.url}${c}`);
  }
  async function dump(s: Service, name: string): Promise<string> {
    const d = join(dir, name);
    mkdirSync(d);
    const r = await axios.post(`${s.url}/oracle/dump?dir=${encodeURIComponent(d)}`, undefined, { proxy: false, httpAgent: agent });
    expect(r.status).to.equal(200);
    return d;
  }
  async function quit(s: Service): Promise<void> {
    const exited = s.proc.proc.exitCode !== null ? Promise.resolve() : once(s.proc.proc, 'exit');
    await axios.get(`${s.url}/quit`, { proxy: false, httpAgent: agent });
    await exited;
  }

  /** The gateway's active targets, by the exporter URL they scrape. */
  async function targets(): Promise<Array<{ scrapeUrl: string; labels: Record<string, string>; health: string; lastError: string }>> {
    return (await gw!.api.get('/api/v1/targets')).data.data.activeTargets;
  }
  async function registered(s: Service): Promise<Record<string, string>> {
    for (let i = 0; i < 400; i++) {
      const t = (await targets()).find((x) => x.scrapeUrl.startsWith(s.exporter));
      if (t) return t.labels;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${s.exporter} never registered:\n${s.proc.output()}`);
  }
  async function scrape(): Promise<void> {
    const r = await gw!.api.post('/api/v1/scrape', { job: 'shop' });
    expect(r.status, JSON.stringify(r.data)).to.equal(200);
    // not_modified: the exporter's ETag says nothing ran since the last scrape.
    for (const x of r.data.data.results) expect(x.result, x.error).to.be.oneOf(['success', 'not_modified']);
  }
  async function istanbul(query: string): Promise<CoverageMapData> {
    const r = await gw!.api.get(`/api/v1/coverage?${query}`);
    expect(r.status, JSON.stringify(r.data).slice(0, 300)).to.equal(200);
    return r.data as CoverageMapData;
  }
  async function gocover(query: string): Promise<string> {
    const r = await gw!.api.get(`/api/v1/coverage?${query}&format=gocover`, { responseType: 'text', transformResponse: (x) => x });
    expect(r.status, String(r.data)).to.equal(200);
    return String(r.data);
  }
  const covdataFunc = (covdir: string) => parseFuncReport(go(['tool', 'covdata', 'func', `-i=${covdir}`]));

  /** Blocks of `after` minus `before` (same positions), as `file:range stmts count` lines. */
  function subtract(after: string, before: string): string[] {
    const b = new Map(profileBlocks(before).map((l) => [l.replace(/ \d+$/, ''), Number(/ (\d+)$/.exec(l)![1])]));
    return profileBlocks(after).map((l) => {
      const key = l.replace(/ \d+$/, '');
      return `${key} ${Number(/ (\d+)$/.exec(l)![1]) - (b.get(key) ?? 0)}`;
    });
  }

  it('one process, a session, two instances and a restart equal go tool covdata, counts included', async () => {
    gw = await startGatewayProcess({ configYaml: 'registration:\n  enabled: true\n  allowed_targets: [127.0.0.0/8]\nscrape_configs: []\n' });
    gw.api.defaults.httpAgent = agent;
    const a = await start('a');
    const b = await start('b');
    expect(a.exporter).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    const labelsA = await registered(a);
    await registered(b);
    expect(labelsA).to.include({ job: 'shop', service: 'shop', run: 'a' });

    // First scrape: full data (meta + counters); the second: counters only against the stored structure.
    await traffic(a, ['/cart?p=10&p=20', '/fib?n=6', '/greet?name=ann']);
    await traffic(b, ['/cart?p=90&p=30', '/greet?name=drwho', '/fib?n=x']);
    await scrape();
    const full = await get(`${a.exporter}/coverage`);
    expect(full.headers['content-type']).to.match(/application\/vnd\.covgate\.v1\+json/);
    expect(full.data).to.include({ format: 'gocovdata', counters: 'cumulative' });
    expect(full.data.data.meta).to.be.a('string');
    const countersOnly = await axios.get(`${a.exporter}/coverage`, { proxy: false, httpAgent: agent, headers: { 'X-Covgate-Known-Structure': full.data.structure } });
    expect(countersOnly.data.data.meta).to.equal(undefined);
    expect(countersOnly.data.data.counters).to.have.length(1);
    await traffic(a, ['/cart?p=-1', '/fib?n=12']);
    await scrape();
    // That scrape sent X-Covgate-Known-Structure and got counters only: far fewer bytes than the meta-data alone.
    const bodyBytes = new RegExp(`^covgate_scrape_body_bytes\\{[^}]*instance="${labelsA.instance!.replace(/[.]/g, '\\.')}"[^}]*\\} (\\d+)$`, 'm').exec(String((await gw.api.get('/metrics')).data));
    expect(bodyBytes, 'covgate_scrape_body_bytes of instance a').to.not.equal(null);
    expect(Number(bodyBytes![1])).to.be.lessThan(Buffer.from(full.data.data.meta, 'base64').length);
    console.log(`    scrape body: full envelope ${JSON.stringify(full.data).length} B, counters-only scrape ${bodyBytes![1]} B`);

    // One process: the gateway's figures for instance a equal covdata on a's own counters.
    const dumpA = await dump(a, 'dump-a1');
    await scrape();
    const onlyA = await istanbul(`job=shop&instance=${encodeURIComponent(labelsA.instance!)}`);
    expect(funcFigures(onlyA)).to.deep.equal(covdataFunc(dumpA));
    expect(profileBlocks(await gocover(`job=shop&instance=${encodeURIComponent(labelsA.instance!)}`))).to.deep.equal(profileBlocks(textfmt(dumpA)));

    // A session across both instances: after − before, block by block.
    const beforeA = await dump(a, 'before-a');
    const beforeB = await dump(b, 'before-b');
    const started = await gw.api.post('/test-started', { selector: { job: 'shop' } });
    expect(started.status).to.equal(201);
    await traffic(a, ['/greet?name=', '/cart?p=x']);
    await traffic(b, ['/fib?n=3', '/fib?n=4', '/cart?p=200']);
    const finished = await gw.api.post('/test-finished', { session: started.data.session, wait: true });
    expect(finished.status, JSON.stringify(finished.data)).to.be.oneOf([200, 202]);
    const afterA = await dump(a, 'after-a');
    const afterB = await dump(b, 'after-b');
    const sessionOracle = [...subtract(textfmt(afterA), textfmt(beforeA)), ...subtract(textfmt(afterB), textfmt(beforeB))];
    // Both processes run the same binary: add the two per-block differences.
    const summed = new Map<string, number>();
    for (const l of sessionOracle) {
      const key = l.replace(/ -?\d+$/, '');
      summed.set(key, (summed.get(key) ?? 0) + Number(/ (-?\d+)$/.exec(l)![1]));
    }
    const sessionProfile = await gocover(`session=${encodeURIComponent(started.data.session)}`);
    expect(profileBlocks(sessionProfile)).to.deep.equal([...summed].map(([k, n]) => `${k} ${n}`).sort());

    // A restart of b: b quits (deregisters after a final scrape; Go writes its counters at exit), b2 starts.
    await traffic(b, ['/greet?name=bob']);
    await quit(b);
    const b2 = await start('b2');
    await registered(b2);
    await traffic(b2, ['/cart?p=1', '/fib?n=20', '/greet?name=drno']);
    await traffic(a, ['/fib?n=2']);
    await scrape();
    const whole = await istanbul('job=shop');
    const wholeProfile = await gocover('job=shop');
    const b2Final = await dump(b2, 'b2-final');
    // Metrics of the live targets, checked against the merged oracle below.
    const liveSeries = String((await gw.api.get('/metrics')).data)
      .split('\n')
      .filter((l) => l.startsWith('covgate_coverage_covered{') && l.includes('service="shop"'));

    // Reset (ClearCounters, atomic mode) answers 204; the counters the gateway holds are unaffected.
    const reset = await axios.post(`${b2.exporter}/coverage/reset`, undefined, { proxy: false, httpAgent: agent, validateStatus: () => true });
    expect(reset.status).to.equal(204);
    // Go's own view after the reset: every counter of b2 is zero.
    const afterReset = profileBlocks(textfmt(await dump(b2, 'b2-reset')));
    expect(afterReset.length).to.be.greaterThan(10);
    expect(afterReset.filter((l) => !l.endsWith(' 0'))).to.deep.equal([]);
    await quit(a);
    await quit(b2);
    // b2's counters were reset before it exited, so its share is the dump taken right after the last scrape.
    const merged = join(dir, 'merged');
    mkdirSync(merged);
    go(['tool', 'covdata', 'merge', `-i=${a.covdir},${b.covdir},${b2Final}`, `-o=${merged}`]);
    const oracle = textfmt(merged);
    expect(profileBlocks(wholeProfile)).to.deep.equal(profileBlocks(oracle));
    expect(funcFigures(whole)).to.deep.equal(covdataFunc(merged));
    expect(coverFunc(wholeProfile, 'gw.txt')).to.equal(coverFunc(oracle, 'oracle.txt'));
    const summary = (await gw.api.get('/api/v1/coverage?job=shop&format=json-summary')).data.total;
    expect(summary.semantics).to.equal('go-statements');
    expect(`${((100 * summary.statements.covered) / summary.statements.total).toFixed(1)}%`).to.equal(covdataFunc(merged).total);
    // Unlike a coverprofile, covdata knows functions: the gateway reports them.
    expect(summary.functions.available).to.not.equal(false);
    expect(summary.functions.total).to.equal(covdataFunc(merged).funcs.length);
    expect(liveSeries.join('\n')).to.match(new RegExp(`kind="statements"\\} ${summary.statements.covered}$`, 'm'));
    expect(liveSeries.join('\n')).to.match(new RegExp(`kind="functions"\\} ${summary.functions.covered}$`, 'm'));
  });

  it('does nothing in a binary built without -cover', async () => {
    const plain = join(dir, 'shop-plain');
    go(['build', '-o', plain, '.']);
    gw ??= await startGatewayProcess({ configYaml: 'registration:\n  enabled: true\n  allowed_targets: [127.0.0.0/8]\nscrape_configs: []\n' });
    const s = await start('plain', plain);
    expect(s.exporter).to.equal('');
    expect((await get(`${s.url}/greet?name=x`)).data).to.equal('hello, x');
    expect(s.proc.output()).not.to.match(/covgate exporter/);
    await quit(s);
  });
});
