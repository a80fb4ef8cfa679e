/**
 * The OTP exporter (exporters/erlang, app covgate_exporter) in real nodes:
 * a small multi-module Erlang application started like a release
 * (erl -pa <ebin>, the exporter started as an application, configured by
 * COVGATE_* variables), an Elixir mix application run by `mix run`, and an OTP
 * cluster of two local nodes served by one exporter. Each node registers
 * itself with the real gateway, is driven by calls, and the gateway's lines
 * and hit counts must equal `cover:analyse(Mod, calls, line)` read on the
 * same node in Erlang's own term syntax: covered and uncovered lines, counts,
 * nothing extra; summed across a node restart (kill -9, new instance), and a
 * session equals the oracle's delta. Debian packages: erlang-nox, elixir.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import axios from 'axios';
import { expect } from 'chai';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { spawnProcess, type Spawned } from '../helpers/process.ts';
import { hasTool, requireTools, run } from './formats-tools.ts';

const EXPORTER = fileURLToPath(new URL('../../exporters/erlang', import.meta.url));

const CALC = `-module(calc).
-export([classify/1, unused/0]).

%% a comment line, not executable
classify(N) when N > 10 ->
    big;
classify(N) when N < 0 ->
    shop_util:neg(N);
classify(N) ->
    lists:foldl(fun(X, Acc) -> X + Acc end, 0, lists:seq(1, N)).

unused() ->
    ok.
`;

const SHOP_UTIL = `-module(shop_util).
-export([neg/1, never/1]).

neg(N) ->
    X = -N,
    {negative, X}.

never(X) ->
    case X of
        a -> 1;
        _ -> 2
    end.
`;

/** A long module, so the envelope passes 1 KiB and travels gzip-compressed to the gateway. */
const SHOP_TABLE = `-module(shop_table).
-export([rate/1]).

${Array.from({ length: 120 }, (_, i) => `rate(${i}) ->\n    ${i * 3};`).join('\n')}
rate(_) ->
    unknown.
`;

const SHOP_APP = `{application, shop, [{description, "test shop"}, {vsn, "1.0.0"}, {modules, [calc, shop_util, shop_table]},
  {registered, []}, {applications, [kernel, stdlib]}, {env, []}]}.
`;

/** Test driver, not covered: runs calls (on this or another node) and reads the oracle, over mod_esi. */
const DRIVE = `-module(drive).
-export([start/0, call/3, oracle/3, nodes/3]).

start() ->
    _ = inets:start(),
    {ok, Dir} = file:get_cwd(),
    {ok, Pid} = inets:start(httpd, [{port, 0}, {server_name, "drive"}, {server_root, Dir},
                                    {document_root, Dir}, {bind_address, {127,0,0,1}},
                                    {modules, [mod_esi]}, {erl_script_alias, {"/drive", [drive]}}]),
    {port, P} = lists:keyfind(port, 1, httpd:info(Pid)),
    io:format("DRIVE ~B~n", [P]).

term(Input) ->
    {ok, Tokens, _} = erl_scan:string(uri_string:percent_decode(Input) ++ "."),
    {ok, T} = erl_parse:parse_term(Tokens),
    T.

%% ?{Node, M, F, Args}: apply there (rpc to another node of the cluster).
call(Session, _Env, Input) ->
    {Node, M, F, A} = term(Input),
    R = case Node =:= node() of true -> apply(M, F, A); false -> rpc:call(Node, M, F, A) end,
    mod_esi:deliver(Session, ["Content-Type: text/plain\\r\\n\\r\\n", io_lib:format("~w", [R])]).

%% ?[M, ...]: cover:analyse(M, calls, line) for each, as is, in Erlang term syntax.
oracle(Session, _Env, Input) ->
    Ms = term(Input),
    mod_esi:deliver(Session, ["Content-Type: text/plain\\r\\n\\r\\n",
                              io_lib:format("~w", [[cover:analyse(M, calls, line) || M <- Ms]])]).

%% The nodes cover runs on (this one and the remote ones the exporter added).
nodes(Session, _Env, _Input) ->
    mod_esi:deliver(Session, ["Content-Type: text/plain\\r\\n\\r\\n", io_lib:format("~w", [cover:which_nodes()])]).
`;

