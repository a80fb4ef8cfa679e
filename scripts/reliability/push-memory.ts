/**
 * Memory after many pushes without an `instance` (issue 8: each held ~58 KB on
 * the heap until retention). Starts the real gateway binary on a fresh store,
 * sends N identical pushes (a ~140 KB Istanbul map, 8 in flight), and prints the
 * gateway's heap (prom-client's nodejs_heap_size_used_bytes) and RSS from
 * /proc before and after.
 *
 * Usage: npx tsx scripts/reliability/push-memory.ts [pushes=10000] [checkout=.]
 * (`checkout` lets the same script measure another checkout's bin/covgate.js.)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PUSHES = Number(process.argv[2] ?? 10_000);
const CHECKOUT = resolve(process.argv[3] ?? fileURLToPath(new URL('../..', import.meta.url)));
const IN_FLIGHT = 8;

/** 20 files × 60 statements, 6 functions, 6 two-way branches: about 140 KB of JSON. */
function payload(): Record<string, unknown> {
  const loc = (l: number) => ({ start: { line: l, column: 0 }, end: { line: l, column: 40 } });
  const map: Record<string, unknown> = {};
  for (let f = 0; f < 20; f++) {
    const path = `/srv/batch/src/module-${f}.js`;
    const n = 60;
    map[path] = {
      path,
      statementMap: Object.fromEntries(Array.from({ length: n }, (_, i) => [i, loc(i + 1)])),
      fnMap: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [i, { name: `fn${i}`, decl: loc(i * 10 + 1), loc: loc(i * 10 + 1), line: i * 10 + 1 }])),
      branchMap: Object.fromEntries(
        Array.from({ length: 6 }, (_, i) => [i, { type: 'if', line: i * 10 + 2, loc: loc(i * 10 + 2), locations: [loc(i * 10 + 2), loc(i * 10 + 3)] }]),
      ),
      s: Object.fromEntries(Array.from({ length: n }, (_, i) => [i, (i + f) % 4])),
      f: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [i, i % 2])),
      b: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [i, [i % 3, 1]])),
    };
  }
  return map;
}

const statusMb = (pid: number, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function heapMb(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)/m.exec(text);
  return m ? Number(m[1]) / 2 ** 20 : NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'covgate-pushmem-'));
  const cfg = join(dir, 'gateway.yaml');
  writeFileSync(cfg, 'scrape_configs: []\n');
  const child = spawn(process.execPath, [join(CHECKOUT, 'bin/covgate.js'), '--config', cfg, '--listen', '127.0.0.1:0', '--storage.path', join(dir, 'data'), '--test.manual-scrapes'], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, COVGATE_LOG_LEVEL: 'info' },
  });
  let exited: string | undefined;
  child.on('exit', (code, sig) => (exited = `exited (${code ?? sig})`));
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      out += d;
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
      if (m) res(m[1]!);
    });
    child.once('exit', () => rej(new Error(`gateway exited before listening:\n${out}`)));
  });
  const pid = child.pid!;
  const body = JSON.stringify(payload());
  const before = { heap: await heapMb(url), rss: statusMb(pid, 'VmRSS') };
  console.log(`gateway ${CHECKOUT} pid ${pid}: payload ${(body.length / 1024).toFixed(0)} KB; before: heap ${before.heap.toFixed(1)} MB, RSS ${before.rss.toFixed(0)} MB`);
  const t0 = performance.now();
  let sent = 0;
  let failed = 0;
  const worker = async () => {
    while (sent < PUSHES && !exited) {
      const n = ++sent;
      try {
        const r = await fetch(`${url}/api/v1/coverage?job=batch`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
        await r.arrayBuffer();
        if (r.status !== 202) failed++;
      } catch {
        failed++;
      }
      if (n % 2000 === 0) console.log(`  ${n} pushes: heap ${(await heapMb(url).catch(() => NaN)).toFixed(1)} MB, RSS ${statusMb(pid, 'VmRSS').toFixed(0)} MB`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const secs = (performance.now() - t0) / 1000;
  if (exited) {
    console.log(`RESULT: the gateway ${exited} after ${sent} pushes`);
    process.exitCode = 1;
    return;
  }
  const after = { heap: await heapMb(url), rss: statusMb(pid, 'VmRSS'), peak: statusMb(pid, 'VmHWM') };
  console.log(
    `RESULT: ${PUSHES} pushes without an instance (${failed} failed) in ${secs.toFixed(0)} s (${(PUSHES / secs).toFixed(0)}/s): heap ${before.heap.toFixed(1)} → ${after.heap.toFixed(1)} MB, RSS ${before.rss.toFixed(0)} → ${after.rss.toFixed(0)} MB (peak ${after.peak.toFixed(0)} MB)`,
  );
  child.kill('SIGTERM');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
