/**
 * Interop with the real Prometheus tools (Debian package `prometheus`:
 * /usr/bin/prometheus and /usr/bin/promtool): covgate's exposition, rules and
 * example config pass promtool, and a real Prometheus scraping a real covgate
 * gateway reads the same coverage covgate reports itself.
 *
 * Under CI=true a missing tool fails the suite; elsewhere the suite is skipped.
 */
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import axios from 'axios';
import { createMetrics } from '../../gateway/metrics/index.ts';
import type { Summary, Totals } from '../../gateway/model/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const promDir = join(root, 'config', 'prometheus');
const dashboardPath = join(root, 'config', 'grafana', 'covgate-dashboard.json');

function findTool(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The tool's path; under CI a missing tool is a failure, elsewhere the test is skipped. */
function requireTool(ctx: Mocha.Context, name: string): string {
  const p = findTool(name);
  if (p) return p;
  if (process.env.CI === 'true') throw new Error(`${name} not found on PATH: install the Debian package "prometheus" (apt-get install -y prometheus)`);
  ctx.skip();
}

function run(cmd: string, args: string[], input?: string): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/**
 * Lint findings of `promtool check metrics` that are known and accepted:
 * - nodejs_active_*_total are prom-client's default process metrics, not ours.
 * Anything else promtool reports fails the test.
 */
const KNOWN_LINT_FINDINGS = [
  /^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/,
];

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

/** Polls `fn` until it returns a value other than undefined, or fails with the last reason at the deadline. */
async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = 'no answer yet';
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${last instanceof Error ? last.message : String(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function totals(covered: number, total: number): Totals {
  return { covered, total, skipped: 0, pct: total === 0 ? 100 : (100 * covered) / total };
}

function fakeSummary(l: number, t: number): Summary {
  return { lines: totals(l, t), statements: totals(l, t), functions: totals(1, 3), branches: totals(0, 0) };
}

/** Exposition text with every metric family populated, from createMetrics and fake providers. */
async function sampleExposition(): Promise<string> {
  const m = createMetrics({
    perFile: true,
    perFileLimit: 2,
    coverage: {
      services: () => [
        { job: 'orders', service: 'orders', summary: fakeSummary(30, 40), files: new Map([['src/a.js', fakeSummary(1, 2)], ['C:\\src\\"odd"\nname.js', fakeSummary(2, 2)], ['src/z.js', fakeSummary(0, 2)]]) },
        { job: 'users', service: 'users', summary: fakeSummary(0, 0) },
      ],
    },
    pushQueue: () => [{ upstream: 'center', length: 2 }],
    logger: { warn() {} },
  });
  m.scrapeFinished({ job: 'orders', instance: '10.0.0.1:8081', up: true, durationSeconds: 0.012, bodyBytes: 5120, result: 'success' });
  m.scrapeFinished({ job: 'orders', instance: '10.0.0.2:8081', up: false, durationSeconds: 10, bodyBytes: 0, result: 'timeout' });
  m.targetRestarted('orders', '10.0.0.1:8081');
  m.pushFinished('center', 'retry');
  m.pushFinished('center', 'success');
  m.sessionFinished('orders', fakeSummary(20, 40));
  m.configReloaded(true);
  m.snapshotStored();
  return (await m.render()).body;
}

describe('Prometheus interop', function () {
  this.timeout(180_000);

  describe('promtool', () => {
    let promtool: string;
    before(function () {
      promtool = requireTool(this, 'promtool');
    });

    it('accepts covgate\'s /metrics exposition (check metrics lints names, units, HELP)', async () => {
      const text = await sampleExposition();
      expect(text).to.include('covgate_file_coverage_ratio{');
      const r = run(promtool, ['check', 'metrics'], text);
      // Exit 1 is a parse error; exit 3 lists lint problems, one per line.
      expect(r.code, r.out).to.be.oneOf([0, 3]);
      const problems = r.out.split('\n').filter((l) => l.trim() !== '');
      const unexpected = problems.filter((l) => !KNOWN_LINT_FINDINGS.some((re) => re.test(l)));
      expect(unexpected, r.out).to.deep.equal([]);
      if (r.code === 3) expect(problems).to.not.be.empty;
    });

    it('accepts config/prometheus/covgate-rules.yml (check rules)', () => {
      const r = run(promtool, ['check', 'rules', join(promDir, 'covgate-rules.yml')]);
      expect(r.code, r.out).to.equal(0);
      expect(r.out).to.match(/SUCCESS: \d+ rules found/);
    });

    it('fires the alerts as the rules\' unit tests expect (test rules)', () => {
      const r = run(promtool, ['test', 'rules', join(promDir, 'covgate-rules.test.yml')]);
      expect(r.code, r.out).to.equal(0);
      expect(r.out).to.include('SUCCESS');
    });

    it('accepts an adapted copy of config/prometheus/prometheus.yml (check config)', () => {
      const dir = mkdtempSync(join(tmpdir(), 'covgate-promcfg-'));
      try {
        // The copy points at another gateway address; rule_files stay relative to it.
        const cfg = readFileSync(join(promDir, 'prometheus.yml'), 'utf8').replace('127.0.0.1:9464', '127.0.0.1:19464');
        writeFileSync(join(dir, 'prometheus.yml'), cfg);
        copyFileSync(join(promDir, 'covgate-rules.yml'), join(dir, 'covgate-rules.yml'));
        const r = run(promtool, ['check', 'config', join(dir, 'prometheus.yml')]);
        expect(r.code, r.out).to.equal(0);
        expect(r.out).to.match(/SUCCESS: 1 rule files found/);
        expect(r.out).to.match(/SUCCESS: \d+ rules found/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('a real Prometheus scraping a real covgate gateway', () => {
    let prometheusBin: string;
    const stops: Array<() => Promise<void>> = [];

    before(function () {
      prometheusBin = requireTool(this, 'prometheus');
    });

    after(async () => {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
    });

    it('reads the same line coverage from /api/v1/query as covgate\'s own json-summary', async function () {
      // Imported here so that the promtool checks above run even before the gateway binary builds.
      const { startGatewayProcess } = await import('../helpers/gateway-process.ts');
      const { startIstanbulExporter } = await import('../helpers/exporter-process.ts');

      const exporter = await startIstanbulExporter();
      stops.push(() => exporter.stop());
      const gateway = await startGatewayProcess({
        manualScrapes: false,
        configYaml: [
          'global:',
          '  scrape_interval: 1s',
          '  scrape_timeout: 1s',
          'scrape_configs:',
          '  - job_name: sample',
          '    static_configs:',
          `      - targets: ['${exporter.address}']`,
          '        labels: { service: sample }',
          '',
        ].join('\n'),
      });
      stops.push(() => gateway.stop());

      // Real traffic through the instrumented app, then one scrape so covgate has it.
      await exporter.hit('/');
      await exporter.hit('/orders/1');
      const scrape = await axios.post(`${gateway.url}/api/v1/scrape`, undefined, { validateStatus: () => true, proxy: false });
      expect(scrape.status, JSON.stringify(scrape.data)).to.be.lessThan(300);
      const summaryRes = await axios.get(`${gateway.url}/api/v1/coverage?service=sample&format=json-summary`, { proxy: false });
      const lines = (summaryRes.data as { total: { lines: { covered: number; total: number; pct: number } } }).total.lines;
      expect(lines.total).to.be.greaterThan(0);
      expect(lines.covered).to.be.greaterThan(0);

      // The real gateway's exposition passes promtool like the sample does.
      const promtool = requireTool(this, 'promtool');
      const metricsText = String((await axios.get(`${gateway.url}/metrics`, { proxy: false, responseType: 'text' })).data);
      expect(metricsText).to.match(/^covgate_coverage_ratio\{job="sample",service="sample",kind="lines"\} /m);
      const lint = run(promtool, ['check', 'metrics'], metricsText);
      expect(lint.code, lint.out).to.be.oneOf([0, 3]);
      expect(lint.out.split('\n').filter((l) => l.trim() !== '' && !KNOWN_LINT_FINDINGS.some((re) => re.test(l))), lint.out).to.deep.equal([]);

      // Prometheus with a 1s scrape of the gateway, loading covgate's rules too.
      const dir = mkdtempSync(join(tmpdir(), 'covgate-prom-'));
      stops.push(async () => rmSync(dir, { recursive: true, force: true }));
      const gatewayHost = new URL(gateway.url).host;
      writeFileSync(
        join(dir, 'prometheus.yml'),
        [
          'global:',
          '  scrape_interval: 1s',
          '  scrape_timeout: 1s',
          '  evaluation_interval: 1s',
          'rule_files: [covgate-rules.yml]',
          'scrape_configs:',
          '  - job_name: covgate',
          '    honor_labels: true',
          '    static_configs:',
          `      - targets: ['${gatewayHost}']`,
          '',
        ].join('\n'),
      );
      // The recording rules at a 1s interval, so the test does not wait a minute for them.
      writeFileSync(join(dir, 'covgate-rules.yml'), readFileSync(join(promDir, 'covgate-rules.yml'), 'utf8').replace(/interval: 1m/, 'interval: 1s'));
      const port = await freePort();
      const prom = await startPrometheus(prometheusBin, dir, port);
      stops.push(prom.stop);
      const api = axios.create({ baseURL: `http://127.0.0.1:${port}`, proxy: false, validateStatus: () => true });

      const query = async (q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }> | undefined> => {
        const r = await api.get('/api/v1/query', { params: { query: q } });
        if (r.status !== 200 || r.data.status !== 'success') throw new Error(`query ${q}: ${r.status} ${JSON.stringify(r.data)}\n${prom.output()}`);
        const result = r.data.data.result as Array<{ metric: Record<string, string>; value: [number, string] }>;
        return result.length > 0 ? result : undefined;
      };
      const one = async (q: string): Promise<number> => {
        const result = await eventually(q, () => query(q), 60_000);
        expect(result, q).to.have.length(1);
        return Number(result[0]!.value[1]);
      };

      const ratio = await one('covgate_coverage_ratio{service="sample",kind="lines"}');
      // json-summary's pct is rounded to two decimals; covered/total is exact.
      expect(ratio).to.be.closeTo(lines.pct / 100, 1e-4);
      expect(ratio).to.equal(lines.covered / lines.total);
      expect(await one('covgate_coverage_covered{service="sample",kind="lines"}')).to.equal(lines.covered);
      expect(await one('covgate_coverage_coverable{service="sample",kind="lines"}')).to.equal(lines.total);
      // honor_labels keeps covgate's job label (the covered job) on the coverage series.
      const series = (await query('covgate_coverage_ratio{service="sample",kind="lines"}'))!;
      expect(series[0]!.metric.job).to.equal('sample');
      expect(await one(`covgate_target_up{job="sample",instance="${exporter.address}"}`)).to.equal(1);
      expect(await one('up{job="covgate"}')).to.equal(1);

      // The recording rule of the rules file, evaluated by the real Prometheus.
      expect(await one('service:covgate_coverage_ratio:lines{service="sample"}')).to.equal(ratio);
      const rules = await api.get('/api/v1/rules');
      const bad = (rules.data.data.groups as Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }>)
        .flatMap((g) => g.rules)
        .filter((r) => r.health === 'err');
      expect(bad, JSON.stringify(bad)).to.deep.equal([]);

      // Every dashboard query is valid PromQL for this Prometheus (with its variables filled in).
      const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
      for (const p of dashboard.panels) {
        for (const t of p.targets ?? []) {
          const expr = t.expr.replace(/\$__rate_interval/g, '1m').replace(/\$(job|service)\b/g, '.*').replace(/\$kind\b/g, 'lines');
          const r = await api.get('/api/v1/query', { params: { query: expr } });
          expect(r.data.status, `panel "${p.title}": ${expr}: ${JSON.stringify(r.data)}`).to.equal('success');
        }
      }
    });
  });
});

interface PrometheusProcess {
  stop(): Promise<void>;
  output(): string;
}

/** Starts the prometheus binary (not the system service) on loopback with a temporary TSDB, and waits until it is ready. */
async function startPrometheus(bin: string, dir: string, port: number): Promise<PrometheusProcess> {
  const proc: ChildProcess = spawn(
    bin,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(proc, 'exit');
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await eventually('prometheus /-/ready', async () => {
      if (proc.exitCode !== null) throw new Error(`prometheus exited with ${proc.exitCode}:\n${out}`);
      const r = await axios.get(`http://127.0.0.1:${port}/-/ready`, { proxy: false, validateStatus: () => true, timeout: 2000 });
      return r.status === 200 ? true : undefined;
    }, 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop, output: () => out };
}
