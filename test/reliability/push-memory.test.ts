import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { istanbulMerge } from '../helpers/coverage.ts';
import { useProcesses } from '../helpers/processes.ts';

/** Pushes in `npm test`; `npm run test:reliability` sets more (COVGATE_RELIABILITY_PUSHES). The 10,000-push figure: scripts/reliability/push-memory.ts. */
const PUSHES = Number(process.env.COVGATE_RELIABILITY_PUSHES ?? 300);
const RSS_BOUND_MB = 300;
/**
 * The gateway's old generation is capped for this test. Without a cap V8 defers
 * full collections while there is room (each 139 KB body string lands in
 * large-object space, freed only by a full GC), so peak RSS measured how lazy
 * the collector was on a busy machine (355 MB once in CI, 268 MB here), not what
 * the gateway keeps. Under the cap, memory kept per push would end the process
 * with "heap out of memory" long before 3,000 pushes (40 kB a push is 120 MB).
 */
const OLD_SPACE_MB = 128;

/** 20 files × 60 statements, 6 functions, 6 branches: ~140 KB of Istanbul JSON. `build` renames the files and shifts every location. */
function payload(build = 0): CoverageMapData {
  const loc = (l: number) => ({ start: { line: l + build, column: 0 }, end: { line: l + build, column: 40 } });
  const map: Record<string, unknown> = {};
  for (let f = 0; f < 20; f++) {
    const path = `/srv/batch/src/module-${f}${build ? `-${build}` : ''}.js`;
    map[path] = {
      path,
      statementMap: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [i, loc(i + 1)])),
      fnMap: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [i, { name: `fn${i}`, decl: loc(i * 10 + 1), loc: loc(i * 10 + 1), line: i * 10 + 1 + build }])),
      branchMap: Object.fromEntries(
        Array.from({ length: 6 }, (_, i) => [i, { type: 'if', line: i * 10 + 2 + build, loc: loc(i * 10 + 2), locations: [loc(i * 10 + 2), loc(i * 10 + 3)] }]),
      ),
      s: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [i, (i + f) % 4])),
      f: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [i, i % 2])),
      b: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [i, [i % 3, 1]])),
    };
  }
  return map as CoverageMapData;
}

const statusMb = (pid: number, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

describe('pushes without an instance fold into one accumulated lifetime per build', function () {
  this.timeout(300_000);
  const { gateway } = useProcesses();

  it(`${PUSHES} identical pushes hold one lifetime, add up exactly as istanbul-lib-coverage merges them, and memory stays bounded`, async () => {
    const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=${OLD_SPACE_MB}`.trim() };
    const g = await gateway('scrape_configs: []', undefined, env);
    const pid = g.process.proc.pid!;
    const heapMb = async () => Number(/^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)/m.exec((await g.api.get('/metrics')).data)![1]) / 2 ** 20;
    const map = payload();
    const body = JSON.stringify(map);
    const other = payload(1000);
    // Computed first: a long pause before the next request would race the gateway's keep-alive timeout.
    const expected = istanbulMerge(...Array.from({ length: PUSHES }, () => map), other);
    const before = { heap: await heapMb(), rss: statusMb(pid, 'VmRSS') };
    const lifetimes = new Set<string>();
    let next = 0;
    const worker = async () => {
      while (next < PUSHES) {
        next++;
        const r = await g.api.post('/api/v1/coverage?job=batch', body, { headers: { 'Content-Type': 'application/json' } });
        expect(r.status, JSON.stringify(r.data)).to.equal(202);
        lifetimes.add(r.data.data.lifetime);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    expect([...lifetimes], 'every push went to one accumulated lifetime').to.have.length(1);
    // Another build of the same job is its own lifetime; both count.
    const r2 = await g.api.post('/api/v1/coverage?job=batch', other);
    expect(r2.data.data.lifetime).to.not.equal([...lifetimes][0]);

    const after = { heap: await heapMb(), rss: statusMb(pid, 'VmRSS'), peak: statusMb(pid, 'VmHWM') };
    console.log(
      `      ${PUSHES} pushes of ${(body.length / 1024).toFixed(0)} KB without an instance: heap ${before.heap.toFixed(1)} → ${after.heap.toFixed(1)} MB, RSS ${before.rss.toFixed(0)} → ${after.rss.toFixed(0)} MB (peak ${after.peak.toFixed(0)} MB)`,
    );
    expect(after.peak).to.be.below(RSS_BOUND_MB);

    const got = (await g.api.get('/api/v1/coverage?job=batch')).data;
    expect(got).to.deep.equal(expected);
    // The same after a restart: what was acknowledged is on disk.
    await g.kill('SIGKILL');
    const g2 = await gateway('scrape_configs: []', g.dataDir);
    expect((await g2.api.get('/api/v1/coverage?job=batch')).data).to.deep.equal(expected);
  });
});
