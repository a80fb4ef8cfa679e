import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { createMetrics } from '../../gateway/metrics/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dashboardPath = join(root, 'config', 'grafana', 'covgate-dashboard.json');
const rulesPath = join(root, 'config', 'prometheus', 'covgate-rules.yml');
const prometheusPath = join(root, 'config', 'prometheus', 'prometheus.yml');

interface Target {
  expr?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  type: string;
  name: string;
  query: unknown;
  definition?: string;
  multi?: boolean;
  includeAll?: boolean;
  datasource?: { type?: string; uid?: string };
}
interface Dashboard {
  schemaVersion: number;
  uid: string;
  title: string;
  __inputs?: Array<{ name: string; type: string; pluginId: string }>;
  templating: { list: Variable[] };
  panels: Panel[];
}
interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as Dashboard;
const rules = (parseYaml(readFileSync(rulesPath, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups.flatMap((g) => g.rules);

/** Every panel, rows' nested panels included. */
function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}
const panels = allPanels(dashboard.panels);
const queryPanels = panels.filter((p) => p.type !== 'row');

function variableQuery(v: Variable): string {
  return typeof v.query === 'string' ? v.query : String((v.query as { query?: string }).query ?? '');
}

/**
 * Metric names an expression reads: identifiers of our namespaces (covgate_,
 * process_, nodejs_) that are not part of a recording-rule name (level:metric:ops).
 */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/(?<![\w:])((?:covgate|process|nodejs)_[a-zA-Z0-9_]*)(?![\w:])/g)].map((m) => m[1]!);
}

/** Recording-rule names (with colons) an expression reads. */
function recordedNames(expr: string): string[] {
  return [...expr.matchAll(/(?<![\w:])([a-zA-Z_][\w]*:[\w:]+)/g)].map((m) => m[1]!);
}

/** The sample names createMetrics can expose, from its registry (histogram and summary suffixes included). */
function registeredNames(): Set<string> {
  const m = createMetrics({ perFile: true, perFileLimit: 10, coverage: { services: () => [] }, pushQueue: () => [] });
  const out = new Set<string>();
  for (const metric of m.registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    out.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) out.add(name + s);
  }
  return out;
}

describe('Grafana dashboard (config/grafana/covgate-dashboard.json)', () => {
  it('is a current dashboard with a stable uid', () => {
    expect(dashboard.schemaVersion).to.be.at.least(38);
    expect(dashboard.uid).to.match(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.title).to.match(/covgate/);
  });

  it('takes its Prometheus data source as an import input and a ${datasource} variable', () => {
    expect(dashboard.__inputs?.some((i) => i.type === 'datasource' && i.pluginId === 'prometheus')).to.equal(true);
    const ds = dashboard.templating.list.find((v) => v.name === 'datasource');
    expect(ds?.type).to.equal('datasource');
    expect(ds?.query).to.equal('prometheus');
  });

  it('has multi-value job and service variables with "All", read from covgate_coverage_ratio', () => {
    const byName = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    expect(variableQuery(byName.get('job')!)).to.equal('label_values(covgate_coverage_ratio, job)');
    expect(variableQuery(byName.get('service')!)).to.equal('label_values(covgate_coverage_ratio{job=~"$job"}, service)');
    for (const name of ['job', 'service']) {
      const v = byName.get(name)!;
      expect(v.type, name).to.equal('query');
      expect(v.multi, name).to.equal(true);
      expect(v.includeAll, name).to.equal(true);
      expect(v.datasource?.uid, name).to.equal('${datasource}');
    }
  });

  it('gives every panel a unique id and a grid position inside the 24 columns, without overlaps', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size, 'unique panel ids').to.equal(ids.length);
    const cells = new Map<string, string>();
    for (const p of panels) {
      const g = p.gridPos;
      expect(g, `gridPos of ${p.title}`).to.be.an('object');
      for (const k of ['h', 'w', 'x', 'y'] as const) expect(g![k], `${p.title} gridPos.${k}`).to.be.a('number').and.at.least(0);
      expect(g!.x + g!.w, `${p.title} fits 24 columns`).to.be.at.most(24);
      for (let x = g!.x; x < g!.x + g!.w; x++) {
        for (let y = g!.y; y < g!.y + g!.h; y++) {
          const other = cells.get(`${x},${y}`);
          expect(other, `${p.title} overlaps ${other}`).to.equal(undefined);
          cells.set(`${x},${y}`, p.title);
        }
      }
    }
  });

  it('queries the ${datasource} variable from every panel and target, each with a PromQL expr', () => {
    expect(queryPanels.length).to.be.at.least(10);
    for (const p of queryPanels) {
      expect(p.datasource?.uid, p.title).to.equal('${datasource}');
      expect(p.datasource?.type, p.title).to.equal('prometheus');
      expect(p.targets, p.title).to.be.an('array').that.is.not.empty;
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, `${p.title} refIds`).to.equal(refIds.length);
      for (const t of p.targets!) {
        expect(t.expr, p.title).to.be.a('string').and.not.equal('');
        if (t.datasource) expect(t.datasource.uid, p.title).to.equal('${datasource}');
      }
    }
  });

  it('has panels for coverage, target health, scrapes, restarts, pushes and the last session', () => {
    const used = new Set(queryPanels.flatMap((p) => p.targets!.flatMap((t) => metricNames(t.expr!))));
    for (const name of [
      'covgate_coverage_ratio',
      'covgate_target_up',
      'covgate_scrape_duration_seconds',
      'covgate_target_restarts_total',
      'covgate_pushes_total',
      'covgate_push_queue_length',
      'covgate_last_session_coverage_ratio',
    ]) {
      expect(used.has(name), name).to.equal(true);
    }
  });

  it('only reads metrics that createMetrics registers, and recording rules the rules file defines', () => {
    const registered = registeredNames();
    const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
    const exprs = [
      ...queryPanels.flatMap((p) => p.targets!.map((t) => ({ where: `panel "${p.title}"`, expr: t.expr! }))),
      ...dashboard.templating.list.filter((v) => v.type === 'query').map((v) => ({ where: `variable ${v.name}`, expr: variableQuery(v) })),
    ];
    let checked = 0;
    for (const { where, expr } of exprs) {
      for (const name of metricNames(expr)) {
        expect(registered.has(name), `${where} reads ${name}, which covgate does not expose`).to.equal(true);
        checked++;
      }
      for (const name of recordedNames(expr)) expect(recorded.has(name), `${where} reads recording rule ${name}`).to.equal(true);
    }
    expect(checked).to.be.at.least(queryPanels.length);
  });
});

