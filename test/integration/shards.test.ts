import { expect } from 'chai';
import { startIstanbulExporter, type ExporterProcess } from '../helpers/exporter-process.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { istanbulMerge } from '../helpers/coverage.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';

const SHARDS = 3;
const EXPORTERS = 30;

/** One static job over every exporter; a shard keeps hashmod(__address__, N) == its index from the environment. */
const scrapeJob = (addresses: string[], shard: boolean) => `
scrape_configs:
  - job_name: svc
    scrape_interval: 1h
    static_configs:
${addresses.map((a, i) => `      - targets: [${a}]\n        labels: { service: svc-${i % 3} }`).join('\n')}
${
  shard
    ? `    relabel_configs:
      - source_labels: [__address__]
        modulus: \${COVGATE_SHARDS}
        target_label: __tmp_hash
        action: hashmod
      - source_labels: [__tmp_hash]
        regex: \${COVGATE_SHARD_INDEX}
        action: keep`
    : ''
}`;

const shardYaml = (addresses: string[], central: string) => `${scrapeJob(addresses, true)}
forward: { url: ${central}, min_backoff: 50ms, max_backoff: 300ms }
`;

const PATHS = ['/add?a=1&b=2', '/classify?n=-3', '/classify?n=0', '/classify?n=5'];

