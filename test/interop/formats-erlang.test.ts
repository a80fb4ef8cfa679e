/**
 * Interop with Erlang/OTP `cover`: a module is cover-compiled and run, its
 * `cover:analyse(Mod, calls, line)` result is written as the coveralls line
 * map (what ex_integration_coveralls serves) by a tiny `erl -eval`, and the
 * decoder must report the same lines. Debian package: erlang-nox.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { decodePayload } from '../../gateway/formats/index.ts';
import { describeFile } from '../formats/fixtures.ts';
import { requireTools, run } from './formats-tools.ts';

const MODULE = `-module(calc).
-export([classify/1, unused/0]).

classify(N) when N > 10 ->
    big;
classify(_N) ->
    small.

unused() ->
    ok.
`;

// Cover-compile, run classify/1 twice, analyse per line, print {"files":{Path:{Line:Calls}}}.
const EVAL = `
{ok, calc} = cover:compile_module("calc.erl"),
small = calc:classify(3),
small = calc:classify(4),
{ok, Lines} = cover:analyse(calc, calls, line),
{ok, Cwd} = file:get_cwd(),
Path = filename:join(Cwd, "calc.erl"),
Pairs = [io_lib:format("\\"~B\\":~B", [L, C]) || {{calc, L}, C} <- Lines, L > 0],
io:format("{\\"files\\":{\\"~s\\":{~s}}}", [Path, lists:join(",", Pairs)]),
halt().
`;

describe('interop: Erlang cover line map (coveralls format)', function () {
  let dir: string;
  before(function () {
    requireTools(this, ['erl'], 'erlang-nox');
    dir = mkdtempSync(join(tmpdir(), 'covgate-erl-'));
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('decodes cover:analyse(Mod, calls, line) exported as a line map', async () => {
    writeFileSync(join(dir, 'calc.erl'), MODULE);
    const json = run('erl', ['-noshell', '-eval', EVAL], { cwd: dir });
    const decoded = await decodePayload(json, { declaredFormat: 'auto', contentType: 'application/json' });
    expect(decoded.format).to.equal('coveralls');
    const path = join(dir, 'calc.erl');
    expect(Object.keys(decoded.coverage!)).to.deep.equal([path]);
    const lines = describeFile(decoded.coverage!, path).lines;
    expect(lines['5']).to.equal(0); // big: the guard never matched
    expect(lines['7']).to.equal(2); // small: both calls
    expect(lines['10']).to.equal(0); // unused/0 never called
  });
});
