import { request } from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { parse } from 'acorn';
import astV8ToIstanbul from 'ast-v8-to-istanbul';
import { mergeScriptCovs, type ScriptCov } from '@bcoe/v8-coverage';
import { expect } from 'chai';
import { applyPlan, learnPlan, paintOffsets, paintRanges, syntheticFunctions } from '../../exporters/shared/v8-plan.ts';
import { createV8Accumulator } from '../../exporters/shared/v8-accumulator.ts';

/** ast-v8-to-istanbul itself: the oracle for every plan. */
async function library(url: string, code: string, functions: unknown) {
  const ast = parse(code, { ecmaVersion: 'latest', sourceType: 'script', allowReturnOutsideFunction: true, allowHashBang: true });
  return astV8ToIstanbul({ code, ast: ast as never, coverage: { url, functions: functions as never } });
}

const counters = (m: Record<string, { s: object; f: object; b: object }>) => Object.fromEntries(Object.entries(m).map(([p, f]) => [p, { s: f.s, f: f.f, b: f.b }]));

describe('exporters/shared V8 conversion plans (real express coverage, ast-v8-to-istanbul as the oracle)', function () {
  this.timeout(120_000);
  const takes: ScriptCov[][] = [];
  const sources = new Map<string, string>();

  before(async () => {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Debugger.enable');
    await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
    const wanted = (s: ScriptCov) => s.url.startsWith('file:') && /\/node_modules\/express\/lib\/.*\.js$/.test(s.url);
    const take = async () => ((await session.post('Profiler.takePreciseCoverage')).result as ScriptCov[]).filter(wanted);
    const express = createRequire(import.meta.url)('express') as typeof import('express');
    const app = express();
    app.set('env', 'test'); // no error stacks on stderr
    app.get('/u/:id', (req, res) => res.json({ id: req.params.id }));
    app.get('/boom', () => {
      throw new Error('x');
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    const get = (path: string) => new Promise<void>((resolve) => request({ port, path, agent: false }, (res) => res.resume().on('end', resolve)).end());
    takes.push(await take());
    for (let i = 0; i < 6; i++) await get(`/u/${i}`);
    takes.push(await take());
    for (let i = 0; i < 4; i++) await get(i % 2 ? '/boom' : '/nope');
    takes.push(await take());
    server.close();
    for (const s of takes.flat()) {
      if (!sources.has(s.url)) sources.set(s.url, (await session.post('Debugger.getScriptSource', { scriptId: s.scriptId })).scriptSource);
    }
    await session.post('Profiler.stopPreciseCoverage');
    session.disconnect();
  });

  it('a plan read off two synthetic conversions gives the library\'s counters for every cumulative take', async () => {
    const cumulative = new Map<string, ScriptCov>();
    let planned = 0;
    let checked = 0;
    const plans = new Map<string, ReturnType<typeof learnPlan>>();
    for (const [url, code] of sources) {
      const a = await library(url, code, syntheticFunctions(code.length, 1));
      const b = await library(url, code, syntheticFunctions(code.length, 3));
      plans.set(url, learnPlan(a as never, b as never));
    }
    for (const take of takes) {
      for (const s of take) cumulative.set(s.url, cumulative.has(s.url) ? mergeScriptCovs([cumulative.get(s.url)!, structuredClone(s)])! : structuredClone(s));
      for (const [url, cov] of cumulative) {
        const plan = plans.get(url);
        if (!plan) continue;
        const real = await library(url, sources.get(url)!, cov.functions);
        expect(applyPlan(plan, cov.functions), url).to.deep.equal(counters(real as never));
        checked++;
      }
    }
    for (const p of plans.values()) if (p) planned++;
    expect(planned, `plans for ${planned}/${plans.size} express files`).to.be.greaterThanOrEqual(Math.ceil(plans.size * 0.9));
    expect(checked).to.be.greaterThan(20);
  });

  it('the accumulator converts by plan from the third take on, with exactly the library\'s output', async () => {
    const acc = createV8Accumulator({ converter: 'ast' });
    const load = async (s: ScriptCov) => ({ path: new URL(s.url).pathname, source: sources.get(s.url)! });
    const cumulative = new Map<string, ScriptCov>();
    for (const take of [...takes, takes[2]!, takes[1]!]) {
      await acc.add(structuredClone(take), load);
      for (const s of take) cumulative.set(s.url, cumulative.has(s.url) ? mergeScriptCovs([cumulative.get(s.url)!, structuredClone(s)])! : structuredClone(s));
      const ours = acc.toIstanbul();
      for (const [url, cov] of cumulative) {
        const real = (await library(url, sources.get(url)!, cov.functions)) as Record<string, { s: object; f: object; b: object }>;
        const [path, file] = Object.entries(real)[0]!;
        expect(ours[path]!.s, path).to.deep.equal(file.s);
        expect(ours[path]!.f, path).to.deep.equal(file.f);
        expect(ours[path]!.b, path).to.deep.equal(file.b);
      }
    }
    expect(acc.planned, 'scripts converted by plan').to.be.greaterThanOrEqual(Math.ceil(sources.size * 0.9));
  });

  it('paintOffsets gives paintRanges\' counts at the offsets it is asked for (innermost range wins, ties as painted)', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let round = 0; round < 50; round++) {
      const length = 50 + rnd(400);
      const functions = Array.from({ length: 1 + rnd(4) }, () => {
        const start = rnd(length);
        const ranges = [{ startOffset: start, endOffset: start + rnd(length - start), count: rnd(5) }];
        for (let k = rnd(6); k > 0; k--) {
          const a = ranges[0]!.startOffset + rnd(ranges[0]!.endOffset - ranges[0]!.startOffset + 1);
          ranges.push({ startOffset: a, endOffset: a + rnd(ranges[0]!.endOffset - a + 1), count: rnd(5) });
        }
        return { ranges };
      });
      const offsets = Int32Array.from(new Set(Array.from({ length: 40 }, () => rnd(length + 20)))).sort();
      const painted = paintRanges(functions);
      const expected = Array.from(offsets, (o) => (o < painted.length ? painted[o]! : 0));
      expect(Array.from(paintOffsets(functions, offsets)), `round ${round}`).to.deep.equal(expected);
    }
    expect(Array.from(paintOffsets([], Int32Array.of(1, 2)))).to.deep.equal([0, 0]);
  });

  it('a repeat conversion reuses which range painted each offset only while the ranges are where they were', () => {
    let seed = 11;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const offsets = Int32Array.from(new Set(Array.from({ length: 60 }, () => rnd(300)))).sort();
    const cache = {};
    let functions = [{ ranges: [{ startOffset: 0, endOffset: 299, count: 1 }] }];
    for (let round = 0; round < 200; round++) {
      const step = rnd(4);
      if (step === 0) {
        // a new block range inside the first function (more code ran)
        const a = rnd(300);
        functions = [{ ranges: [...functions[0]!.ranges, { startOffset: a, endOffset: a + rnd(300 - a), count: rnd(9) }] }, ...functions.slice(1)];
      } else if (step === 1) {
        // a range moved (another script under the same plan), same number of ranges
        const i = rnd(functions[0]!.ranges.length);
        const r = functions[0]!.ranges[i]!;
        functions = [{ ranges: functions[0]!.ranges.map((x, k) => (k === i ? { ...r, endOffset: Math.min(299, r.endOffset + 1 + rnd(5)) } : x)) }];
      } else {
        // the same ranges, new counts (the common repeat take)
        functions = functions.map((fn) => ({ ranges: fn.ranges.map((r) => ({ ...r, count: r.count + rnd(3) })) }));
      }
      const painted = paintRanges(functions);
      const expected = Array.from(offsets, (o) => (o < painted.length ? painted[o]! : 0));
      expect(Array.from(paintOffsets(functions, offsets, cache)), `round ${round}`).to.deep.equal(expected);
    }
  });
});
