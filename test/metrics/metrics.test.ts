import { expect } from 'chai';
import { register as globalRegistry } from 'prom-client';
import { createMetrics, selectFiles, type GatewayMetrics, type MetricsOptions, type ServiceCoverage } from '../../gateway/metrics/index.ts';
import type { Summary, Totals } from '../../gateway/model/index.ts';
import { parseExposition, seriesOf, valueOf, type Exposition } from './exposition.ts';
import { FakeClock } from '../fakes/clock.ts';

function t(covered: number, total: number): Totals {
  return { covered, total, skipped: 0, pct: total === 0 ? 100 : Math.round((covered / total) * 10000) / 100 };
}

function summary(lines: [number, number], statements: [number, number] = lines, functions: [number, number] = [1, 2], branches: [number, number] = [0, 0]): Summary {
  return { lines: t(...lines), statements: t(...statements), functions: t(...functions), branches: t(...branches) };
}

/** A coverage provider whose answer the test changes, counting its reads. */
class FakeCoverage {
  list: ServiceCoverage[] = [];
  reads = 0;
  fail = false;
  services(): ServiceCoverage[] {
    this.reads++;
    if (this.fail) throw new Error('cache unavailable');
    return this.list;
  }
}

class FakeLogger {
  warnings: Array<{ obj: object; msg: string }> = [];
  warn(obj: object, msg: string): void {
    this.warnings.push({ obj, msg });
  }
}

interface Rig {
  m: GatewayMetrics;
  coverage: FakeCoverage;
  logger: FakeLogger;
  queue: Array<{ upstream: string; length: number }>;
  clock: FakeClock;
  scrape(): Promise<Exposition>;
}

function rig(opts: Partial<MetricsOptions> = {}): Rig {
  const coverage = new FakeCoverage();
  const logger = new FakeLogger();
  const clock = new FakeClock(1_700_000_000_000);
  const r: Rig = {
    coverage,
    logger,
    clock,
    queue: [],
    m: undefined as unknown as GatewayMetrics,
    async scrape() {
      return parseExposition((await r.m.render()).body);
    },
  };
  r.m = createMetrics({
    perFile: false,
    perFileLimit: 100,
    coverage,
    logger,
    pushQueue: () => r.queue,
    now: clock.now,
    version: '9.9.9-test',
    defaultMetrics: false,
    ...opts,
  });
  return r;
}

