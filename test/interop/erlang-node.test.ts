/**
 * Erlang oracle test: a module under OTP `cover` in a real node with a minimal
 * inets (mod_esi) endpoint serving the coveralls line map of
 * `cover:analyse(Mod, calls, line)` (what ex_integration_coveralls serves),
 * scraped by the real gateway with `format: coveralls`. The gateway's lines
 * and counts must equal `cover:analyse(calc, calls, line)` read from the same
 * node in Erlang's own term syntax, also summed across a node restart at the
 * same address. Debian package: erlang-nox.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import axios from 'axios';
import { expect } from 'chai';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { spawnProcess, type Spawned } from '../helpers/process.ts';
import { requireTools, run } from './formats-tools.ts';

const CALC = `-module(calc).
-export([classify/1, unused/0]).

classify(N) when N > 10 ->
    big;
classify(N) when N < 0 ->
    negative;
classify(_N) ->
    small.

unused() ->
    ok.
`;

const COVAPI = `-module(covapi).
-export([start/0, report/3, call/3, oracle/3]).

%% A node under test: calc cover-compiled, an inets endpoint serving the
%% coveralls line map of cover:analyse(calc, calls, line) (what
%% ex_integration_coveralls serves), traffic and the oracle.
start() ->
    {ok, calc} = cover:compile_module("calc.erl"),
    ok = inets:start(),
    {ok, Dir} = file:get_cwd(),
    Port = list_to_integer(os:getenv("PORT", "0")),
    {ok, Pid} = inets:start(httpd, [{port, Port}, {server_name, "covnode"}, {server_root, Dir},
                                    {document_root, Dir}, {bind_address, {127,0,0,1}},
                                    {modules, [mod_esi]}, {erl_script_alias, {"/api", [covapi]}}]),
    {port, P} = lists:keyfind(port, 1, httpd:info(Pid)),
    io:format("LISTEN ~B~n", [P]).

report(Session, _Env, _Input) ->
    {ok, Lines} = cover:analyse(calc, calls, line),
    {ok, Cwd} = file:get_cwd(),
    Path = filename:join(Cwd, "calc.erl"),
    Pairs = [io_lib:format("\\"~B\\":~B", [L, C]) || {{calc, L}, C} <- Lines, L > 0],
    mod_esi:deliver(Session, ["Content-Type: application/json\\r\\n\\r\\n",
                              io_lib:format("{\\"files\\":{\\"~s\\":{~s}}}", [Path, lists:join(",", Pairs)])]).

call(Session, _Env, Input) ->
    N = list_to_integer(Input),
    mod_esi:deliver(Session, ["Content-Type: text/plain\\r\\n\\r\\n", atom_to_list(calc:classify(N))]).

%% The oracle, in Erlang's own term syntax: cover:analyse(calc, calls, line) as is.
oracle(Session, _Env, _Input) ->
    {ok, Lines} = cover:analyse(calc, calls, line),
    mod_esi:deliver(Session, ["Content-Type: text/plain\\r\\n\\r\\n", io_lib:format("~p", [Lines])]).
`;

/** `cover:analyse(calc, calls, line)` printed with ~p: [{{calc,Line},Calls},...] → line → calls. */
function parseOracle(text: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of text.matchAll(/\{\{calc,(\d+)\},(\d+)\}/g)) if (Number(m[1]) > 0) out.set(Number(m[1]), Number(m[2]));
  return out;
}

/** Line hits of one file from the gateway's LCOV output (DA:line,count). */
function lcovLines(lcov: string, path: string): Map<number, number> {
  const out = new Map<number, number>();
  let inFile = false;
  for (const line of lcov.split('\n')) {
    if (line.startsWith('SF:')) inFile = line.slice(3) === path;
    const m = /^DA:(\d+),(\d+)/.exec(line);
    if (inFile && m) out.set(Number(m[1]), Number(m[2]));
  }
  return out;
}

function agreement(ours: Map<number, number>, oracle: Map<number, number>) {
  let hitMiss = 0;
  let counts = 0;
  for (const [l, c] of oracle) {
    const g = ours.get(l);
    if (g !== undefined && g > 0 === c > 0) hitMiss++;
    if (g === c) counts++;
  }
  return { lines: oracle.size, hitMiss: hitMiss / oracle.size, counts: counts / oracle.size, extra: [...ours.keys()].filter((l) => !oracle.has(l)).length };
}

const sum = (a: Map<number, number>, b: Map<number, number>) => new Map([...a].map(([l, c]) => [l, c + (b.get(l) ?? 0)]));