describe('Prometheus rules (config/prometheus/covgate-rules.yml)', () => {
  it('only reads metrics that createMetrics registers, or rules recorded in the same file', () => {
    const registered = registeredNames();
    const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
    for (const r of rules) {
      const where = r.record ?? r.alert!;
      const names = metricNames(r.expr);
      for (const name of names) expect(registered.has(name), `${where} reads ${name}, which covgate does not expose`).to.equal(true);
      for (const name of recordedNames(r.expr)) expect(recorded.has(name), `${where} reads recording rule ${name}`).to.equal(true);
      if (r.record) expect(r.record, 'level:metric:operations').to.match(/^[a-z_]+:covgate_[a-z_]+:[a-z0-9_]+$/);
    }
  });

  it('records coverage per service for every kind', () => {
    const recorded = rules.flatMap((r) => (r.record ? [r.record] : []));
    for (const kind of ['lines', 'statements', 'functions', 'branches']) expect(recorded).to.include(`service:covgate_coverage_ratio:${kind}`);
  });

  it('has the alerts a team needs, each with a severity and a summary', () => {
    const alerts = new Map(rules.filter((r) => r.alert).map((r) => [r.alert!, r]));
    expect(alerts.get('CovgateTargetDown')?.expr).to.match(/covgate_target_up == 0/);
    expect(alerts.get('CovgateTargetDown')?.for).to.equal('10m');
    expect(alerts.get('CovgatePushFailing')?.expr).to.match(/increase\(covgate_pushes_total\{result="failed"\}\[15m\]\) > 0/);
    expect(alerts.get('CovgateCoverageDropped')?.expr).to.match(/offset 7d/);
    expect(alerts.has('CovgatePushQueueStuck')).to.equal(true);
    for (const [name, r] of alerts) {
      expect(r.labels?.severity, name).to.be.oneOf(['critical', 'warning', 'info']);
      expect(r.annotations?.summary, name).to.be.a('string').and.not.equal('');
    }
  });
});

describe('Prometheus example config (config/prometheus/prometheus.yml)', () => {
  it('scrapes covgate on 127.0.0.1:9464 with honor_labels and loads the covgate rules', () => {
    const cfg = parseYaml(readFileSync(prometheusPath, 'utf8')) as {
      rule_files: string[];
      scrape_configs: Array<{ job_name: string; honor_labels?: boolean; static_configs: Array<{ targets: string[] }> }>;
    };
    const job = cfg.scrape_configs.find((s) => s.job_name === 'covgate');
    expect(job?.static_configs.flatMap((s) => s.targets)).to.include('127.0.0.1:9464');
    // The dashboard and rules filter on covgate's own job/instance labels of the covered targets.
    expect(job?.honor_labels).to.equal(true);
    expect(cfg.rule_files).to.include('covgate-rules.yml');
  });
});
