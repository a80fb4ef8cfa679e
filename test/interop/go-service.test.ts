/**
 * Go oracle test: a real Go HTTP service built with `go build -cover
 * -covermode=atomic` serves its coverage like a goc agent (a tiny agent
 * package in the fixture: runtime/coverage.WriteMetaDir/WriteCountersDir, then
 * `go tool covdata textfmt`), registers with the gateway through goc's
 * `POST /v1/cover/register`, and is scraped by the real gateway. Every figure
 * is compared with Go's own tools on the same process's coverage data:
 * `go tool covdata` (textfmt, merge) and `go tool cover -func`, counts included.
 * The agent package (profile, clear, quit) is left out of -coverpkg, so
 * serving coverage does not change the counters being measured.
 * Debian package: golang-1.23-go (bookworm-backports).
 */
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import axios from 'axios';
import { expect } from 'chai';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { spawnProcess, type Spawned } from '../helpers/process.ts';
import { requireTools } from './formats-tools.ts';
import { createGoModule, GO, GO_FIB_AND_UNUSED, type GoModule } from './go-module.ts';

const MODULE = 'example.com/svc';

const FILES: Record<string, string> = {
  'go.mod': `module ${MODULE}\n\ngo 1.21\n`,
  'calc/calc.go': `package calc

// Add adds; negative results are clamped.
func Add(a, b int) int {
	s := a + b
	if s < 0 {
		return 0
	}
	return s
}

// Fib is iterative so its loop counts grow with n; Unused never runs.
${GO_FIB_AND_UNUSED}`,
  'greet/greet.go': `package greet

import "strings"

func Hello(name string) string {
	if name == "" {
		return "hello, nobody"
	}
	if strings.HasPrefix(name, "dr") {
		name = "Dr. " + strings.TrimPrefix(name, "dr")
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
	mux.HandleFunc("/add", func(w http.ResponseWriter, r *http.Request) {
		a, _ := strconv.Atoi(r.URL.Query().Get("a"))
		b, _ := strconv.Atoi(r.URL.Query().Get("b"))
		fmt.Fprint(w, calc.Add(a, b))
	})
	mux.HandleFunc("/fib", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil {
			http.Error(w, "bad n", 400)
			return
		}
		fmt.Fprint(w, calc.Fib(n))
	})
	mux.HandleFunc("/greet", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, greet.Hello(r.URL.Query().Get("name")))
	})
}
`,
  // The goc-style agent: not in -coverpkg, so its own work is never counted.
  'agent/agent.go': `package agent

import (
	"bytes"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/coverage"
)

func write(dir string) error {
	if err := coverage.WriteMetaDir(dir); err != nil {
		return err
	}
	return coverage.WriteCountersDir(dir)
}

func Routes(mux *http.ServeMux, ln net.Listener) {
	// GET /quit: stop serving; main returns and writes the counters to GOCOVERDIR.
	mux.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("bye"))
		go ln.Close()
	})
	// GET /v1/cover/profile: the goc agent's text profile.
	mux.HandleFunc("/v1/cover/profile", func(w http.ResponseWriter, r *http.Request) {
		dir, err := os.MkdirTemp("", "agent-")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer os.RemoveAll(dir)
		if err := write(dir); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		out := filepath.Join(dir, "profile.txt")
		cmd := exec.Command(os.Getenv("AGENT_GO"), "tool", "covdata", "textfmt", "-i="+dir, "-o="+out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			http.Error(w, err.Error()+": "+stderr.String(), 500)
			return
		}
		body, err := os.ReadFile(out)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	// POST /v1/cover/clear: goc's counter reset.
	mux.HandleFunc("/v1/cover/clear", func(w http.ResponseWriter, r *http.Request) {
		if err := coverage.ClearCounters(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write([]byte("clear call successfully"))
	})
	// POST /oracle/dump?dir=: raw covdata for the test's oracle.
	mux.HandleFunc("/oracle/dump", func(w http.ResponseWriter, r *http.Request) {
		if err := write(r.URL.Query().Get("dir")); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write([]byte("ok"))
	})
}

// Register is goc's agent registration at start: POST <center>/v1/cover/register?name=&address=.
func Register(center, name, address string) error {
	q := url.Values{"name": {name}, "address": {address}}
	res, err := http.Post(center+"/v1/cover/register?"+q.Encode(), "text/plain", nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return &statusError{res.Status}
	}
	return nil
}

type statusError struct{ s string }

func (e *statusError) Error() string { return "register: " + e.s }
`,
  'main.go': `package main

import (
	"fmt"
	"net"
	"net/http"
	"os"

	"${MODULE}/agent"
	"${MODULE}/api"
)

func main() {
	ln, err := net.Listen("tcp", os.Getenv("LISTEN"))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	api.Routes(mux)
	agent.Routes(mux, ln)
	addr := "http://" + ln.Addr().String()
	if err := agent.Register(os.Getenv("CENTER"), "svc", addr); err != nil {
		panic(err)
	}
	fmt.Println("LISTEN " + addr)
	http.Serve(ln, mux)
	// Returning from main writes the counters to GOCOVERDIR.
}
`,
};