describe('interop: an Erlang node under cover, scraped as coveralls, against cover:analyse', function () {
  this.timeout(120_000);
  let dir: string;
  let gw: GatewayProcess | undefined;
  const nodes: Spawned[] = [];

  before(function () {
    requireTools(this, ['erl', 'erlc'], 'erlang-nox');
    dir = mkdtempSync(join(tmpdir(), 'covgate-erlnode-'));
    writeFileSync(join(dir, 'calc.erl'), CALC);
    writeFileSync(join(dir, 'covapi.erl'), COVAPI);
    run('erlc', ['covapi.erl'], { cwd: dir });
  });
  after(async () => {
    for (const n of nodes) await n.kill('SIGKILL').catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function startNode(port: number): Promise<{ base: string; node: Spawned }> {
    const node = spawnProcess('erl', ['-noshell', '-pa', '.', '-eval', 'covapi:start()'], { cwd: dir, env: { PORT: String(port) } });
    nodes.push(node);
    const m = await node.waitForLine(/LISTEN (\d+)/, 30_000);
    return { base: `http://127.0.0.1:${m[1]}`, node };
  }
  const call = async (base: string, ns: number[]) => {
    for (const n of ns) await axios.get(`${base}/api/covapi:call?${n}`, { proxy: false });
  };
  const oracle = async (base: string) => parseOracle(String((await axios.get(`${base}/api/covapi:oracle`, { proxy: false, responseType: 'text' })).data));
  async function scrape(): Promise<void> {
    const r = await gw!.api.post('/api/v1/scrape', { job: 'erl' });
    expect(r.status).to.equal(200);
    for (const x of r.data.data.results) expect(x.result, x.error).to.equal('success');
  }
  const ours = async () => {
    const r = await gw!.api.get('/api/v1/coverage?job=erl&format=lcov', { responseType: 'text', transformResponse: (x) => x });
    expect(r.status).to.equal(200);
    return lcovLines(String(r.data), join(dir, 'calc.erl'));
  };

  it('lines and counts equal cover:analyse(calc, calls, line), summed across a node restart, and for a session spanning it', async () => {
    const first = await startNode(0);
    const port = Number(new URL(first.base).port);
    gw = await startGatewayProcess({
      configYaml: `scrape_configs:\n  - job_name: erl\n    format: coveralls\n    coverage_path: /api/covapi:report\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`,
    });
    await call(first.base, [3, 4, 50, 7]);
    await scrape();
    const oracle1 = await oracle(first.base);
    const run1 = agreement(await ours(), oracle1);
    console.log('    one node agreement (lines):', JSON.stringify(run1));
    expect(run1).to.include({ hitMiss: 1, counts: 1, extra: 0 });

    const summary = (await gw.api.get('/api/v1/coverage?job=erl&format=json-summary')).data.total;
    expect(summary.functions.available).to.equal(false);
    expect(summary.branches.available).to.equal(false);

    // A session that spans a node restart: it starts here, the node runs more, is scraped (as the
    // interval would) and killed with -9, a new node starts on the same port and runs, the session ends.
    const started = await gw.api.post('/test-started', { selector: { job: 'erl' } });
    expect(started.status).to.equal(201);
    await call(first.base, [60, 8]);
    await scrape();
    const oracle1End = await oracle(first.base);
    const exited = once(first.node.proc, 'exit');
    first.node.proc.kill('SIGKILL');
    await exited;
    const second = await startNode(port);
    expect(second.base).to.equal(first.base);
    await call(second.base, [-1, 2]);
    const finished = await gw.api.post('/test-finished', { session: started.data.session });
    expect(finished.status).to.be.oneOf([200, 202]);
    const oracle2 = await oracle(second.base);

    const both = agreement(await ours(), sum(oracle1End, oracle2));
    console.log('    across a restart agreement (lines):', JSON.stringify(both));
    const sessionOracle = sum(new Map([...oracle1End].map(([l, c]) => [l, c - (oracle1.get(l) ?? 0)])), oracle2);
    const r = await gw.api.get(`/api/v1/coverage?session=${encodeURIComponent(started.data.session)}&format=lcov`, { responseType: 'text', transformResponse: (x) => x });
    const session = agreement(lcovLines(String(r.data), join(dir, 'calc.erl')), sessionOracle);
    console.log('    session spanning a restart agreement (lines):', JSON.stringify(session));
    expect(both).to.include({ hitMiss: 1, counts: 1, extra: 0 });
    expect(session).to.include({ hitMiss: 1, counts: 1, extra: 0 });
  });
});
