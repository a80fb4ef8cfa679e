import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import axios from 'axios';
import { Level } from 'level';
import { createCoverageStore } from '../../gateway/store/index.ts';
import { splitCoverageMap, type CoverageMapData } from '../../gateway/model/index.ts';
import { istanbulMerge } from '../helpers/coverage.ts';
import { useProcesses } from '../helpers/processes.ts';

/** The same map with every location moved down 1000 lines: same counter counts, different structure. */
function shifted(map: CoverageMapData): CoverageMapData {
  const out = JSON.parse(JSON.stringify(map)) as CoverageMapData;
  const move = (o: unknown): void => {
    if (Array.isArray(o)) return o.forEach(move);
    if (o && typeof o === 'object') {
      const r = o as Record<string, unknown>;
      if (typeof r.line === 'number') r.line += 1000;
      for (const v of Object.values(r)) move(v);
    }
  };
  for (const fc of Object.values(out)) {
    move(fc.statementMap);
    move(fc.fnMap);
    move(fc.branchMap);
  }
  return out;
}

describe('structure ids are scoped per client (cross-client structure poisoning)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();

  it("a pusher reusing an exporter's structure id cannot redirect the exporter's counters-only replies", async () => {
    const s = await exporter({ envelope: true, structure: true });
    const g = await gateway(`scrape_configs:
  - job_name: orders
    scrape_interval: 1h
    static_configs:
      - targets: [${s.address}]`);
    await s.hit('/add?a=1&b=1');
    const first = (await g.api.post('/api/v1/scrape', {})).data.data.results[0];
    expect(first.result).to.equal('success');

    // The attacker reads the exporter's envelope (same network) and pushes its structure id with other locations.
    const env = (await axios.get(`${s.url}/coverage`, { proxy: false })).data as { structure: string; data: CoverageMapData };
    const poison = { format: 'istanbul', structure: env.structure, data: shifted(env.data) };
    const pushed = await g.api.post('/api/v1/coverage?job=evil', poison);
    expect(pushed.status, JSON.stringify(pushed.data)).to.equal(202);

    // The exporter's next reply is counters-only; it must resolve to its own structure.
    await s.hit('/classify?n=3');
    const second = (await g.api.post('/api/v1/scrape', {})).data.data.results[0];
    expect(second.result).to.equal('success');
    expect(second.bodyBytes, 'the counters-only exchange was used').to.be.lessThan(first.bodyBytes / 3);
    const mine = (await g.api.get(`/api/v1/coverage?job=orders`)).data;
    expect(mine).to.deep.equal(istanbulMerge(await s.raw()));
    const evil = (await g.api.get(`/api/v1/coverage?job=evil`)).data;
    expect(evil).to.deep.equal(istanbulMerge(poison.data));

    // Disk agrees with memory: a restarted gateway shows the same.
    await g.stop();
    const g2 = await gateway(`scrape_configs: []`, g.dataDir);
    expect((await g2.api.get(`/api/v1/coverage?job=orders`)).data).to.deep.equal(mine);
    expect((await g2.api.get(`/api/v1/coverage?job=evil`)).data).to.deep.equal(evil);
  });

  it('the store keeps one structure id per target, in memory and on disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'covgate-sid-'));
    const open = () => createCoverageStore(new Level<string, unknown>(dir, { valueEncoding: 'json' }));
    const map = (line: number): CoverageMapData =>
      ({
        '/srv/a.js': {
          path: '/srv/a.js',
          statementMap: { 0: { start: { line, column: 0 }, end: { line, column: 9 } } },
          fnMap: {},
          branchMap: {},
          s: { 0: 1 },
          f: {},
          b: {},
        },
      }) as unknown as CoverageMapData;
    const append = async (store: ReturnType<typeof open>, id: string, line: number) => {
      const { structures, snapshot } = splitCoverageMap(map(line));
      const files = Object.fromEntries(Object.entries(snapshot).map(([p, f]) => [p, f.structure]));
      await store.append({ target: { id, job: id, labels: { job: id }, source: 'scrape' }, counters: 'cumulative', structures, snapshot, envelope: { id: 'X', files } }, 1000);
      return files;
    };
    const store = open();
    await store.open();
    const a = await append(store, 'a', 1);
    const b = await append(store, 'b', 2);
    expect(a).to.not.deep.equal(b);
    expect(store.envelopeFiles('a', 'X')).to.deep.equal(a);
    expect(store.envelopeFiles('b', 'X')).to.deep.equal(b);
    expect(store.envelopeFiles('c', 'X')).to.equal(undefined);
    // The same target sending new files under one id: the newest wins in memory and on disk.
    const a2 = await append(store, 'a', 3);
    expect(store.envelopeFiles('a', 'X')).to.deep.equal(a2);
    await store.close();
    const again = open();
    await again.open();
    expect(again.envelopeFiles('a', 'X')).to.deep.equal(a2);
    expect(again.envelopeFiles('b', 'X')).to.deep.equal(b);
    await again.close();
  });
});