interface Block {
  key: string;
  stmts: number;
  count: number;
}

/** Reads a text coverprofile the way `go tool cover` does: blocks by position, repeats summed. */
function blocks(profile: string): Map<string, Block> {
  const out = new Map<string, Block>();
  for (const line of profile.split('\n').slice(1)) {
    const m = /^(.+:\d+\.\d+,\d+\.\d+) (\d+) (\d+)$/.exec(line.trim());
    if (!m) continue;
    const prev = out.get(m[1]!);
    if (prev) prev.count += Number(m[3]);
    else out.set(m[1]!, { key: m[1]!, stmts: Number(m[2]), count: Number(m[3]) });
  }
  return out;
}

/** Share of the oracle's blocks with equal hit/miss and with equal counts in ours. */
function agreement(ours: Map<string, Block>, oracle: Map<string, Block>) {
  let hitMiss = 0;
  let counts = 0;
  for (const [k, o] of oracle) {
    const g = ours.get(k);
    if (g && g.count > 0 === o.count > 0) hitMiss++;
    if (g && g.count === o.count) counts++;
  }
  return { blocks: oracle.size, hitMiss: hitMiss / oracle.size, counts: counts / oracle.size, extra: [...ours.keys()].filter((k) => !oracle.has(k)).length };
}

const total = (func: string) => /total:\s+\(statements\)\s+(\d+\.\d)%/.exec(func)![1]!;

