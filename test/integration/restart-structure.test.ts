import { expect } from 'chai';
import { istanbulMerge } from '../helpers/coverage.ts';
import { useProcesses } from '../helpers/processes.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import type { GatewayProcess } from '../helpers/gateway-process.ts';

/**
 * Issue 11 item 6: the known structure id of each target is persisted, so a
 * gateway restart does not make every exporter send its full map again.
 */
describe('gateway restart and the structure-once exchange (real gateway and exporter processes)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();
  const scrape = async (g: GatewayProcess) => {
    const res = await g.api.post('/api/v1/scrape', {});
    expect(res.status).to.equal(200);
    return res.data.data.results as Array<{ health: string; result: string }>;
  };
  const coverage = async (g: GatewayProcess) => {
    const res = await g.api.get('/api/v1/coverage');
    expect(res.status, JSON.stringify(res.data)).to.equal(200);
    return res.data as CoverageMapData;
  };

  it('after a kill -9 and restart the first scrape of every exporter is counters-only', async () => {
    const exporters = await Promise.all([1, 2, 3].map(() => exporter({ envelope: true, structure: true })));
    const cfg = `scrape_configs:
  - job_name: orders
    scrape_interval: 1h
    scrape_timeout: 5s
    static_configs:
      - targets: [${exporters.map((e) => e.address).join(', ')}]`;
    const g = await gateway(cfg);
    await exporters[0]!.hit('/add?a=1&b=2');
    await exporters[1]!.hit('/classify?n=-5');
    await scrape(g); // full maps: the gateway holds no structure yet
    await exporters[2]!.hit('/classify?n=0');
    await scrape(g); // counters only
    const before = await Promise.all(exporters.map((e) => e.stats()));
    expect(before.map((s) => [s.fullReplies, s.countersOnlyReplies])).to.deep.equal([
      [1, 1],
      [1, 1],
      [1, 1],
    ]);

    await g.kill('SIGKILL');
    const g2 = await gateway(cfg, g.dataDir);
    await exporters[0]!.hit('/classify?n=500');
    const results = await scrape(g2);
    expect(results.map((r) => [r.health, r.result])).to.deep.equal([
      ['up', 'success'],
      ['up', 'success'],
      ['up', 'success'],
    ]);
    const after = await Promise.all(exporters.map((e) => e.stats()));
    // No full-payload storm: not one exporter was asked for its map again.
    expect(after.map((s) => [s.fullReplies, s.countersOnlyReplies])).to.deep.equal([
      [1, 2],
      [1, 2],
      [1, 2],
    ]);
    const raws = await Promise.all(exporters.map((e) => e.raw()));
    expect(await coverage(g2)).to.deep.equal(istanbulMerge(...raws));
  });
});