describe('createMetrics', () => {
  describe('coverage gauges', () => {
    it('exposes ratio, covered and total per job, service and kind from the provider', async () => {
      const r = rig();
      r.coverage.list = [{ job: 'orders', service: 'orders', summary: summary([30, 40], [45, 60], [3, 4], [1, 8]) }];
      const e = await r.scrape();
      expect(valueOf(e, 'covgate_coverage_ratio', { job: 'orders', service: 'orders', kind: 'lines' })).to.equal(0.75);
      expect(valueOf(e, 'covgate_coverage_ratio', { service: 'orders', kind: 'statements' })).to.equal(0.75);
      expect(valueOf(e, 'covgate_coverage_ratio', { service: 'orders', kind: 'functions' })).to.equal(0.75);
      expect(valueOf(e, 'covgate_coverage_ratio', { service: 'orders', kind: 'branches' })).to.equal(0.125);
      expect(valueOf(e, 'covgate_coverage_covered', { service: 'orders', kind: 'lines' })).to.equal(30);
      expect(valueOf(e, 'covgate_coverage_coverable', { service: 'orders', kind: 'lines' })).to.equal(40);
      expect(seriesOf(e, 'covgate_coverage_ratio')).to.have.length(4);
    });

    it('reports an empty kind (0 of 0) as ratio 1, as Istanbul shows 100%', async () => {
      const r = rig();
      r.coverage.list = [{ job: 'j', service: 's', summary: summary([0, 0], [0, 0], [0, 0], [0, 0]) }];
      const e = await r.scrape();
      for (const kind of ['lines', 'statements', 'functions', 'branches']) {
        expect(valueOf(e, 'covgate_coverage_ratio', { kind })).to.equal(1);
        expect(valueOf(e, 'covgate_coverage_coverable', { kind })).to.equal(0);
      }
    });

    it('drops the series of a service the provider no longer returns', async () => {
      const r = rig();
      r.coverage.list = [
        { job: 'j', service: 'a', summary: summary([1, 2]) },
        { job: 'j', service: 'b', summary: summary([1, 4]) },
      ];
      expect(seriesOf(await r.scrape(), 'covgate_coverage_ratio')).to.have.length(8);
      r.coverage.list = [{ job: 'j', service: 'b', summary: summary([3, 4]) }];
      const e = await r.scrape();
      for (const name of ['covgate_coverage_ratio', 'covgate_coverage_covered', 'covgate_coverage_coverable']) {
        expect(seriesOf(e, name).map((s) => s.labels.service)).to.deep.equal(['b', 'b', 'b', 'b']);
      }
      expect(valueOf(e, 'covgate_coverage_ratio', { service: 'b', kind: 'lines' })).to.equal(0.75);
    });

    it('reads the provider once per render and anew on every render', async () => {
      const r = rig({ perFile: true });
      r.coverage.list = [{ job: 'j', service: 's', summary: summary([1, 2]) }];
      await r.m.render();
      expect(r.coverage.reads).to.equal(1);
      r.coverage.list = [{ job: 'j', service: 's', summary: summary([2, 2]) }];
      const e = await r.scrape(); // same tick as the first render: must not reuse its read
      expect(r.coverage.reads).to.equal(2);
      expect(valueOf(e, 'covgate_coverage_ratio', { kind: 'lines' })).to.equal(1);
    });

    it('keeps the previous values and warns when the provider fails (stale beats empty)', async () => {
      const r = rig();
      r.coverage.list = [{ job: 'j', service: 's', summary: summary([1, 4]) }];
      await r.scrape();
      r.coverage.fail = true;
      const e = await r.scrape();
      expect(valueOf(e, 'covgate_coverage_ratio', { kind: 'lines' })).to.equal(0.25);
      expect(r.logger.warnings).to.have.length(1);
      expect(r.logger.warnings[0]!.msg).to.match(/coverage provider failed/);
    });
  });

  describe('scrapes and targets', () => {
    it('records up, duration and body size of the last scrape and counts scrapes by result', async () => {
      const r = rig();
      r.m.scrapeFinished({ job: 'orders', instance: 'h:1', up: true, durationSeconds: 0.25, bodyBytes: 2048, result: 'success' });
      r.m.scrapeFinished({ job: 'orders', instance: 'h:1', up: true, durationSeconds: 0.5, bodyBytes: 4096, result: 'success' });
      r.m.scrapeFinished({ job: 'orders', instance: 'h:2', up: false, durationSeconds: 10, bodyBytes: 0, result: 'timeout' });
      const e = await r.scrape();
      expect(valueOf(e, 'covgate_target_up', { job: 'orders', instance: 'h:1' })).to.equal(1);
      expect(valueOf(e, 'covgate_target_up', { job: 'orders', instance: 'h:2' })).to.equal(0);
      expect(valueOf(e, 'covgate_scrape_duration_seconds', { instance: 'h:1' })).to.equal(0.5);
      expect(valueOf(e, 'covgate_scrape_duration_seconds', { instance: 'h:2' })).to.equal(10);
      expect(valueOf(e, 'covgate_scrape_body_bytes', { instance: 'h:1' })).to.equal(4096);
      expect(valueOf(e, 'covgate_scrapes_total', { job: 'orders', result: 'success' })).to.equal(2);
      expect(valueOf(e, 'covgate_scrapes_total', { job: 'orders', result: 'timeout' })).to.equal(1);
      expect(valueOf(e, 'covgate_target_last_scrape_timestamp_seconds', { instance: 'h:1' })).to.equal(1_700_000_000);
    });

    it('creates every scrape result of a job at 0, so increase() sees the first failure', async () => {
      const r = rig();
      r.m.scrapeFinished({ job: 'j', instance: 'h:1', up: true, durationSeconds: 0.1, bodyBytes: 1, result: 'success' });
      const e = await r.scrape();
      for (const result of ['error', 'timeout', 'too_large', 'bad_data', 'not_modified']) {
        expect(valueOf(e, 'covgate_scrapes_total', { job: 'j', result })).to.equal(0);
      }
      expect(valueOf(e, 'covgate_target_restarts_total', { job: 'j', instance: 'h:1' })).to.equal(0);
    });

    it('counts restarts per target', async () => {
      const r = rig();
      r.m.scrapeFinished({ job: 'j', instance: 'h:1', up: true, durationSeconds: 0.1, bodyBytes: 1, result: 'success' });
      r.m.targetRestarted('j', 'h:1');
      r.m.targetRestarted('j', 'h:1');
      r.m.targetRestarted('j', 'h:2');
      const e = await r.scrape();
      expect(valueOf(e, 'covgate_target_restarts_total', { instance: 'h:1' })).to.equal(2);
      expect(valueOf(e, 'covgate_target_restarts_total', { instance: 'h:2' })).to.equal(1);
    });

    it('drops every per-target series of a removed target and keeps the others and the job counters', async () => {
      const r = rig();
      for (const instance of ['h:1', 'h:2']) {
        r.m.scrapeFinished({ job: 'j', instance, up: true, durationSeconds: 0.1, bodyBytes: 1, result: 'success' });
        r.m.targetRestarted('j', instance);
      }
      r.m.targetRemoved('j', 'h:1');
      const e = await r.scrape();
      for (const name of ['covgate_target_up', 'covgate_scrape_duration_seconds', 'covgate_scrape_body_bytes', 'covgate_target_restarts_total', 'covgate_target_last_scrape_timestamp_seconds']) {
        expect(seriesOf(e, name).map((s) => s.labels.instance), name).to.deep.equal(['h:2']);
      }
      expect(valueOf(e, 'covgate_scrapes_total', { job: 'j', result: 'success' })).to.equal(2);
    });

    it('starts a removed target that comes back with fresh series', async () => {
      const r = rig();
      r.m.scrapeFinished({ job: 'j', instance: 'h:1', up: true, durationSeconds: 0.1, bodyBytes: 1, result: 'success' });
      r.m.targetRestarted('j', 'h:1');
      r.m.targetRemoved('j', 'h:1');
      r.m.scrapeFinished({ job: 'j', instance: 'h:1', up: false, durationSeconds: 0.2, bodyBytes: 0, result: 'error' });
      const e = await r.scrape();
      expect(valueOf(e, 'covgate_target_up', { instance: 'h:1' })).to.equal(0);
      expect(valueOf(e, 'covgate_target_restarts_total', { instance: 'h:1' })).to.equal(0);
    });
  });

  describe('pushes', () => {
    it('counts push attempts by upstream and result, with every result created at 0', async () => {
      const r = rig();
      r.m.pushFinished('center', 'retry');
      r.m.pushFinished('center', 'retry');
      r.clock.ms = 1_700_000_100_000;
      r.m.pushFinished('center', 'success');
      r.m.pushFinished('backup', 'failed');
      const e = await r.scrape();
      expect(valueOf(e, 'covgate_pushes_total', { upstream: 'center', result: 'retry' })).to.equal(2);
      expect(valueOf(e, 'covgate_pushes_total', { upstream: 'center', result: 'success' })).to.equal(1);
      expect(valueOf(e, 'covgate_pushes_total', { upstream: 'center', result: 'failed' })).to.equal(0);
      expect(valueOf(e, 'covgate_pushes_total', { upstream: 'backup', result: 'failed' })).to.equal(1);
      expect(valueOf(e, 'covgate_pushes_total', { upstream: 'backup', result: 'success' })).to.equal(0);
      expect(valueOf(e, 'covgate_push_last_success_timestamp_seconds', { upstream: 'center' })).to.equal(1_700_000_100);
      expect(valueOf(e, 'covgate_push_last_success_timestamp_seconds', { upstream: 'backup' })).to.equal(undefined);
    });

    it('reads the queue length per upstream at collect time and drops upstreams that left', async () => {
      const r = rig();
      r.queue = [{ upstream: 'center', length: 3 }, { upstream: 'backup', length: 0 }];
      let e = await r.scrape();
      expect(valueOf(e, 'covgate_push_queue_length', { upstream: 'center' })).to.equal(3);
      expect(valueOf(e, 'covgate_push_queue_length', { upstream: 'backup' })).to.equal(0);
      // An upstream known from the outbox has its zero counters in the same render.
      expect(valueOf(e, 'covgate_pushes_total', { upstream: 'center', result: 'failed' })).to.equal(0);
      r.queue = [{ upstream: 'center', length: 1 }];
      e = await r.scrape();
      expect(seriesOf(e, 'covgate_push_queue_length').map((s) => [s.labels.upstream, s.value])).to.deep.equal([['center', 1]]);
    });

    it('has no queue series without a queue provider', async () => {
      const r = rig({ pushQueue: undefined });
      const e = await r.scrape();
      expect(seriesOf(e, 'covgate_push_queue_length')).to.have.length(0);
      expect(e.type.get('covgate_push_queue_length')).to.equal('gauge');
    });
  });

  describe('sessions and self-metrics', () => {
    it('keeps the coverage of the last finished session per service', async () => {
      const r = rig();
      r.m.sessionFinished('orders', summary([1, 4]));
      r.clock.ms = 1_700_000_050_000;
      r.m.sessionFinished('orders', summary([3, 4], [3, 4], [0, 0], [1, 2]));
      r.m.sessionFinished('users', summary([1, 2]));
      const e = await r.scrape();
      expect(valueOf(e, 'covgate_last_session_coverage_ratio', { service: 'orders', kind: 'lines' })).to.equal(0.75);
      expect(valueOf(e, 'covgate_last_session_coverage_ratio', { service: 'orders', kind: 'functions' })).to.equal(1);
      expect(valueOf(e, 'covgate_last_session_coverage_ratio', { service: 'orders', kind: 'branches' })).to.equal(0.5);
      expect(valueOf(e, 'covgate_last_session_coverage_ratio', { service: 'users', kind: 'lines' })).to.equal(0.5);
      expect(valueOf(e, 'covgate_last_session_timestamp_seconds', { service: 'orders' })).to.equal(1_700_000_050);
      expect(valueOf(e, 'covgate_sessions_finished_total', { service: 'orders' })).to.equal(2);
    });

    it('reports config reloads like Prometheus: last result and time of the last success', async () => {
      const r = rig();
      r.m.configReloaded(true);
      r.clock.ms += 60_000;
      r.m.configReloaded(false);
      const e = await r.scrape();
      expect(valueOf(e, 'covgate_config_last_reload_successful')).to.equal(0);
      expect(valueOf(e, 'covgate_config_last_reload_success_timestamp_seconds')).to.equal(1_700_000_000);
      r.m.configReloaded(true);
      expect(valueOf(await r.scrape(), 'covgate_config_last_reload_successful')).to.equal(1);
    });

    it('exposes build info and counts stored snapshots', async () => {
      const r = rig();
      r.m.snapshotStored();
      r.m.snapshotStored(4);
      const e = await r.scrape();
      const info = seriesOf(e, 'covgate_build_info');
      expect(info).to.have.length(1);
      expect(info[0]!.labels.version).to.equal('9.9.9-test');
      expect(info[0]!.labels.node_version).to.equal(process.version);
      expect(info[0]!.value).to.equal(1);
      expect(valueOf(e, 'covgate_store_snapshots_written_total')).to.equal(5);
    });

    it('defaults the build version to package.json', async () => {
      const r = rig({ version: undefined });
      const info = seriesOf(await r.scrape(), 'covgate_build_info');
      expect(info[0]!.labels.version).to.match(/^\d+\.\d+\.\d+/);
    });
  });

  describe('per-file coverage', () => {
    const files = (n: number): Map<string, Summary> => {
      const m = new Map<string, Summary>();
      // inserted in reverse to show that the order of the map does not matter
      for (let i = n - 1; i >= 0; i--) m.set(`src/f${String(i).padStart(2, '0')}.js`, summary([i, 10]));
      return m;
    };

    it('is not registered unless metrics.per_file is on', async () => {
      const r = rig({ perFile: false });
      r.coverage.list = [{ job: 'j', service: 's', summary: summary([1, 2]), files: files(2) }];
      const e = await r.scrape();
      expect(e.type.has('covgate_file_coverage_ratio')).to.equal(false);
      expect(r.m.registry.getSingleMetric('covgate_file_coverage_ratio')).to.equal(undefined);
    });

    it('exposes a ratio per service, file and kind when on', async () => {
      const r = rig({ perFile: true });
      r.coverage.list = [{ job: 'j', service: 's', summary: summary([1, 2]), files: files(3) }];
      const e = await r.scrape();
      expect(seriesOf(e, 'covgate_file_coverage_ratio')).to.have.length(12);
      expect(valueOf(e, 'covgate_file_coverage_ratio', { service: 's', file: 'src/f02.js', kind: 'lines' })).to.equal(0.2);
      expect(r.logger.warnings).to.have.length(0);
    });

    it('caps the files per service at perFileLimit, first by path, and logs one warning per service', async () => {
      const r = rig({ perFile: true, perFileLimit: 2 });
      r.coverage.list = [
        { job: 'j', service: 'a', summary: summary([1, 2]), files: files(5) },
        { job: 'j', service: 'b', summary: summary([1, 2]), files: files(2) },
      ];
      for (let i = 0; i < 3; i++) {
        const e = await r.scrape();
        const a = seriesOf(e, 'covgate_file_coverage_ratio').filter((s) => s.labels.service === 'a' && s.labels.kind === 'lines');
        expect(a.map((s) => s.labels.file)).to.deep.equal(['src/f00.js', 'src/f01.js']);
        expect(seriesOf(e, 'covgate_file_coverage_ratio').filter((s) => s.labels.service === 'b')).to.have.length(8);
      }
      expect(r.logger.warnings).to.have.length(1);
      expect(r.logger.warnings[0]!.obj).to.deep.include({ service: 'a', files: 5, limit: 2, dropped: 3 });
      expect(r.logger.warnings[0]!.msg).to.match(/capped at 2 of 5 files/);
    });

    it('warns again only when the cut set changes', async () => {
      const r = rig({ perFile: true, perFileLimit: 2 });
      r.coverage.list = [{ job: 'j', service: 'a', summary: summary([1, 2]), files: files(3) }];
      await r.scrape();
      await r.scrape();
      expect(r.logger.warnings).to.have.length(1);
      // The same set of files with other coverage values: the same cut, no new line.
      const changed = files(3);
      changed.set('src/f02.js', summary([10, 10]));
      r.coverage.list = [{ job: 'j', service: 'a', summary: summary([1, 2]), files: changed }];
      await r.scrape();
      expect(r.logger.warnings).to.have.length(1);
      r.coverage.list = [{ job: 'j', service: 'a', summary: summary([1, 2]), files: files(4) }];
      await r.scrape();
      expect(r.logger.warnings).to.have.length(2);
      expect(r.logger.warnings[1]!.obj).to.deep.include({ files: 4, dropped: 2 });
      // Under the cap, then over it again with the first cut: warned again.
      r.coverage.list = [{ job: 'j', service: 'a', summary: summary([1, 2]), files: files(2) }];
      await r.scrape();
      r.coverage.list = [{ job: 'j', service: 'a', summary: summary([1, 2]), files: files(3) }];
      await r.scrape();
      expect(r.logger.warnings).to.have.length(3);
    });

    it('drops the file series of a service that disappears', async () => {
      const r = rig({ perFile: true });
      r.coverage.list = [{ job: 'j', service: 'a', summary: summary([1, 2]), files: files(2) }];
      await r.scrape();
      r.coverage.list = [];
      expect(seriesOf(await r.scrape(), 'covgate_file_coverage_ratio')).to.have.length(0);
    });

    it('escapes file paths with quotes, backslashes and newlines in label values', async () => {
      const r = rig({ perFile: true });
      const weird = 'C:\\src\\"quoted"\nfile.js';
      r.coverage.list = [{ job: 'j', service: 's', summary: summary([1, 2]), files: new Map([[weird, summary([1, 1])]]) }];
      const e = await r.scrape();
      expect(valueOf(e, 'covgate_file_coverage_ratio', { file: weird, kind: 'lines' })).to.equal(1);
    });

    it('selectFiles keeps the first paths in code-unit order', () => {
      expect(selectFiles(['b', 'a', 'c', 'B'], 2)).to.deep.equal({ kept: ['B', 'a'], dropped: ['b', 'c'] });
      expect(selectFiles(['a'], 0)).to.deep.equal({ kept: [], dropped: ['a'] });
    });
  });

  describe('exposition', () => {
    it('gives every metric family HELP and TYPE, and parses cleanly', async () => {
      const r = rig({ perFile: true, defaultMetrics: true });
      r.coverage.list = [{ job: 'j', service: 's', summary: summary([1, 2]), files: new Map([['a.js', summary([1, 2])]]) }];
      r.queue = [{ upstream: 'center', length: 1 }];
      r.m.scrapeFinished({ job: 'j', instance: 'h:1', up: true, durationSeconds: 0.1, bodyBytes: 1, result: 'success' });
      r.m.targetRestarted('j', 'h:1');
      r.m.pushFinished('center', 'success');
      r.m.sessionFinished('s', summary([1, 2]));
      r.m.configReloaded(true);
      const { contentType, body } = await r.m.render();
      expect(contentType).to.match(/^text\/plain; version=0\.0\.4/);
      const e = parseExposition(body);
      const names = r.m.registry.getMetricsAsArray().map((m) => m.name);
      expect(names.length).to.be.greaterThan(20);
      for (const name of names) {
        expect(e.help.get(name), `HELP of ${name}`).to.be.a('string').and.not.equal('');
        expect(e.type.has(name), `TYPE of ${name}`).to.equal(true);
      }
      expect(e.samples.some((s) => s.name === 'process_cpu_user_seconds_total')).to.equal(true);
    });

    it('registers the contract metric names with their units and types', () => {
      const r = rig({ perFile: true });
      const types = new Map(r.m.registry.getMetricsAsArray().map((m) => [m.name, (m as unknown as { type: string }).type]));
      const contract: Record<string, string> = {
        covgate_coverage_ratio: 'gauge',
        covgate_coverage_covered: 'gauge',
        covgate_coverage_coverable: 'gauge',
        covgate_target_up: 'gauge',
        covgate_scrape_duration_seconds: 'gauge',
        covgate_scrape_body_bytes: 'gauge',
        covgate_scrapes_total: 'counter',
        covgate_target_restarts_total: 'counter',
        covgate_pushes_total: 'counter',
        covgate_push_queue_length: 'gauge',
        covgate_last_session_coverage_ratio: 'gauge',
        covgate_file_coverage_ratio: 'gauge',
        covgate_build_info: 'gauge',
      };
      for (const [name, type] of Object.entries(contract)) expect(types.get(name), name).to.equal(type);
      for (const [name, type] of types) if (type === 'counter') expect(name, name).to.match(/_total$/);
    });

    it('uses a registry of its own, so two gateways coexist in one process', async () => {
      const a = rig({ defaultMetrics: true });
      const b = rig({ defaultMetrics: true });
      expect(a.m.registry).to.not.equal(globalRegistry);
      expect(globalRegistry.getSingleMetric('covgate_coverage_ratio')).to.equal(undefined);
      a.m.scrapeFinished({ job: 'j', instance: 'h:1', up: true, durationSeconds: 0.1, bodyBytes: 1, result: 'success' });
      expect(seriesOf(await b.scrape(), 'covgate_target_up')).to.have.length(0);
    });
  });
});