describe('interop: a go build -cover service as a goc agent, against go tool covdata / go tool cover', function () {
  this.timeout(300_000);
  let mod: GoModule | undefined;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let bin: string;
  let gw: GatewayProcess | undefined;
  const procs: Spawned[] = [];

  const go = (args: string[]) => mod!.go(args);
  const func = (profile: string, name: string) => mod!.coverFunc(profile, name);
  const textfmt = (covdir: string) => mod!.textfmt(covdir);

  before(function () {
    requireTools(this, [GO], 'golang-1.23-go');
    mod = createGoModule('covgate-gosvc-', FILES);
    ({ dir, env } = mod);
    // The main package must be instrumented for runtime/coverage to have meta-data; main's blocks run once at start.
    bin = mod.buildCover('svc', MODULE, ['calc', 'greet', 'api']);
  });
  after(async () => {
    for (const p of procs) await p.kill('SIGKILL').catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    mod?.dispose();
  });

  async function startService(listen: string, covdir: string): Promise<{ url: string; proc: Spawned }> {
    mkdirSync(covdir, { recursive: true });
    const proc = spawnProcess(bin, [], { env: { ...env, LISTEN: listen, CENTER: gw!.url, GOCOVERDIR: covdir, AGENT_GO: GO } });
    procs.push(proc);
    const m = await proc.waitForLine(/LISTEN (http:\/\/\S+)/, 30_000);
    return { url: m[1]!, proc };
  }

  async function quit(s: { url: string; proc: Spawned }): Promise<void> {
    const exited = s.proc.proc.exitCode !== null ? Promise.resolve() : once(s.proc.proc, 'exit');
    await axios.get(`${s.url}/quit`, { proxy: false });
    await exited;
  }

  async function traffic(url: string, calls: string[]): Promise<void> {
    for (const c of calls) await axios.get(`${url}${c}`, { proxy: false, validateStatus: () => true });
  }

  /** Waits until the gateway's scrape pool has the registration with the given generation. */
  async function registered(generation: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const ts = (await gw!.api.get('/api/v1/targets')).data.data.activeTargets as Array<{ discoveredLabels: Record<string, string> }>;
      if (ts.some((t) => t.discoveredLabels.__meta_registration_generation === generation)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`registration generation ${generation} never reached the scrape pool`);
  }

  async function scrape(): Promise<void> {
    const r = await gw!.api.post('/api/v1/scrape', { job: 'svc' });
    expect(r.status).to.equal(200);
    for (const x of r.data.data.results) expect(x.result, x.error).to.equal('success');
  }

  const gatewayProfile = async (query: string) => {
    const r = await gw!.api.get(`/api/v1/coverage?${query}&format=gocover`, { responseType: 'text', transformResponse: (x) => x });
    expect(r.status, String(r.data)).to.equal(200);
    return String(r.data);
  };

  it('whole run, a session, a restart at the same address and a clear equal go tool covdata, counts included; goc remove deregisters', async () => {
    gw = await startGatewayProcess({
      configYaml: `registration:\n  enabled: true\n  allowed_targets: [127.0.0.0/8]\nscrape_configs:\n  - job_name: svc\n    format: gocover\n    coverage_path: /v1/cover/profile\n`,
    });
    const run1 = join(dir, 'cov1');
    const s1 = await startService('127.0.0.1:0', run1);
    await registered('1');
    await traffic(s1.url, ['/add?a=1&b=2', '/add?a=3&b=4', '/fib?n=7', '/greet?name=ann']);
    await scrape();

    // A session: the oracle is the counters dumped right before its start and right after its end.
    const before = join(dir, 'before');
    const afterDir = join(dir, 'after');
    mkdirSync(before);
    mkdirSync(afterDir);
    await axios.post(`${s1.url}/oracle/dump?dir=${encodeURIComponent(before)}`, undefined, { proxy: false });
    const started = await gw.api.post('/test-started', { selector: { job: 'svc' } });
    expect(started.status).to.equal(201);
    await traffic(s1.url, ['/fib?n=12', '/greet?name=drwho', '/add?a=-5&b=1', '/fib?n=x']);
    const finished = await gw.api.post('/test-finished', { session: started.data.session });
    expect(finished.status).to.be.oneOf([200, 202]);
    await axios.post(`${s1.url}/oracle/dump?dir=${encodeURIComponent(afterDir)}`, undefined, { proxy: false });
    const b0 = blocks(textfmt(before));
    const b1 = blocks(textfmt(afterDir));
    const sessionOracle = new Map([...b1].map(([k, b]) => [k, { ...b, count: b.count - (b0.get(k)?.count ?? 0) }]));
    const sessionOurs = blocks(await gatewayProfile(`session=${encodeURIComponent(started.data.session)}`));
    const sessionAgreement = agreement(sessionOurs, sessionOracle);
    console.log('    session agreement (blocks):', JSON.stringify(sessionAgreement));

    // A second session spans the restart below: it starts here, the first process runs more and exits.
    const spanStart = join(dir, 'spanstart');
    mkdirSync(spanStart);
    await axios.post(`${s1.url}/oracle/dump?dir=${encodeURIComponent(spanStart)}`, undefined, { proxy: false });
    const spanning = await gw.api.post('/test-started', { selector: { job: 'svc' } });
    expect(spanning.status).to.equal(201);
    await traffic(s1.url, ['/fib?n=5', '/greet?name=bob']);
    await scrape();
    const wholeOurs = await gatewayProfile('job=svc');
    await quit(s1);
    const oracle1 = textfmt(run1);
    const wholeAgreement = agreement(blocks(wholeOurs), blocks(oracle1));
    console.log('    whole-run agreement (blocks):', JSON.stringify(wholeAgreement));
    expect(func(wholeOurs, 'gw1.txt')).to.equal(func(oracle1, 'oracle1.txt'));

    // The statement-weighted summary equals go tool cover -func's total.
    const summary = (await gw.api.get('/api/v1/coverage?job=svc&format=json-summary')).data.total;
    expect(summary.semantics).to.equal('go-statements');
    expect(((100 * summary.statements.covered) / summary.statements.total).toFixed(1)).to.equal(total(func(oracle1, 'oracle1.txt')));
    expect(summary.functions.available).to.equal(false);
    expect(summary.branches.available).to.equal(false);
    const metrics = String((await gw.api.get('/metrics')).data);
    expect(metrics).to.match(new RegExp(`covgate_coverage_covered\\{job="svc",service="svc",kind="statements"\\} ${summary.statements.covered}\\b`));
    expect(metrics).not.to.match(/covgate_coverage_ratio\{[^}]*service="svc"[^}]*kind="functions"/);

    // A new process at the same address registers again; its counters are not lower than the first run's.
    const s2 = await startService(new URL(s1.url).host, join(dir, 'cov2'));
    expect(s2.url).to.equal(s1.url);
    await registered('2');
    await traffic(s2.url, ['/add?a=1&b=2', '/add?a=3&b=4', '/fib?n=7', '/greet?name=ann', '/fib?n=12', '/greet?name=drwho', '/add?a=-5&b=1', '/fib?n=x', '/greet?name=']);
    await scrape();
    const bothOurs = await gatewayProfile('job=svc');
    const run2 = join(dir, 'cov2dump');
    mkdirSync(run2);
    await axios.post(`${s2.url}/oracle/dump?dir=${encodeURIComponent(run2)}`, undefined, { proxy: false });
    const spanEnd = await gw.api.post('/test-finished', { session: spanning.data.session });
    expect(spanEnd.status).to.be.oneOf([200, 202]);
    const bStart = blocks(textfmt(spanStart));
    const bRun1 = blocks(oracle1);
    const bRun2 = blocks(textfmt(run2));
    const spanOracle = new Map([...bRun1].map(([k, b]) => [k, { ...b, count: b.count - (bStart.get(k)?.count ?? 0) + (bRun2.get(k)?.count ?? 0) }]));
    const spanAgreement = agreement(blocks(await gatewayProfile(`session=${encodeURIComponent(spanning.data.session)}`)), spanOracle);
    console.log('    session spanning the restart agreement (blocks):', JSON.stringify(spanAgreement));
    const merged = join(dir, 'merged');
    mkdirSync(merged);
    go(['tool', 'covdata', 'merge', `-i=${run1},${run2}`, `-o=${merged}`]);
    const oracleBoth = textfmt(merged);
    const restartAgreement = agreement(blocks(bothOurs), blocks(oracleBoth));
    console.log('    restart (two lifetimes) agreement (blocks):', JSON.stringify(restartAgreement));
    expect(func(bothOurs, 'gw2.txt')).to.equal(func(oracleBoth, 'oracle2.txt'));

    // POST /api/v1/clear (goc clear): the agent's counters are reset through goc's /v1/cover/clear and
    // a target query shows only what ran since; the session keeps what it measured.
    const sessionBefore = await gatewayProfile(`session=${encodeURIComponent(started.data.session)}`);
    const cleared = await gw.api.post('/api/v1/clear', { job: 'svc' });
    expect(cleared.status, JSON.stringify(cleared.data)).to.equal(200);
    expect(cleared.data.data.results.map((r: { cleared: boolean }) => r.cleared)).to.deep.equal([true]);
    await traffic(s2.url, ['/fib?n=3', '/greet?name=drno']);
    await scrape();
    const sinceClear = await gatewayProfile('job=svc');
    const afterClear = join(dir, 'afterclear');
    mkdirSync(afterClear);
    await axios.post(`${s2.url}/oracle/dump?dir=${encodeURIComponent(afterClear)}`, undefined, { proxy: false });
    const oracleSinceClear = textfmt(afterClear);
    const clearAgreement = agreement(blocks(sinceClear), blocks(oracleSinceClear));
    console.log('    window after clear agreement (blocks):', JSON.stringify(clearAgreement));
    expect(func(sinceClear, 'gw3.txt')).to.equal(func(oracleSinceClear, 'oracle3.txt'));
    expect(await gatewayProfile(`session=${encodeURIComponent(started.data.session)}`)).to.equal(sessionBefore);

    // goc's `goc remove --service=svc`: POST /v1/cover/remove {"service":["svc"]} deregisters (after a final scrape).
    const removed = await gw.api.post('/v1/cover/remove', { service: ['svc'] });
    expect(removed.status, JSON.stringify(removed.data)).to.equal(200);
    expect(String(removed.data)).to.include(`${s2.url} removed from the center`);
    for (let i = 0; i < 200 && (await gw.api.get('/api/v1/targets')).data.data.activeTargets.length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await gw.api.get('/api/v1/targets')).data.data.activeTargets).to.deep.equal([]);
    await quit(s2);

    expect(clearAgreement).to.include({ hitMiss: 1, counts: 1, extra: 0 });
    expect(spanAgreement).to.include({ hitMiss: 1, counts: 1, extra: 0 });
    expect(wholeAgreement).to.include({ hitMiss: 1, counts: 1, extra: 0 });
    expect(sessionAgreement).to.include({ hitMiss: 1, counts: 1, extra: 0 });
    expect(restartAgreement).to.include({ hitMiss: 1, counts: 1, extra: 0 });
  });
});
