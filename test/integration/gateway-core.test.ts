import { expect } from 'chai';
import libCoverage from 'istanbul-lib-coverage';
import { istanbulMerge, lineHitsOf } from '../helpers/coverage.ts';
import { useProcesses } from '../helpers/processes.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import type { GatewayProcess } from '../helpers/gateway-process.ts';
import { SAMPLE_APP, type ExporterProcess } from '../helpers/exporter-process.ts';


const lines = (map: CoverageMapData) => lineHitsOf(map);

const staticJob = (job: string, targets: string[], labels: Record<string, string> = {}) => `
  - job_name: ${job}
    scrape_interval: 1h
    scrape_timeout: 5s
    static_configs:
      - targets: [${targets.join(', ')}]
        labels: ${JSON.stringify(labels)}`;

describe('gateway core (real gateway and exporter processes)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();
  const coverage = async (g: GatewayProcess, query = '') => {
    const res = await g.api.get(`/api/v1/coverage${query}`);
    expect(res.status, JSON.stringify(res.data)).to.equal(200);
    return res.data as CoverageMapData;
  };
  const scrape = async (g: GatewayProcess, body: object = {}) => {
    const res = await g.api.post('/api/v1/scrape', body);
    expect(res.status).to.equal(200);
    return res.data.data.results as Array<{ id: string; instance: string; health: string; result: string; error: string; bodyBytes: number; restarted: boolean }>;
  };

  it('merges three exporters (two instances of one service) exactly as istanbul-lib-coverage does', async () => {
    const [a, b, c] = await Promise.all([exporter(), exporter({ envelope: true }), exporter({ envelope: true, delta: true })]);
    const g = await gateway(`scrape_configs:${staticJob('orders', [a.address, b.address], { service: 'orders', release: '2026.11' })}${staticJob('web', [c.address])}`);
    await a.hit('/add?a=1&b=2');
    await a.hit('/classify?n=-5');
    await b.hit('/classify?n=0');
    await b.hit('/classify?n=500');
    await c.hit('/classify?n=7');
    expect((await scrape(g)).map((r) => r.health)).to.deep.equal(['up', 'up', 'up']);
    // More traffic, a second scrape: cumulative and delta exporters both add up.
    await a.hit('/add?a=3&b=4');
    await c.hit('/classify?n=-1');
    await scrape(g);
    const [ra, rb, rc] = await Promise.all([a.raw(), b.raw(), c.raw()]);

    expect(await coverage(g)).to.deep.equal(istanbulMerge(ra, rb, rc));
    expect(await coverage(g, '?service=orders')).to.deep.equal(istanbulMerge(ra, rb));
    expect(await coverage(g, '?job=web')).to.deep.equal(istanbulMerge(rc));
    expect(await coverage(g, '?release=2026.11')).to.deep.equal(istanbulMerge(ra, rb));
    expect(await coverage(g, '?service=orders,web')).to.deep.equal(istanbulMerge(ra, rb, rc));

    const l = lines(await coverage(g));
    expect(l['4']).to.equal(2); // add(): two /add requests
    expect(l['17']).to.equal(0); // neverCalled()

    const summary = (await g.api.get('/api/v1/coverage?service=orders&format=json-summary')).data;
    const expected = libCoverage.createCoverageMap(istanbulMerge(ra, rb)).getCoverageSummary().toJSON();
    expect(summary.total.lines).to.deep.equal(expected.lines);

    const targets = (await g.api.get('/api/v1/targets')).data.data.activeTargets;
    expect(targets).to.have.length(3);
    for (const t of targets) {
      expect(t.health).to.equal('up');
      expect(t.coverage.lines.total).to.be.greaterThan(0);
    }
    const lcov = await g.api.get('/api/v1/coverage?format=lcov&service=orders');
    expect(lcov.data).to.match(new RegExp(`SF:${SAMPLE_APP.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  });

  it('loses nothing when an exporter process restarts between scrapes', async () => {
    const a = await exporter();
    const g = await gateway(`scrape_configs:${staticJob('orders', [a.address])}`);
    await a.hit('/add?a=1&b=2');
    await a.hit('/classify?n=-5');
    await scrape(g);
    const before = await a.raw();
    const port = Number(a.address.split(':')[1]);
    await a.stop();
    const a2 = await exporter({ port });
    await a2.hit('/classify?n=0');
    const [r] = await scrape(g);
    expect(r!.health).to.equal('up');
    expect(r!.restarted).to.equal(true);
    expect(await coverage(g)).to.deep.equal(istanbulMerge(before, await a2.raw()));
    const l = lines(await coverage(g));
    expect(l['9']).to.equal(1); // 'negative' ran in the first lifetime only
    expect(l['11']).to.equal(1); // 'zero' ran in the second lifetime only
    const metrics = (await g.api.get('/metrics')).data as string;
    expect(metrics).to.match(/covgate_target_restarts_total\{job="orders",instance="127.0.0.1:\d+"\} 1/);
  });

  it('returns the same merged coverage after SIGKILL and restart of the gateway', async () => {
    const a = await exporter({ envelope: true });
    const b = await exporter();
    const cfg = `scrape_configs:${staticJob('orders', [a.address, b.address])}`;
    const g = await gateway(cfg);
    await a.hit('/add?a=1&b=2');
    await b.hit('/classify?n=3');
    await scrape(g); // acknowledged: the response came after the store's batch
    const before = await coverage(g);
    await g.kill('SIGKILL');
    await a.stop(); // the exporters are gone too: only the store remembers
    await b.stop();
    const g2 = await gateway(cfg, g.dataDir);
    expect(await coverage(g2)).to.deep.equal(before);
  });

  it('uses counters-only replies once the gateway holds the structure, and honours ETags', async () => {
    const s = await exporter({ envelope: true, structure: true });
    const e = await exporter({ etag: true });
    const g = await gateway(`scrape_configs:${staticJob('orders', [s.address, e.address])}`);
    await s.hit('/add?a=1&b=1');
    const first = await scrape(g, { instance: s.address });
    await s.hit('/classify?n=1');
    const second = await scrape(g, { instance: s.address });
    expect(second[0]!.result).to.equal('success');
    expect(second[0]!.bodyBytes).to.be.lessThan(first[0]!.bodyBytes / 3);
    expect(await coverage(g, `?instance=${s.address}`)).to.deep.equal(istanbulMerge(await s.raw()));

    await scrape(g, { instance: e.address });
    const again = await scrape(g, { instance: e.address });
    expect(again[0]).to.include({ result: 'not_modified', health: 'up' });
    expect((await e.stats()).served304).to.equal(1);
  });

  it('marks failing targets down with a clear lastError and keeps their last good snapshot', async () => {
    const a = await exporter();
    const g = await gateway(`scrape_configs:
  - job_name: flaky
    scrape_interval: 1h
    scrape_timeout: 1s
    body_size_limit: 100KiB
    static_configs:
      - targets: [${a.address}]`);
    await a.hit('/add?a=1&b=2');
    await scrape(g);
    const good = await coverage(g);
    const cases: Array<[Parameters<ExporterProcess['mode']>[0], RegExp, string]> = [
      ['404', /server returned HTTP status 404/, 'error'],
      ['500', /server returned HTTP status 500/, 'error'],
      ['garbage', /not valid JSON/i, 'bad_data'],
      ['slow', /timed out after 1s/, 'timeout'],
      ['huge', /exceeds body_size_limit of 100KiB/, 'too_large'],
      ['hugegzip', /exceeds body_size_limit of 100KiB/, 'too_large'],
    ];
    for (const [mode, error, result] of cases) {
      await a.mode(mode);
      const [r] = await scrape(g);
      expect(r, mode).to.include({ health: 'down', result });
      expect(r!.error, mode).to.match(error);
      const t = (await g.api.get('/api/v1/targets')).data.data.activeTargets[0];
      expect(t.health).to.equal('down');
      expect(t.lastError, mode).to.match(error);
      expect(await coverage(g), mode).to.deep.equal(good);
    }
    await a.stop();
    const [down] = await scrape(g);
    expect(down!.error).to.match(/ECONNREFUSED/);
    expect(await coverage(g)).to.deep.equal(good);
    expect((await g.api.get('/-/healthy')).status).to.equal(200);
    const metrics = (await g.api.get('/metrics')).data as string;
    expect(metrics).to.match(/covgate_target_up\{job="flaky",instance="[^"]+"\} 0/);
    expect(metrics).to.match(/covgate_scrapes_total\{job="flaky",result="timeout"\} 1/);
  });

  it('reloads: a bad file is rejected and the old config stays; unchanged pools keep their state', async () => {
    const a = await exporter();
    const b = await exporter();
    const cfg = `scrape_configs:${staticJob('keep', [a.address])}${staticJob('change', [b.address])}`;
    const g = await gateway(cfg);
    await scrape(g);
    const before = (await g.api.get('/api/v1/targets')).data.data.activeTargets.find((t: { scrapePool: string }) => t.scrapePool === 'keep');
    expect(before.health).to.equal('up');

    g.writeConfig('scrape_configs:\n  - job_name: keep\n    scrape_intervall: 5s\n');
    const bad = await g.api.post('/-/reload');
    expect(bad.status).to.equal(400);
    expect(bad.data).to.include({ status: 'error', errorType: 'bad_data' });
    expect(bad.data.error).to.match(/:3: scrape_configs\[0\]\.scrape_intervall: unknown key/);
    expect((await g.api.get('/api/v1/targets')).data.data.activeTargets).to.have.length(2);

    g.writeConfig(`scrape_configs:${staticJob('keep', [a.address])}${staticJob('change', [b.address], { service: 'renamed' })}`);
    const ok = await g.api.post('/-/reload');
    expect(ok.status).to.equal(200);
    const after = (await g.api.get('/api/v1/targets')).data.data.activeTargets;
    const kept = after.find((t: { scrapePool: string }) => t.scrapePool === 'keep');
    expect(kept).to.deep.include({ health: 'up', lastScrape: before.lastScrape });
    const changed = after.find((t: { scrapePool: string }) => t.scrapePool === 'change');
    expect(changed.labels.service).to.equal('renamed');
    expect(changed.health).to.equal('unknown');

    // A service removed from config leaves /metrics; its coverage stays queryable.
    const ratioOf = (text: string, service: string) => text.match(new RegExp(`covgate_coverage_ratio\\{job="[^"]+",service="${service}",kind="lines"\\} (\\S+)`))?.[1];
    let metrics = (await g.api.get('/metrics')).data as string;
    expect(ratioOf(metrics, 'keep')).to.not.equal(undefined);
    g.writeConfig(`scrape_configs:${staticJob('change', [b.address], { service: 'renamed' })}`);
    expect((await g.api.post('/-/reload')).status).to.equal(200);
    metrics = (await g.api.get('/metrics')).data as string;
    expect(ratioOf(metrics, 'keep')).to.equal(undefined);
    expect(metrics).to.not.match(/covgate_target_up\{job="keep"/);
    expect(Object.keys(await coverage(g, '?job=keep'))).to.have.length(1);
  });

  it('reloads on SIGHUP', async () => {
    const a = await exporter();
    const g = await gateway(`scrape_configs:${staticJob('one', [a.address])}`);
    g.writeConfig(`scrape_configs:${staticJob('two', [a.address])}`);
    g.process.proc.kill('SIGHUP');
    await g.process.waitForLine(/config reloaded/);
    const pools = (await g.api.get('/api/v1/targets')).data.data.activeTargets.map((t: { scrapePool: string }) => t.scrapePool);
    expect(pools).to.deep.equal(['two']);
  });
});