describe('shards feeding a central covgate (3 shards + central vs one gateway, real processes)', function () {
  this.timeout(600_000);
  const all: Array<{ stop(): Promise<void> }> = [];
  after(async () => {
    for (const p of all.reverse()) await p.stop().catch(() => undefined);
  });

  const coverage = async (g: GatewayProcess, query: string) => {
    const res = await g.api.get(`/api/v1/coverage?${query}`);
    expect(res.status, JSON.stringify(res.data)).to.equal(200);
    return res.data as CoverageMapData;
  };
  const ok = async (p: Promise<{ status: number; data: unknown }>, status = 200) => {
    const r = await p;
    expect(r.status, JSON.stringify(r.data)).to.equal(status);
    return r.data as Record<string, any>;
  };
  /** Exporter k runs a deterministic mix of requests in phase `phase`. */
  const workload = async (exporters: ExporterProcess[], phase: number) => {
    await Promise.all(
      exporters.map(async (e, k) => {
        for (let i = 0; i < ((k + phase) % 4) + 1; i++) await e.hit(PATHS[(k * 7 + phase + i) % PATHS.length]!);
      }),
    );
  };

  it('merged and session coverage on the central equal a single gateway through a shard SIGKILL and a central restart', async () => {
    const exporters: ExporterProcess[] = [];
    for (let i = 0; i < EXPORTERS; i += 10) {
      // Half speak the envelope with structure-once, half plain Istanbul JSON; all cumulative (two gateways scrape each).
      const batch = await Promise.all(Array.from({ length: 10 }, (_, j) => startIstanbulExporter((i + j) % 2 === 0 ? { envelope: true, structure: true } : {})));
      exporters.push(...batch);
      all.push(...batch.map((e) => ({ stop: () => e.stop() })));
    }
    const addresses = exporters.map((e) => e.address);

    const single = await startGatewayProcess({ configYaml: scrapeJob(addresses, false) });
    all.push(single);
    let central = await startGatewayProcess({ configYaml: '{}\n' });
    all.push({ stop: () => central.stop() });
    const centralListen = new URL(central.url).host;
    const shards: GatewayProcess[] = [];
    const shardEnv = (i: number) => ({ COVGATE_SHARDS: String(SHARDS), COVGATE_SHARD_INDEX: String(i) });
    for (let i = 0; i < SHARDS; i++) {
      const s = await startGatewayProcess({ configYaml: shardYaml(addresses, central.url), env: shardEnv(i) });
      shards.push(s);
      all.push({ stop: () => shards[i]!.stop() });
    }
    central.writeConfig(`shards:\n  urls: [${shards.map((s) => s.url).join(', ')}]\n`);
    await ok(central.api.post('/-/reload'));

    // Each shard holds its hashmod share; together exactly the 30 targets.
    const held = await Promise.all(shards.map(async (s) => (await ok(s.api.get('/api/v1/targets'))).data.activeTargets.length as number));
    expect(held.reduce((a, b) => a + b, 0)).to.equal(EXPORTERS);
    for (const n of held) expect(n).to.be.greaterThan(0);

    const scrapeAll = async () => {
      await ok(single.api.post('/api/v1/scrape', {}));
      for (const s of shards) await ok(s.api.post('/api/v1/scrape', {}));
    };

    // Before the session: ran, scraped, forwarded; must not count in the session.
    await workload(exporters, 0);
    await scrapeAll();
    for (const s of shards) await ok(s.api.post('/api/v1/forward/flush', {}));

    const labels = { test_type: 'AT', release: '2026.11' };
    await ok(central.api.post('/test-started', { session: 'campaign', labels }), 201);
    await ok(single.api.post('/test-started', { session: 'campaign', labels }), 201);
    // Every shard got the session too (fan-out).
    for (const s of shards) expect((await ok(s.api.get('/api/v1/sessions/campaign'))).data.state).to.equal('running');

    await workload(exporters, 1);
    await scrapeAll();

    // The central goes away: shards keep what they scrape in their outbox.
    await central.kill('SIGKILL');
    await workload(exporters, 2);
    await scrapeAll();
    const pending = (await ok(shards[1]!.api.get('/api/v1/forward'))).data.pending as number;
    expect(pending).to.be.greaterThan(0);
    const flushDown = await shards[1]!.api.post('/api/v1/forward/flush', {});
    expect(flushDown.status).to.equal(503);

    // A shard is SIGKILLed with forwards pending and comes back on its store.
    const s1 = shards[1]!;
    await s1.kill('SIGKILL');
    await workload(exporters, 3);
    shards[1] = await startGatewayProcess({ configYaml: shardYaml(addresses, central.url), env: shardEnv(1), dataDir: s1.dataDir, listen: new URL(s1.url).host });
    expect((await ok(shards[1].api.get('/api/v1/forward'))).data.pending).to.be.at.least(pending);

    central = await startGatewayProcess({ configYaml: `shards:\n  urls: [${shards.map((s) => s.url).join(', ')}]\n`, dataDir: central.dataDir, listen: centralListen });
    await workload(exporters, 4);

    const cFinish = await ok(central.api.post('/test-finished', { session: 'campaign', wait: true }));
    const gFinish = await ok(single.api.post('/test-finished', { session: 'campaign', wait: true }));
    expect(cFinish.summary).to.deep.equal(gFinish.summary);
    expect(cFinish.summary.lines.covered).to.be.greaterThan(0);
    for (const s of shards) {
      expect((await ok(s.api.get('/api/v1/sessions/campaign'))).data.state).to.equal('finished');
      expect((await ok(s.api.get('/api/v1/forward'))).data.pending).to.equal(0);
    }

    // Session coverage, whole-window coverage and per-service coverage: equal to the single gateway.
    expect(await coverage(central, 'session=campaign')).to.deep.equal(await coverage(single, 'session=campaign'));
    expect(await coverage(central, 'test_type=AT')).to.deep.equal(await coverage(single, 'test_type=AT'));
    const window = await coverage(central, 'job=svc');
    expect(window).to.deep.equal(await coverage(single, 'job=svc'));
    for (const svc of ['svc-0', 'svc-1', 'svc-2']) expect(await coverage(central, `service=${svc}`)).to.deep.equal(await coverage(single, `service=${svc}`));
    // Nothing lost, nothing counted twice: the window is exactly the sum of what the 30 processes counted.
    const raw = istanbulMerge(...(await Promise.all(exporters.map((e) => e.raw()))));
    const path = Object.keys(raw)[0]!;
    expect(window[path]!.s).to.deep.equal(raw[path]!.s);
    expect(window[path]!.f).to.deep.equal(raw[path]!.f);
    expect(window[path]!.b).to.deep.equal(raw[path]!.b);

    // What ran before the session is in the window, not in the session.
    expect(window[path]!.s).to.not.deep.equal((await coverage(central, 'session=campaign'))[path]!.s);
    // Structure once: the shards that were never restarted sent counters only after the first forward of a target.
    const stats = await Promise.all([shards[0]!, shards[2]!].map(async (s) => (await ok(s.api.get('/api/v1/forward'))).data));
    for (const st of stats) expect(st.sentCountersOnly).to.be.greaterThan(0);

    // Idempotent: finishing again on the central changes nothing.
    expect((await ok(central.api.post('/test-finished', { session: 'campaign', wait: true }))).summary).to.deep.equal(cFinish.summary);
    // /metrics on the central shows the services as a single gateway does.
    const metrics = (await central.api.get('/metrics')).data as string;
    const ratio = (text: string) => text.split('\n').filter((l) => l.startsWith('covgate_coverage_ratio{')).sort();
    expect(ratio(metrics)).to.deep.equal(ratio((await single.api.get('/metrics')).data as string));
  });
});