const PRICING_EX = `defmodule ShopEx.Pricing do
  @moduledoc "Prices with discounts."

  def price(qty, unit) when qty >= 10 do
    total = qty * unit
    total - div(total, 10)
  end

  def price(qty, unit) do
    qty * unit
  end

  def label(n) do
    case n do
      0 -> "none"
      1 -> "one"
      _ -> "many"
    end
  end

  defmodule Rounding do
    def up(x), do: x + 1
    def down(x), do: x - 1
  end
end
`;

const SHOP_EX_MIX = `defmodule ShopEx.MixProject do
  use Mix.Project
  def project, do: [app: :shop_ex, version: "0.2.0", elixir: "~> 1.12", deps: deps()]
  def application, do: [extra_applications: [:logger]]
  defp deps, do: [{:covgate_exporter, path: ${JSON.stringify(EXPORTER)}}]
end
`;

type Lines = Map<number, number>;
type Files = Map<string, Lines>;

/** `[{ok,[{{Mod,Line},Calls},…]},…]` printed with ~w → module → line → calls (line 0 left out, as the exporter does). */
function parseOracle(text: string): Map<string, Lines> {
  const out = new Map<string, Lines>();
  for (const m of text.matchAll(/\{\{('(?:[^'\\]|\\.)*'|[a-z][\w@]*),(\d+)\},(\d+)\}/g)) {
    const mod = m[1]!.replace(/^'|'$/g, '');
    if (!out.has(mod)) out.set(mod, new Map());
    if (Number(m[2]) > 0) out.get(mod)!.set(Number(m[2]), (out.get(mod)!.get(Number(m[2])) ?? 0) + Number(m[3]));
  }
  if (text.includes('error')) throw new Error(`cover:analyse failed on the node: ${text}`);
  return out;
}

/** Line hits per file from the gateway's LCOV output (DA:line,count). */
function lcovFiles(lcov: string): Files {
  const out: Files = new Map();
  let cur: Lines | undefined;
  for (const line of lcov.split('\n')) {
    if (line.startsWith('SF:')) out.set(line.slice(3), (cur = new Map()));
    const m = /^DA:(\d+),(\d+)/.exec(line);
    if (cur && m) cur.set(Number(m[1]), Number(m[2]));
  }
  return out;
}

const addLines = (a: Lines, b: Lines, sign = 1): Lines => {
  const out = new Map(a);
  for (const [l, c] of b) out.set(l, (out.get(l) ?? 0) + sign * c);
  return out;
};
const addFiles = (a: Files, b: Files, sign = 1): Files => {
  const out: Files = new Map(a);
  for (const [f, lines] of b) out.set(f, addLines(out.get(f) ?? new Map(), lines, sign));
  return out;
};

/** Exact equality of two file → line → count maps, with a readable diff on failure. */
function expectSame(ours: Files, oracle: Files, what: string): void {
  const show = (f: Files) => Object.fromEntries([...f].sort().map(([k, v]) => [k, Object.fromEntries([...v].sort((x, y) => x[0] - y[0]))]));
  expect(show(ours), what).to.deep.equal(show(oracle));
  const counts = [...oracle.values()].flatMap((l) => [...l.values()]);
  console.log(`    ${what}: ${counts.length} executable lines equal cover:analyse (${counts.filter((c) => c > 0).length} covered, ${counts.filter((c) => c === 0).length} uncovered, ${counts.reduce((a, b) => a + b, 0)} calls)`);
}

interface Node {
  name: string;
  proc: Spawned;
  drive: string;
  exporter: string;
}

describe('interop: the OTP exporter (covgate_exporter) against cover:analyse', function () {
  this.timeout(180_000);
  let dir: string;
  let gw: GatewayProcess | undefined;
  const procs: Spawned[] = [];

  before(async function () {
    requireTools(this, ['erl', 'erlc'], 'erlang-nox');
    dir = mkdtempSync(join(tmpdir(), 'covgate-erlexp-'));
    // The exporter as a release would ship it: beams plus the .app file.
    mkdirSync(join(dir, 'exporter', 'ebin'), { recursive: true });
    run('erlc', ['+debug_info', '-o', join(dir, 'exporter', 'ebin'), ...['covgate_exporter', 'covgate_exporter_app', 'covgate_exporter_sup', 'covgate_exporter_httpd', 'covgate_exporter_json'].map((m) => join(EXPORTER, 'src', `${m}.erl`))]);
    copyFileSync(join(EXPORTER, 'src', 'covgate_exporter.app.src'), join(dir, 'exporter', 'ebin', 'covgate_exporter.app'));
    // The application under test, with debug_info (what a release must keep).
    mkdirSync(join(dir, 'shop', 'src'), { recursive: true });
    mkdirSync(join(dir, 'shop', 'ebin'), { recursive: true });
    writeFileSync(join(dir, 'shop', 'src', 'calc.erl'), CALC);
    writeFileSync(join(dir, 'shop', 'src', 'shop_util.erl'), SHOP_UTIL);
    writeFileSync(join(dir, 'shop', 'src', 'shop_table.erl'), SHOP_TABLE);
    writeFileSync(join(dir, 'shop', 'ebin', 'shop.app'), SHOP_APP);
    run('erlc', ['+debug_info', '-o', 'ebin', 'src/calc.erl', 'src/shop_util.erl', 'src/shop_table.erl'], { cwd: join(dir, 'shop') });
    mkdirSync(join(dir, 'drive'));
    writeFileSync(join(dir, 'drive', 'drive.erl'), DRIVE);
    run('erlc', ['drive.erl'], { cwd: join(dir, 'drive') });
    gw = await startGatewayProcess({ configYaml: 'registration:\n  enabled: true\n  allowed_targets: [127.0.0.0/8]\nscrape_configs: []\n' });
  });
  after(async () => {
    for (const p of procs) await p.kill('SIGKILL').catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts a node with the exporter (and the driver) and waits until it served and registered. */
  async function startNode(opts: { name: string; env: Record<string, string>; pa?: string[]; cwd?: string; mixRun?: boolean }): Promise<Node> {
    const env = { ERL_EPMD_ADDRESS: '127.0.0.1', COVGATE_GATEWAY: gw!.url, ...opts.env };
    const proc = opts.mixRun
      // The README's start for Elixir: mix starts the dependency covgate_exporter before the app.
      ? spawnProcess('elixir', ['--sname', `${opts.name}@localhost`, '--cookie', 'covgate_test',
        '--erl', `-kernel inet_dist_use_interface {127,0,0,1} -pa ${join(dir, 'drive')}`,
        '-S', 'mix', 'run', '--no-halt', '-e', ':drive.start()'], { cwd: opts.cwd, env })
      // A release-like Erlang node: the exporter and the app on the code path, the exporter started as an application.
      : spawnProcess('erl', ['-noshell', '-sname', `${opts.name}@localhost`, '-setcookie', 'covgate_test',
        '-kernel', 'inet_dist_use_interface', '{127,0,0,1}', '-pa', join(dir, 'exporter', 'ebin'), '-pa', join(dir, 'drive'),
        ...(opts.pa ?? []).flatMap((p) => ['-pa', p]), '-eval', '{ok, _} = application:ensure_all_started(covgate_exporter), drive:start()'],
      { cwd: opts.cwd ?? dir, env });
    procs.push(proc);
    const served = proc.waitForLine(/serving coverage on (http:\/\/127\.0\.0\.1:\d+)\/coverage/, 60_000);
    const registered = proc.waitForLine(/registered at /, 60_000);
    const drive = proc.waitForLine(/DRIVE (\d+)/, 60_000);
    const [s, , d] = await Promise.all([served, registered, drive]);
    return { name: opts.name, proc, exporter: s[1]!, drive: `http://127.0.0.1:${d[1]}` };
  }

  async function kill9(n: Node): Promise<void> {
    const exited = once(n.proc.proc, 'exit');
    n.proc.proc.kill('SIGKILL');
    await exited;
  }

  const call = async (n: Node, node: string, mod: string, fn: string, args: unknown[]) => {
    const term = `{'${node}@localhost',${mod},${fn},[${args.map((a) => JSON.stringify(a)).join(',')}]}`;
    const r = await axios.get(`${n.drive}/drive/drive:call?${encodeURIComponent(term)}`, { proxy: false, responseType: 'text' });
    return String(r.data);
  };

  /** cover:analyse(M, calls, line) on the node, per source file (modules of one file added up). */
  async function oracle(n: Node, modsByFile: Record<string, string[]>): Promise<Files> {
    const mods = Object.values(modsByFile).flat();
    const r = await axios.get(`${n.drive}/drive/drive:oracle?${encodeURIComponent(`[${mods.map((m) => `'${m}'`).join(',')}]`)}`,
      { proxy: false, responseType: 'text' });
    const perMod = parseOracle(String(r.data));
    const out: Files = new Map();
    for (const [file, ms] of Object.entries(modsByFile)) {
      let lines: Lines = new Map();
      for (const m of ms) lines = addLines(lines, perMod.get(m) ?? new Map());
      out.set(file, lines);
    }
    return out;
  }

  async function scrape(job: string): Promise<void> {
    const r = await gw!.api.post('/api/v1/scrape', { job });
    expect(r.status).to.equal(200);
    expect(r.data.data.results.length, JSON.stringify(r.data)).to.be.greaterThan(0);
    for (const x of r.data.data.results) expect(x.result, x.error).to.equal('success');
  }
  async function ours(query: string): Promise<Files> {
    const r = await gw!.api.get(`/api/v1/coverage?${query}&format=lcov`, { responseType: 'text', transformResponse: (x) => x });
    expect(r.status, String(r.data)).to.equal(200);
    return lcovFiles(String(r.data));
  }

  const SHOP_FILES = { 'src/calc.erl': ['calc'], 'src/shop_util.erl': ['shop_util'], 'src/shop_table.erl': ['shop_table'] };
  const shopEnv = (extra: Record<string, string> = {}) => ({ COVGATE_APPS: 'shop', COVGATE_JOB: 'shop', COVGATE_SOURCE_ROOT: join(dir, 'shop'), ...extra });

  it('an Erlang application: lines and counts equal cover:analyse, across a kill -9 restart, for a session spanning it and after a clear', async () => {
    const first = await startNode({ name: 'shop1', env: shopEnv(), pa: [join(dir, 'shop', 'ebin')] });
    const port = new URL(first.exporter).port;
    const envelope = (await axios.get(`${first.exporter}/coverage`, { proxy: false })).data;
    expect(envelope).to.include({ format: 'coveralls', counters: 'cumulative' });
    expect(envelope.instance).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Object.keys(envelope.data.files).sort()).to.deep.equal(['src/calc.erl', 'src/shop_table.erl', 'src/shop_util.erl']);
    const gz = await axios.get(`${first.exporter}/coverage`, { proxy: false, headers: { 'Accept-Encoding': 'gzip' }, decompress: false, responseType: 'arraybuffer' });
    expect(gz.headers['content-encoding'], 'the envelope is over 1 KiB: gzip').to.equal('gzip');
    expect(envelope.data.files['src/calc.erl']['4'], 'a comment line is not executable').to.equal(null);

    for (const n of [3, -4, 50, 7]) await call(first, 'shop1', 'calc', 'classify', [n]);
    for (const n of [0, 5, 5, 119, 400]) await call(first, 'shop1', 'shop_table', 'rate', [n]);
    await scrape('shop');
    const oracle1 = await oracle(first, SHOP_FILES);
    expect([...oracle1.get('src/calc.erl')!.values()].some((c) => c === 0), 'uncovered lines exist').to.equal(true);
    expect([...oracle1.get('src/calc.erl')!.values()].some((c) => c > 1), 'lines hit more than once exist').to.equal(true);
    expectSame(await ours('job=shop'), oracle1, 'one node');

    // A session spanning a restart: more calls, a scrape, kill -9, a new node on the same address
    // (a new instance), more calls; the session ends with the final scrape.
    const started = await gw!.api.post('/test-started', { selector: { job: 'shop' } });
    expect(started.status).to.equal(201);
    for (const n of [60, 8, -1]) await call(first, 'shop1', 'calc', 'classify', [n]);
    await scrape('shop');
    const oracle1End = await oracle(first, SHOP_FILES);
    await kill9(first);
    const second = await startNode({ name: 'shop2', env: shopEnv({ COVGATE_LISTEN: `127.0.0.1:${port}` }), pa: [join(dir, 'shop', 'ebin')] });
    expect(second.exporter).to.equal(first.exporter);
    const instance2 = (await axios.get(`${second.exporter}/coverage`, { proxy: false })).data.instance;
    expect(instance2).to.not.equal(envelope.instance);
    for (const n of [2, 2, 11]) await call(second, 'shop2', 'calc', 'classify', [n]);
    await call(second, 'shop2', 'shop_util', 'never', ['b']);
    const finished = await gw!.api.post('/test-finished', { session: started.data.session, wait: true });
    expect(finished.status, JSON.stringify(finished.data)).to.be.oneOf([200, 202]);
    const oracle2 = await oracle(second, SHOP_FILES);

    expectSame(await ours('job=shop'), addFiles(oracle1End, oracle2), 'summed across the restart');
    expectSame(await ours(`session=${encodeURIComponent(started.data.session)}`),
      addFiles(addFiles(oracle1End, oracle1, -1), oracle2), 'the session (oracle delta)');

    // The gateway's clear calls POST /coverage/reset (cover:reset on the node) and starts a new
    // window: the window is then exactly what cover counted since.
    const cleared = await gw!.api.post('/api/v1/clear', { job: 'shop' });
    expect(cleared.status, JSON.stringify(cleared.data)).to.equal(200);
    expect(cleared.data.data.results[0]).to.include({ cleared: true, error: '' });
    for (const n of [1, 12]) await call(second, 'shop2', 'calc', 'classify', [n]);
    await scrape('shop');
    expectSame(await ours('job=shop'), await oracle(second, SHOP_FILES), 'the window after a clear');

    // POST /coverage/reset zeroes cover's counts on the node.
    const reset = await axios.post(`${second.exporter}/coverage/reset`, '', { proxy: false });
    expect(reset.status).to.equal(204);
    const zero = await oracle(second, SHOP_FILES);
    expect([...zero.values()].flatMap((l) => [...l.values()]).every((c) => c === 0)).to.equal(true);
    const after = (await axios.get(`${second.exporter}/coverage`, { proxy: false })).data.data.files['src/calc.erl'] as Record<string, number | null>;
    expect(Object.values(after).every((c) => c === null || c === 0)).to.equal(true);
    // Anything else is a clear 4xx.
    const bad = await axios.get(`${second.exporter}/nope`, { proxy: false, validateStatus: () => true });
    expect(bad.status).to.equal(404);
    expect(bad.data.error).to.match(/\/nope/);
    const wrong = await axios.delete(`${second.exporter}/coverage`, { proxy: false, validateStatus: () => true });
    expect(wrong.status).to.equal(405);
    // A graceful stop (SIGTERM: init:stop/0, the application stops) deregisters the target.
    const exited = once(second.proc.proc, 'exit');
    second.proc.proc.kill('SIGTERM');
    await exited;
    expect(second.proc.output()).to.match(/deregistered /);
    const targets = (await gw!.api.get('/api/v1/targets')).data.data.activeTargets as Array<{ labels: Record<string, string> }>;
    expect(targets.filter((t) => t.labels.job === 'shop')).to.deep.equal([]);
  });

  it('registration retries with backoff while the gateway refuses, renews at ttl/3 with the same body, deletes its lease on stop', async () => {
    // Failure injection: a stand-in gateway that refuses twice (503), then grants a lease.
    const seen: Array<{ method: string; url: string; auth: string | undefined; body: string }> = [];
    const waiters: Array<() => void> = [];
    const fake = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body });
        const posts = seen.filter((x) => x.method === 'POST').length;
        if (req.method === 'POST' && posts <= 2) res.writeHead(503).end('starting');
        else if (req.method === 'POST') res.writeHead(201, { 'Content-Type': 'application/json' }).end('{"id":"lease-\\"7","expiresAt":"x"}');
        else res.writeHead(204).end();
        for (const w of waiters.splice(0)) w();
      });
    });
    fake.listen(0, '127.0.0.1');
    await once(fake, 'listening');
    const fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
    const until = async (what: string, cond: () => boolean) => {
      const deadline = Date.now() + 30_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`never saw ${what}: ${JSON.stringify(seen)}`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 1000); });
      }
    };
    try {
      const node = await startNode({ name: 'shopreg', pa: [join(dir, 'shop', 'ebin')],
        env: shopEnv({ COVGATE_GATEWAY: fakeUrl, COVGATE_TTL: '3s', COVGATE_TOKEN: 's3cret', COVGATE_SERVICE: 'orders', COVGATE_LABELS: 'release=2026.11' }) });
      // 2 refusals + the grant + 2 renewals (every second with a 3 s lease).
      await until('two renewals', () => seen.filter((x) => x.method === 'POST').length >= 5);
      const posts = seen.filter((x) => x.method === 'POST');
      for (const p of posts) {
        expect(p.url).to.equal('/api/v1/targets');
        expect(p.auth).to.equal('Bearer s3cret');
        expect(JSON.parse(p.body)).to.deep.equal({ job: 'shop', url: node.exporter, labels: { service: 'orders', release: '2026.11' }, ttl: '3s' });
      }
      expect(node.proc.output()).to.match(/registration at .* failed \(gateway answered 503: starting\); retrying with backoff/);
      const exited = once(node.proc.proc, 'exit');
      node.proc.proc.kill('SIGTERM');
      await exited;
      const del = seen.filter((x) => x.method === 'DELETE');
      expect(del.map((x) => x.url)).to.deep.equal([`/api/v1/targets/${encodeURIComponent('lease-"7')}`]);
      expect(del[0]!.auth).to.equal('Bearer s3cret');
    } finally {
      fake.close();
    }
  });

  it('the exporter\'s pure parts pass their EUnit tests (listen, ttl, labels, paths, line map, JSON, lease id)', () => {
    const out = join(dir, 'eunit');
    mkdirSync(out);
    run('erlc', ['-o', out, join(EXPORTER, 'test', 'covgate_exporter_tests.erl'), ...['covgate_exporter', 'covgate_exporter_json'].map((m) => join(EXPORTER, 'src', `${m}.erl`))]);
    const text = run('erl', ['-noshell', '-pa', out, '-eval', 'R = eunit:test(covgate_exporter_tests, [verbose]), halt(case R of ok -> 0; _ -> 1 end).']);
    expect(text).to.match(/All \d+ tests passed/);
  });

  it('builds and passes its EUnit tests with rebar3, as a rebar3 project uses it', function () {
    requireTools(this, ['rebar3'], 'rebar3');
    const copy = join(dir, 'rebar3-project');
    cpSync(EXPORTER, copy, { recursive: true, filter: (src) => !src.includes('_build') && !src.includes('/deps') });
    const out = run('rebar3', ['eunit'], { cwd: copy, env: { NO_COLOR: '1', TERM: 'dumb' } });
    expect(out).to.match(/Compiling covgate_exporter/);
    expect(out).to.match(/\d+ tests, 0 failures/);
    expect(existsSync(join(copy, '_build', 'test', 'lib', 'covgate_exporter', 'ebin', 'covgate_exporter.app'))).to.equal(true);
  });

  it('one exporter serves an OTP cluster: calls on a second node are counted, across that node\'s restart', async () => {
    const startWorker = async (name: string): Promise<Spawned> => {
      // A plain node of the cluster: no exporter and not even the application's beams (cover loads its own).
      const p = spawnProcess('erl', ['-noshell', '-sname', `${name}@localhost`, '-setcookie', 'covgate_test',
        '-kernel', 'inet_dist_use_interface', '{127,0,0,1}', '-eval', 'io:format("UP~n")'],
      { cwd: dir, env: { ERL_EPMD_ADDRESS: '127.0.0.1' } });
      procs.push(p);
      await p.waitForLine(/^UP/, 60_000);
      return p;
    };
    let worker = await startWorker('cworker');
    const main = await startNode({ name: 'cmain', env: shopEnv({ COVGATE_JOB: 'cluster', COVGATE_NODES: 'cworker@localhost' }), pa: [join(dir, 'shop', 'ebin')] });
    const coverNodes = async () => String((await axios.get(`${main.drive}/drive/drive:nodes`, { proxy: false, responseType: 'text' })).data);
    expect(await coverNodes()).to.contain('cworker@localhost');

    for (const n of [1, 20, -2]) await call(main, 'cworker', 'calc', 'classify', [n]);
    for (const n of [4]) await call(main, 'cmain', 'calc', 'classify', [n]);
    await scrape('cluster');
    const before = await oracle(main, SHOP_FILES);
    expect(before.get('src/calc.erl')!.get(6), 'classify/1 clause 1 (big) ran on the worker').to.equal(1);
    expectSame(await ours('job=cluster'), before, 'two nodes');

    // The worker dies (kill -9) and comes back: what the exporter collected stays, the new
    // worker is covered again (the exporter retries listed nodes), and its calls add up.
    const exited = once(worker.proc, 'exit');
    worker.proc.kill('SIGKILL');
    await exited;
    worker = await startWorker('cworker');
    for (let i = 0; i < 200 && !(await coverNodes()).includes('cworker@localhost'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await coverNodes()).to.contain('cworker@localhost');
    for (const n of [30, 30, 6]) await call(main, 'cworker', 'calc', 'classify', [n]);
    await scrape('cluster');
    const afterRestart = await oracle(main, SHOP_FILES);
    expect(afterRestart.get('src/calc.erl')!.get(6)).to.equal(3);
    expectSame(await ours('job=cluster'), afterRestart, 'two nodes, one restarted');
    await kill9(main);
    await worker.kill('SIGKILL');
  });

  it('an Elixir mix application: lines and counts equal cover:analyse, modules of one file added up', async function () {
    if (!hasTool('mix') || !hasTool('elixir')) {
      if (process.env.CI) throw new Error('elixir/mix not installed (Debian: apt-get install -y elixir); required under CI');
      this.skip();
    }
    const proj = join(dir, 'shop_ex');
    mkdirSync(join(proj, 'lib', 'shop_ex'), { recursive: true });
    writeFileSync(join(proj, 'mix.exs'), SHOP_EX_MIX);
    writeFileSync(join(proj, 'lib', 'shop_ex', 'pricing.ex'), PRICING_EX);
    // Offline: the exporter is a path dependency with no dependencies of its own, so no Hex.
    const mixEnv = { MIX_HOME: join(dir, 'mix-home'), HEX_OFFLINE: '1', MIX_ENV: 'dev' };
    run('mix', ['compile'], { cwd: proj, env: mixEnv });
    const node = await startNode({
      name: 'shopex',
      mixRun: true,
      cwd: proj,
      env: { ...mixEnv, COVGATE_APPS: 'shop_ex', COVGATE_JOB: 'shop_ex' },   // source_root: the working directory
    });
    const P = "'Elixir.ShopEx.Pricing'";
    const R = "'Elixir.ShopEx.Pricing.Rounding'";
    for (const [q, u] of [[12, 5], [2, 3], [3, 3]]) await call(node, 'shopex', P, 'price', [q, u]);
    for (const n of [0, 5, 5]) await call(node, 'shopex', P, 'label', [n]);
    await call(node, 'shopex', R, 'up', [1]);
    await scrape('shop_ex');
    const files = { 'lib/shop_ex/pricing.ex': ['Elixir.ShopEx.Pricing', 'Elixir.ShopEx.Pricing.Rounding'] };
    const o = await oracle(node, files);
    expect([...o.get('lib/shop_ex/pricing.ex')!.values()]).to.include(0);
    expectSame(await ours('job=shop_ex'), o, 'Elixir');
    await kill9(node);
  });
});
