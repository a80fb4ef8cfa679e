/**
 * Exporter overhead: what a scrape of the node exporter costs compared with a
 * hand-rolled `/coverage` endpoint (`res.end(JSON.stringify(__coverage__))`),
 * on a generated app of many instrumented files. Reports ratios (machines
 * differ, ratios travel) and the heap the exporter keeps.
 *
 *   npx tsx scripts/bench/exporter-overhead.ts [--files 300] [--rounds 25]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createInstrumenter } from 'istanbul-lib-instrument';
import type { CoverageMapData } from 'istanbul-lib-coverage';
import { createCoverageServer } from '../../exporters/shared/coverage-server.ts';
import { hitsOf, mapStructureHash, zeroCounters } from '../../exporters/shared/coverage-payload.ts';
import { createNodeCollector } from '../../exporters/node/collector.ts';
import { quick, reportRow } from './lib/harness.ts';

const { values } = parseArgs({ options: { files: { type: 'string' }, rounds: { type: 'string' }, quick: { type: 'boolean' } } });
const FILES = Number(values.files ?? (quick ? 100 : 300));
const ROUNDS = Number(values.rounds ?? (quick ? 9 : 25));
// `npx tsx` passes no --expose-gc; V8 can still hand out gc for the heap measurements.
setFlagsFromString('--expose-gc');
const gc = ((globalThis as { gc?: () => void }).gc ?? runInNewContext('gc')) as (() => void) | undefined;

function moduleSource(i: number): string {
  const fns: string[] = [];
  for (let f = 0; f < 10; f++) {
    fns.push(`export function f${f}(x) {
  let acc = ${i};
  if (x > ${f}) {
    acc += x * 2;
  } else if (x === ${f}) {
    acc -= 1;
  } else {
    acc = x > 0 && acc > 3 ? acc : -acc;
  }
  for (let k = 0; k < 3; k++) acc += k;
  return acc;
}`);
  }
  return `${fns.join('\n\n')}\nexport function run(x) { return f0(x) + f3(x) + f7(x); }\n`;
}

function get(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
    });
    req.on('error', reject);
    req.end();
  });
}

async function time(rounds: number, fn: () => Promise<unknown>): Promise<number> {
  const ms: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)]!; // median
}

const heap = (): number => {
  gc?.();
  return process.memoryUsage().heapUsed;
};
const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;
const f2 = (n: number): string => n.toFixed(2);

const dir = mkdtempSync(join(tmpdir(), 'covgate-bench-'));
try {
  // ---- Istanbul mode: __coverage__ from pre-instrumented files ----
  const instrumenter = createInstrumenter({ esModules: true });
  for (let i = 0; i < FILES; i++) {
    const file = join(dir, `inst-${i}.mjs`);
    writeFileSync(file, instrumenter.instrumentSync(moduleSource(i), file));
    writeFileSync(join(dir, `plain-${i}.mjs`), moduleSource(i));
  }
  const inst: { run(x: number): number }[] = [];
  for (let i = 0; i < FILES; i++) inst.push(await import(pathToFileURL(join(dir, `inst-${i}.mjs`)).href));
  for (const [i, m] of inst.entries()) m.run(i % 12);
  const coverage = (globalThis as { __coverage__?: CoverageMapData }).__coverage__!;

  const handRolled = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(coverage));
  }).listen(0, '127.0.0.1');
  await new Promise((r) => handRolled.once('listening', r));
  const handUrl = `http://127.0.0.1:${(handRolled.address() as AddressInfo).port}/coverage`;

  const heap0 = heap();
  const server = createCoverageServer({
    collector: { snapshot: async () => coverage, reset: async () => zeroCounters(coverage) },
    identity: { instance: 'bench', startTime: new Date().toISOString(), build: {} },
    host: '127.0.0.1',
    port: 0,
  });
  const { url } = await server.start();
  const first = await get(`${url}/coverage`); // warms the structure cache
  const structure = await new Promise<string>((resolve) => {
    request(`${url}/coverage`, { agent: false }, (res) => {
      let t = '';
      res.on('data', (c: Buffer) => (t += c));
      res.on('end', () => resolve((JSON.parse(t) as { structure: string }).structure));
    }).end();
  });
  const countersSize = await get(`${url}/coverage`, { 'X-Covgate-Known-Structure': structure });
  const handSize = await get(handUrl);

  // Counters change between scrapes, as they do while tests run.
  let tick = 0;
  const touch = (): void => {
    for (let k = 0; k < 10; k++) inst[(tick++ * 7) % FILES]!.run(tick % 12);
  };
  const tStringify = await time(ROUNDS, async () => {
    touch();
    JSON.stringify(coverage);
  });
  const tHand = await time(ROUNDS, async () => {
    touch();
    await get(handUrl);
  });
  const tFull = await time(ROUNDS, async () => {
    touch();
    await get(`${url}/coverage`);
  });
  const tCounters = await time(ROUNDS, async () => {
    touch();
    await get(`${url}/coverage`, { 'X-Covgate-Known-Structure': structure });
  });
  const tGzip = await time(ROUNDS, async () => {
    touch();
    await get(`${url}/coverage`, { 'X-Covgate-Known-Structure': structure, 'Accept-Encoding': 'gzip' });
  });
  // Nothing ran since the last scrape: the ETag matches and no body is sent.
  const etag = await new Promise<string>((resolve) => {
    request(`${url}/coverage`, { method: 'HEAD', agent: false }, (res) => {
      res.resume();
      resolve(String(res.headers.etag));
    }).end();
  });
  const t304 = await time(ROUNDS, () => get(`${url}/coverage`, { 'If-None-Match': etag }));
  const heapIstanbul = heap() - heap0;

  // The app's own requests: p99 latency under load, with a scrape every second and without.
  const app = createServer((req, res) => {
    const i = Number(req.url?.slice(1) ?? 0) % FILES;
    res.end(String(inst[i]!.run(i % 12)));
  }).listen(0, '127.0.0.1');
  await new Promise((r) => app.once('listening', r));
  const appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  const REQUESTS = quick ? 600 : 2000;
  const p99 = async (scrape: boolean): Promise<number> => {
    const lat: number[] = [];
    let stop = false;
    const scraper = (async () => {
      while (scrape && !stop) {
        await get(`${url}/coverage`, { 'X-Covgate-Known-Structure': structure });
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    let n = 0;
    const worker = async () => {
      while (n < REQUESTS) {
        const k = n++;
        const t0 = process.hrtime.bigint();
        await get(`${appUrl}/${k}`);
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    stop = true;
    await scraper;
    lat.sort((a, b) => a - b);
    return lat[Math.floor(lat.length * 0.99)]!;
  };
  const without: number[] = [];
  const withScrapes: number[] = [];
  for (let r = 0; r < 3; r++) {
    without.push(await p99(false));
    withScrapes.push(await p99(true));
  }
  without.sort((a, b) => a - b);
  withScrapes.sort((a, b) => a - b);
  const appP99 = { without: without[1]!, with: withScrapes[1]! };
  app.close();
  await server.stop();
  handRolled.close();

  console.log(`exporter overhead, ${FILES} instrumented files, median of ${ROUNDS} scrapes (node ${process.version})`);
  console.log(`  payload: full ${mb(first)}, counters-only ${mb(countersSize)} (${f2(countersSize / handSize)}x of the hand-rolled body ${mb(handSize)})`);
  console.log(`  JSON.stringify(__coverage__)          ${f2(tStringify)} ms`);
  console.log(`  hand-rolled GET /coverage (baseline)  ${f2(tHand)} ms   1.00x`);
  console.log(`  covgate full scrape                   ${f2(tFull)} ms   ${f2(tFull / tHand)}x`);
  console.log(`  covgate counters-only scrape          ${f2(tCounters)} ms   ${f2(tCounters / tHand)}x`);
  console.log(`  covgate counters-only, gzip           ${f2(tGzip)} ms   ${f2(tGzip / tHand)}x`);
  console.log(`  covgate 304 (nothing changed)         ${f2(t304)} ms   ${f2(t304 / tHand)}x`);
  console.log(`  heapUsed kept by the exporter         ${mb(heapIstanbul)}${gc ? '' : ' (no --expose-gc: noisy)'}`);

  reportRow({
    item: 'exporter: counters-only scrape (Istanbul mode)',
    covgate: `GET /coverage with X-Covgate-Known-Structure, ${FILES} instrumented files (wall ms, median)`,
    baseline: 'hand-rolled res.end(JSON.stringify(__coverage__))',
    value: tCounters,
    baselineValue: tHand,
    unit: 'ms',
    ratio: tHand / tCounters,
    target: '≤1× the hand-rolled endpoint',
    met: tCounters <= tHand,
    notes: `full scrape ${f2(tFull)} ms, gzip counters-only ${f2(tGzip)} ms, 304 ${f2(t304)} ms; bodies: full ${mb(first)}, counters-only ${mb(countersSize)}; heap kept ${mb(heapIstanbul)}`,
  });
  reportRow({
    item: "11.7 app p99 latency under a scrape every second (Istanbul mode)",
    covgate: `p99 of ${REQUESTS} app requests, 8 concurrent, exporter scraped every 1 s (counters-only), same process (wall ms, median of 3)`,
    baseline: 'the same requests with no scrape',
    value: appP99.with,
    baselineValue: appP99.without,
    unit: 'ms',
    ratio: appP99.without / appP99.with,
    target: '≤1.5× no exporter',
    met: appP99.with <= 1.5 * appP99.without,
    notes: 'the load generator runs in the app process (the exporter is in-process by design); the V8-mode row follows',
  });

  // ---- V8 mode: the same app, not instrumented, through node:inspector ----
  const heap1 = heap();
  const collector = await createNodeCollector({ mode: 'v8' });
  const plain: { run(x: number): number }[] = [];
  for (let i = 0; i < FILES; i++) plain.push(await import(pathToFileURL(join(dir, `plain-${i}.mjs`)).href));
  for (const [i, m] of plain.entries()) m.run(i % 12);
  let t0 = performance.now();
  const v8map = await collector.snapshot();
  const v8First = performance.now() - t0;
  const v8Files = Object.keys(v8map).filter((p) => p.includes('plain-')).length;
  const tenRan = async () => {
    for (let k = 0; k < 10; k++) plain[(tick++ * 7) % FILES]!.run(tick % 12);
    await collector.snapshot();
  };
  // Early scrapes: a script converted for the first or second time goes through the library
  // (a conversion plan is learnt at its second conversion), so these are the learning phase.
  const v8Learning = await time(ROUNDS, tenRan);
  // Steady state (a service under test for more than a few scrapes): every script ran and was
  // converted twice, so each has its plan and a repeat conversion applies it.
  for (let pass = 0; pass < 2; pass++) {
    for (const [i, m] of plain.entries()) m.run((i + pass) % 12);
    await collector.snapshot();
  }
  const v8Warm = await time(ROUNDS, tenRan);

  // The app's p99 under a V8-mode scrape every second (what the coverage server does per scrape:
  // snapshot, structure hash, counters), against the same requests with no scrape.
  const v8App = createServer((req, res) => {
    const i = Number(req.url?.slice(1) ?? 0) % FILES;
    res.end(String(plain[i]!.run(i % 12)));
  }).listen(0, '127.0.0.1');
  await new Promise((r) => v8App.once('listening', r));
  const v8AppUrl = `http://127.0.0.1:${(v8App.address() as AddressInfo).port}`;
  const v8P99 = async (scrape: boolean): Promise<number> => {
    const lat: number[] = [];
    let stop = false;
    const scraper = (async () => {
      while (scrape && !stop) {
        const map = await collector.snapshot();
        mapStructureHash(map);
        JSON.stringify(hitsOf(map));
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    let n = 0;
    const worker = async () => {
      while (n < REQUESTS) {
        const k = n++;
        const t0 = process.hrtime.bigint();
        await get(`${v8AppUrl}/${k}`);
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    stop = true;
    await scraper;
    lat.sort((a, b) => a - b);
    return lat[Math.floor(lat.length * 0.99)]!;
  };
  const v8Without: number[] = [];
  const v8With: number[] = [];
  for (let r = 0; r < 3; r++) {
    v8Without.push(await v8P99(false));
    v8With.push(await v8P99(true));
  }
  v8Without.sort((a, b) => a - b);
  v8With.sort((a, b) => a - b);
  v8App.close();
  reportRow({
    item: '11.7 app p99 latency under a scrape every second (V8 mode)',
    covgate: `p99 of ${REQUESTS} app requests, 8 concurrent, V8-mode snapshot + structure hash + counters every 1 s, same process (wall ms, median of 3)`,
    baseline: 'the same requests with no scrape (precise coverage on in both)',
    value: v8With[1]!,
    baselineValue: v8Without[1]!,
    unit: 'ms',
    ratio: v8Without[1]! / v8With[1]!,
    target: '≤1.5× no exporter',
    met: v8With[1]! <= 1.5 * v8Without[1]!,
    notes: 'steady state (every script has its conversion plan); the cost of V8 precise coverage itself (block counters in the running code) is on both sides',
  });
  t0 = performance.now();
  JSON.stringify(v8map);
  const v8Stringify = performance.now() - t0;
  const heapV8 = heap() - heap1;
  await collector.close?.();
  reportRow({
    item: '11.7 V8 exporter cost per scrape',
    covgate: `V8-mode snapshot after 10 files ran (node:inspector + cached conversion plans), ${v8Files} files, steady state (wall ms, median)`,
    baseline: 'Istanbul-mode counters-only scrape of the same app',
    value: v8Warm,
    baselineValue: tCounters,
    unit: 'ms',
    ratio: tCounters / v8Warm,
    target: 'within 3× of the Istanbul-mode exporter (ratio ≥0.33)',
    met: v8Warm <= 3 * tCounters,
    notes: `first V8 snapshot ${f2(v8First)} ms; early snapshots (scripts converted a first or second time, before their plan is learnt) ${f2(v8Learning)} ms; heap kept by the V8 collector ${mb(heapV8)}; the V8 exporter answers counters-only like the Istanbul one (same coverage server, structure hash cached on the converter's maps)`,
  });
  console.log(`V8 mode (node:inspector + v8-to-istanbul), ${v8Files} files`);
  console.log(`  first snapshot (loads and converts every script)  ${f2(v8First)} ms   ${f2(v8First / tHand)}x baseline`);
  console.log(`  early snapshot, 10 files ran since (learning)     ${f2(v8Learning)} ms   ${f2(v8Learning / tHand)}x baseline`);
  console.log(`  later snapshot, 10 files ran since (plans)        ${f2(v8Warm)} ms   ${f2(v8Warm / tHand)}x baseline`);
  console.log(`  JSON.stringify of the converted map               ${f2(v8Stringify)} ms`);
  console.log(`  heapUsed kept by the V8 collector                 ${mb(heapV8)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
