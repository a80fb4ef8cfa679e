import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { useProcesses } from '../helpers/processes.ts';
import { Fleet } from '../../scripts/bench/lib/fleet.ts';

type FileData = { s: Record<string, number>; f: Record<string, number>; b: Record<string, number[]> };

/** Adds Istanbul maps of one build counter by counter. */
function addMaps(into: Record<string, FileData>, map: Record<string, Record<string, unknown>>): void {
  for (const [path, raw] of Object.entries(map)) {
    const fc = raw as unknown as FileData;
    const cur = into[path];
    if (!cur) {
      into[path] = structuredClone({ s: fc.s, f: fc.f, b: fc.b });
      continue;
    }
    for (const k of Object.keys(fc.s)) cur.s[k] = (cur.s[k] ?? 0) + fc.s[k]!;
    for (const k of Object.keys(fc.f)) cur.f[k] = (cur.f[k] ?? 0) + fc.f[k]!;
    for (const k of Object.keys(fc.b)) cur.b[k] = fc.b[k]!.map((v, a) => v + (cur.b[k]?.[a] ?? 0));
  }
}

describe('fleet simulator: a real gateway scraping 50 simulated exporters (counters-only, ETag/304, restarts)', function () {
  this.timeout(120_000);
  const { gateway } = useProcesses();
  let fleet: Fleet;
  let dir: string;
  beforeEach(async () => {
    fleet = new Fleet({ targets: 50, statements: 300, statementsPerFile: 100, targetsPerService: 10, autoRun: false, seed: 5 });
    await fleet.start();
    dir = mkdtempSync(join(tmpdir(), 'covgate-fleet-'));
  });
  afterEach(async () => {
    await fleet.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores exactly what every simulated exporter served, sums a restarted one over both lifetimes, and reports per-service coverage', async () => {
    const sd = join(dir, 'fleet.json');
    writeFileSync(sd, JSON.stringify(fleet.targetGroups()));
    const g = await gateway(`scrape_configs:
  - job_name: fleet
    scrape_interval: 1h
    scrape_timeout: 30s
    file_sd_configs:
      - files: [${JSON.stringify(sd)}]
`);
    // file_sd is read at start; wait until the gateway lists every target (discovery, not timing).
    let active = 0;
    for (let i = 0; i < 200 && active < fleet.size; i++) {
      active = (await g.api.get('/api/v1/targets?state=active')).data.data.activeTargets.length;
      if (active < fleet.size) await new Promise((r) => setTimeout(r, 100));
    }
    expect(active).to.equal(fleet.size);

    const lifetimesBefore = new Map<number, Record<string, Record<string, unknown>>>();
    for (let i = 0; i < fleet.size; i++) fleet.run(i, 20);
    const first = await g.api.post('/api/v1/scrape', {});
    expect(first.data.data.results.filter((r: { health: string }) => r.health === 'up')).to.have.length(fleet.size);
    expect(fleet.stats.full).to.equal(fleet.size);

    // Nothing ran: every exporter answers 304 to the ETag.
    await g.api.post('/api/v1/scrape', {});
    expect(fleet.stats.notModified).to.equal(fleet.size);

    // Some code runs everywhere, target 7 restarts after its last scrape: the next scrape is counters-only.
    for (let i = 0; i < fleet.size; i++) fleet.run(i, 30);
    await g.api.post('/api/v1/scrape', {});
    expect(fleet.stats.countersOnly).to.equal(fleet.size);
    lifetimesBefore.set(7, fleet.coverageMap(7));
    fleet.restart(7);
    fleet.run(7, 10);
    await g.api.post('/api/v1/scrape', {});
    const results = (await g.api.get('/api/v1/targets')).data.data.activeTargets as Array<{ labels: Record<string, string>; health: string; coverage: { lines: { covered: number; total: number } } }>;
    expect(results.every((t) => t.health === 'up')).to.equal(true);

    // What the gateway stored, target by target, equals what the exporters served (plus target 7's first lifetime).
    for (const i of [0, 7, 23, 49]) {
      const expected: Record<string, FileData> = {};
      if (lifetimesBefore.has(i)) addMaps(expected, lifetimesBefore.get(i)!);
      addMaps(expected, fleet.coverageMap(i));
      const got = (await g.api.get('/api/v1/coverage', { params: { instance: `sim-${i}` } })).data as Record<string, FileData>;
      expect(Object.keys(got).sort()).to.deep.equal(Object.keys(expected).sort());
      for (const [path, fc] of Object.entries(expected)) {
        expect(got[path]!.s, `${path} of sim-${i}`).to.deep.equal(fc.s);
        expect(got[path]!.f).to.deep.equal(fc.f);
        expect(got[path]!.b).to.deep.equal(fc.b);
      }
      // The targets API's line summary agrees with the stored map (two statements per line).
      const lines = new Set<string>();
      for (const [path, fc] of Object.entries(expected)) for (const [k, v] of Object.entries(fc.s)) if (v > 0) lines.add(`${path}:${Number(k) >> 1}`);
      const t = results.find((r) => r.labels.instance === `sim-${i}`)!;
      expect(t.coverage.lines).to.include({ covered: lines.size, total: 150 });
    }

    // /metrics has one coverage series set per service, and the service summary equals its merged map's.
    const metrics = (await g.api.get('/metrics')).data as string;
    for (let s = 0; s < 5; s++) expect(metrics).to.include(`covgate_coverage_coverable{job="fleet",service="svc${s}",kind="statements"} 300`);
    const summary = (await g.api.get('/api/v1/coverage', { params: { service: 'svc0', format: 'json-summary' } })).data as { total: { statements: { covered: number } } };
    const covered = Number(/covgate_coverage_covered\{job="fleet",service="svc0",kind="statements"\} (\d+)/.exec(metrics)![1]);
    expect(summary.total.statements.covered).to.equal(covered);
  });
});
