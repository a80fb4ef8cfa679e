import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isCovgateError } from '../../gateway/errors.ts';
import {
  configFingerprint,
  loadConfigFile,
  parseConfig,
  scrapeConfigDefaults,
  type GatewayConfig,
} from '../../gateway/config/index.ts';
import { expandEnv } from '../../gateway/config/yaml-source.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '../fixtures/config');
const repoRoot = path.resolve(here, '../..');

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

/** Runs fn, expects a COVGATE_BAD_CONFIG error, returns it. */
async function configError(fn: () => unknown): Promise<{ message: string; details: { errors: unknown[] } }> {
  try {
    await fn();
  } catch (err) {
    if (!isCovgateError(err)) throw err;
    expect(err.code).to.equal('COVGATE_BAD_CONFIG');
    return err as never;
  }
  throw new Error('expected a config error');
}

describe('loadConfigFile: good fixtures', () => {
  const env = { CENTER_TOKEN: 'tok-123', HOOK_SECRET: 'hook-secret', CODECOV_TOKEN: 'cc-token' };
  const table: Record<string, (c: GatewayConfig) => void> = {
    'minimal-empty.good.yml': (c) => {
      expect(c.global).to.deep.equal({ scrape_interval: 15 * S, scrape_timeout: 10 * S, external_labels: {}, scrape_concurrency: 16, body_size_limit: 64 * 2 ** 20 });
      expect(c.server).to.deep.equal({ listen: '127.0.0.1:9464', body_size_limit: 64 * 2 ** 20 });
      expect(c.storage).to.deep.equal({ path: path.join(fixtures, 'data'), retention: 21 * D, retention_schedule: '*/10 * * * *' });
      expect(c.registration).to.deep.equal({ enabled: true, default_ttl: 60 * S, max_ttl: 24 * H, allowed_targets: [] });
      expect(c.scrape_configs).to.deep.equal([]);
      expect(c.push).to.deep.equal({ on_test_finished: true, upstreams: [] });
      expect(c.metrics).to.deep.equal({ per_file: false, per_file_limit: 500 });
    },

    'contract-example.good.yml': (c) => {
      expect(c.global.external_labels).to.deep.equal({ env: 'staging' });
      expect(c.server.auth).to.deep.equal({
        bearer_token: 's3cr3t-token',
        bearer_token_file: path.join(fixtures, 'secrets/token'),
        protect_reads: false,
      });
      expect(c.registration.allowed_targets).to.deep.equal(['127.0.0.0/8', '*.svc.cluster.local']);
      const [orders, legacy] = c.scrape_configs;
      expect(orders).to.deep.equal({
        job_name: 'orders',
        scrape_interval: 10 * S,
        scrape_timeout: 10 * S,
        coverage_path: '/coverage',
        scheme: 'http',
        format: 'auto',
        body_size_limit: 64 * 2 ** 20,
        counters: 'cumulative',
        reset_after_scrape: false,
        sources: ['/srv/orders', path.join(fixtures, 'src')],
        path_map: { 'example.com/orders/': '' },
        repository: '/srv/orders',
        static_configs: [{ targets: ['localhost:8081', 'localhost:8082'], labels: { service: 'orders', release: '2026.11' } }],
        file_sd_configs: [{ files: [path.join(fixtures, 'targets/*.json')], refresh_interval: 5 * M }],
        goc_sd_configs: [],
        kubernetes_sd_configs: [],
        relabel_configs: [],
      });
      expect(legacy!.format).to.equal('gocover');
      expect(legacy!.scrape_interval).to.equal(15 * S);
      expect(legacy!.goc_sd_configs).to.deep.equal([{ server: 'http://goc-server:7777', refresh_interval: 30 * S }]);
      expect(c.push.upstreams).to.deep.equal([
        {
          name: 'center',
          kind: 'http',
          url: 'https://coverage-center.example/api/coverage',
          format: 'istanbul',
          headers: { Authorization: 'Bearer tok-123' },
          timeout: 30 * S,
          max_attempts: 0,
          min_backoff: 1 * S,
          max_backoff: 5 * M,
          gzip: true,
          git_service: 'github',
          report_code: 'default',
          flag_labels: ['test_type'],
          parallel: false,
          service_name: 'covgate',
        },
      ]);
      expect(c.metrics.per_file).to.equal(false);
    },

    'upstream-kinds.good.yml': (c) => {
      const [hook, codecov, sonar] = c.push.upstreams;
      expect(hook).to.include({ kind: 'http', secret: 'hook-secret', url: 'https://center.example/hook' });
      expect(codecov).to.include({ kind: 'codecov', url: 'https://ingest.codecov.io', token: 'cc-token', slug: 'acme/platform/orders', git_service: 'github', report_code: 'default', gzip: false });
      expect(codecov!.flag_labels).to.deep.equal(['test_type', 'suite']);
      expect(sonar).to.include({ kind: 'sonarqube', url: '', path: '/srv/sonar/{service}/{release}.xml', strip_prefix: '/srv/app/' });
    },

    'relabel.good.yml': (c) => {
      const job = c.scrape_configs[0]!;
      expect(job.static_configs[0]!.targets).to.deep.equal(['localhost:8081', '[::1]:8082', '10.0.0.7:9000']);
      // Written unquoted, still the text as written (not the float 2026.1).
      expect(job.static_configs[0]!.labels).to.deep.equal({ team: 'payments', release: '2026.10' });
      const r = job.relabel_configs;
      expect(r.map((x) => x.action)).to.deep.equal(['replace', 'replace', 'keep', 'drop', 'hashmod', 'labelmap', 'labeldrop', 'labelkeep', 'replace']);
      expect(r[0]).to.deep.equal({
        source_labels: ['__address__'],
        separator: ';',
        target_label: 'host',
        regex: '([^:]+):\\d+',
        replacement: '${1}',
        action: 'replace',
      });
      expect(r[1]).to.include({ separator: '/', regex: '(.*)', replacement: '$1', target_label: 'team_release' });
      expect(r[4]).to.include({ modulus: 8, target_label: '__tmp_hash' });
      expect(r[5]).to.include({ replacement: 'goc_$1' });
      // ${ENV_NAME:-dev} with ENV_NAME unset.
      expect(r[8]).to.include({ target_label: 'env', replacement: 'dev' });
    },

    'kubernetes-sd.good.yml': (c) => {
      const k = c.scrape_configs[0]!.kubernetes_sd_configs;
      const none = { names: [], own_namespace: false };
      const noTls = { insecure_skip_verify: false };
      expect(k).to.deep.equal([
        {
          role: 'pod',
          tls_config: noTls,
          namespaces: { names: ['shop', 'staging'], own_namespace: false },
          selectors: [{ role: 'pod', label: 'app in (orders,billing),!canary', field: 'status.phase=Running' }],
        },
        {
          role: 'endpoints',
          kubeconfig_file: path.join(fixtures, 'secrets/kubeconfig'),
          tls_config: noTls,
          namespaces: none,
          selectors: [
            { role: 'endpoints', label: 'team=checkout' },
            { role: 'service', label: 'covgate.io/scrape' },
            { role: 'pod', field: 'spec.nodeName!=tainted' },
          ],
        },
        {
          role: 'service',
          api_server: 'https://kubernetes.example:6443',
          bearer_token_file: path.join(fixtures, 'secrets/token'),
          tls_config: { insecure_skip_verify: false, ca_file: path.join(fixtures, 'secrets/ca.crt') },
          namespaces: none,
          selectors: [],
        },
        { role: 'pod', tls_config: noTls, namespaces: { names: [], own_namespace: true }, selectors: [] },
      ]);
    },

    'auth-token-file.good.yml': (c) => {
      expect(c.server).to.deep.equal({
        listen: '0.0.0.0:19464',
        body_size_limit: 64 * 2 ** 20,
        auth: { bearer_token: 's3cr3t-token', bearer_token_file: path.join(fixtures, 'secrets/token'), protect_reads: true },
      });
    },

    'shards.good.yml': (c) => {
      expect(c.forward).to.deep.equal({
        url: 'http://covgate-central:9464',
        headers: { Authorization: 'Bearer s3cr3t-token' },
        timeout: 10 * S,
        concurrency: 4,
        min_backoff: 200,
        max_backoff: M,
      });
      // headers win over bearer_token(_file); no forward key means no forwarding
      expect(c.shards).to.deep.equal({ urls: ['http://covgate-shard-0:9464', 'http://covgate-shard-1:9464'], headers: { Authorization: 'Bearer other' }, timeout: 30 * S });
    },

    'diffs.good.yml': (c) => {
      const [orders, web] = c.scrape_configs;
      expect(orders).to.include({ repository: '/srv/orders' });
      expect(orders!.path_map).to.deep.equal({ 'example.com/orders/': '', '/srv/build/': 'src/' });
      expect(web!.path_map).to.deep.equal({});
      expect(web!.repository).to.equal(undefined);
      expect(c.diffs).to.deep.equal([
        { name: 'release-2026.11', job: 'orders', base: 'v2026.10', head: 'main' },
        { name: 'hotfix', job: 'orders', base: 'HEAD~3', head: 'HEAD' },
      ]);
    },

    'short-interval.good.yml': (c) => {
      expect(c.global).to.deep.equal({ scrape_interval: 5 * S, scrape_timeout: 5 * S, external_labels: { env: 'ci' }, scrape_concurrency: 4, body_size_limit: 8 * 2 ** 20 });
      expect(c.server.body_size_limit).to.equal(2 * 2 ** 20);
      const [fast, slow, compound] = c.scrape_configs;
      expect(fast).to.deep.equal(scrapeConfigDefaults(c.global, 'fast'));
      expect(fast!.body_size_limit, 'a job inherits global.body_size_limit').to.equal(8 * 2 ** 20);
      expect(slow).to.include({
        scrape_interval: M,
        scrape_timeout: M,
        scheme: 'https',
        format: 'lcov',
        body_size_limit: 512_000,
        counters: 'delta',
        reset_after_scrape: true,
      });
      expect(compound).to.include({ scrape_interval: 90 * M, scrape_timeout: 5 * S });
      expect(c.storage).to.deep.equal({ path: '/var/lib/covgate', retention: 7 * D, retention_schedule: '0 * * * *' });
      expect(c.registration).to.deep.equal({
        enabled: false,
        default_ttl: 5 * M,
        max_ttl: H,
        allowed_targets: ['10.0.0.0/8', 'fd00::/8', '::1', 'localhost', '*.svc.cluster.local'],
      });
      expect(c.push.on_test_finished).to.equal(false);
      expect(c.push.upstreams[0]).to.include({ format: 'lcov', gzip: false, max_attempts: 5, min_backoff: 500, max_backoff: M, timeout: 30 * S });
      expect(c.push.upstreams[1]).to.include({ format: 'istanbul', gzip: false });
      expect(c.metrics).to.deep.equal({ per_file: true, per_file_limit: 50 });
    },
  };

  it('has a check for every *.good.yml fixture', () => {
    const files = readdirSync(fixtures).filter((f) => f.endsWith('.good.yml'));
    expect(files.sort()).to.deep.equal(Object.keys(table).sort());
  });

  for (const [file, check] of Object.entries(table)) {
    it(`loads ${file}`, async () => {
      const c = await loadConfigFile(path.join(fixtures, file), env);
      expect(c.sourceFile).to.equal(path.join(fixtures, file));
      check(c);
    });
  }
});

describe('loadConfigFile: bad fixtures', () => {
  // file → [line, "key.path: message"] for every error expected, in file order.
  const table: Record<string, [number, string][]> = {
    'unknown-key.bad.yml': [[7, 'storage.retenton: unknown key']],
    'bad-duration.bad.yml': [[9, 'global.scrape_interval: bad duration "15 seconds" (use e.g. 500ms, 15s, 5m, 1h, 21d)']],
    'zero-interval.bad.yml': [[2, 'global.scrape_interval: duration must be greater than 0']],
    'timeout-exceeds-interval.bad.yml': [[14, 'scrape_configs[1].scrape_timeout: 20s must not exceed scrape_interval 10s']],
    'duplicate-job-name.bad.yml': [[6, 'scrape_configs[2].job_name: duplicate job_name "orders" (first defined at line 2)']],
    'missing-job-name.bad.yml': [[3, 'scrape_configs[1].job_name: missing required key']],
    'bad-target-address.bad.yml': [[6, 'scrape_configs[0].static_configs[0].targets[1]: bad target "http://localhost:8082/coverage": expected host:port']],
    'bad-target-no-port.bad.yml': [[4, 'scrape_configs[0].static_configs[0].targets[0]: bad target "localhost": expected host:port']],
    'bad-regex.bad.yml': [[7, 'scrape_configs[0].relabel_configs[1].regex: bad regex "([^:]+:\\\\d+": ']],
    'hashmod-without-modulus.bad.yml': [[7, 'scrape_configs[0].relabel_configs[1].modulus: required for action hashmod']],
    'replace-without-target-label.bad.yml': [[4, 'scrape_configs[0].relabel_configs[0].target_label: required for action replace']],
    'bad-cidr.bad.yml': [[5, 'registration.allowed_targets[1]: bad CIDR "10.0.0.0/99"']],
    'undefined-env.bad.yml': [[6, 'push.upstreams[0].headers.Authorization: environment variable COVGATE_TEST_UNSET_TOKEN is not set']],
    'yaml-syntax.bad.yml': [[7, 'YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]']],
    'duplicate-yaml-key.bad.yml': [[3, 'YAML syntax error: duplicate key "scrape_interval"']],
    'wrong-type-list.bad.yml': [[5, 'scrape_configs[0].static_configs[0].targets: expected a list, got "localhost:8081"']],
    'upstream-kinds.bad.yml': [
      [5, 'push.upstreams[0].slug: bad slug "no-slash": expected owner/repo or owner/subgroup/repo'],
      [7, 'push.upstreams[1].kind: must be one of http, codecov, coveralls, sonarqube, canyon (got "jenkins")'],
      [10, 'push.upstreams[2].git_service: must be one of github, gitlab, bitbucket'],
    ],
    'upstream-kind-keys.bad.yml': [
      [3, 'push.upstreams[0].url: required for kind http'],
      [7, 'push.upstreams[1].secret: not used by kind sonarqube (only by http)'],
      [8, 'push.upstreams[1].path: must contain {release}'],
      [9, 'push.upstreams[2].token: required for kind coveralls (the repo_token)'],
    ],
    'bad-upstream-url.bad.yml': [[5, 'push.upstreams[0].url: bad URL "ftp://center.example/upload": scheme must be http or https']],
    'duplicate-upstream.bad.yml': [[5, 'push.upstreams[1].name: duplicate upstream name "center" (first defined at line 3)']],
    'bad-format.bad.yml': [[4, 'scrape_configs[0].format: must be one of auto, covgate, istanbul, v8, gocover, lcov, cobertura, coveralls, gocovdata (got "jacoco")']],
    'both-bearer-tokens.bad.yml': [[3, 'server.auth: set bearer_token or bearer_token_file, not both']],
    'missing-token-file.bad.yml': [[3, 'server.auth.bearer_token_file: cannot read token file ']],
    'bad-coverage-path.bad.yml': [[3, 'scrape_configs[0].coverage_path: must start with "/"']],
    'bad-sources.bad.yml': [[3, 'scrape_configs[0].sources: expected a list, got "/srv/orders"']],
    'bad-cron.bad.yml': [[2, 'storage.retention_schedule: bad cron expression "every ten minutes"']],
    'bad-size.bad.yml': [[3, 'scrape_configs[0].body_size_limit: bad size "64 megs"']],
    'bad-goc-server.bad.yml': [[4, 'scrape_configs[0].goc_sd_configs[0].server: bad URL "goc-server:7777"']],
    'kubernetes-sd-shape.bad.yml': [
      [4, 'scrape_configs[0].kubernetes_sd_configs[0].role: must be one of pod, service, endpoints (got "node")'],
      [5, 'scrape_configs[0].kubernetes_sd_configs[1].role: missing required key'],
      [9, 'scrape_configs[0].kubernetes_sd_configs[2].selectors[0].label: bad label selector "=orders": cannot parse "=orders"'],
      [11, 'scrape_configs[0].kubernetes_sd_configs[2].selectors[1].field: bad field selector "no operator"'],
    ],
    // Prometheus' own wording (discovery/kubernetes/kubernetes.go SDConfig.UnmarshalYAML), at the key.
    'kubernetes-sd-rules.bad.yml': [
      [6, "scrape_configs[0].kubernetes_sd_configs[0].kubeconfig_file: cannot use 'kubeconfig_file' and 'api_server' simultaneously"],
      [8, "scrape_configs[0].kubernetes_sd_configs[1].bearer_token_file: to use custom HTTP client configuration please provide the 'api_server' URL explicitly"],
      [11, "scrape_configs[0].kubernetes_sd_configs[2].namespaces.own_namespace: cannot use 'api_server' and 'namespaces.own_namespace' simultaneously"],
      [14, 'scrape_configs[0].kubernetes_sd_configs[3].selectors[0].role: service role supports only service selectors'],
      [20, 'scrape_configs[0].kubernetes_sd_configs[4].selectors[1].role: duplicated selector role: pod'],
    ],
    'ttl-exceeds-max.bad.yml': [[2, 'registration.default_ttl: default_ttl 2d must not exceed max_ttl 1d']],
    'bad-label-name.bad.yml': [[4, 'global.external_labels.bad-name: bad label name "bad-name"']],
    'bad-diff-jobs.bad.yml': [
      [6, 'diffs[0].job: job "web" has no repository: to diff base...head'],
      [7, 'diffs[1].job: no scrape_configs job named "nosuch"'],
      [8, 'diffs[2].name: duplicate diff name "a" (first defined at line 6)'],
    ],
    'bad-diffs.bad.yml': [
      [6, 'diffs[0].base: git revision "--output=/tmp/x" must not start with "-"'],
      [9, 'diffs[3].base: git revision "v1..v2" must be one revision, not a range'],
    ],
    'bad-forward.bad.yml': [
      [2, 'forward.url: bad URL "ftp://central": scheme must be http or https'],
      [3, 'forward.retries: unknown key'],
    ],
    'bad-forward-rules.bad.yml': [
      [1, 'forward: set bearer_token or bearer_token_file, not both'],
      [5, 'forward.min_backoff: must not exceed max_backoff'],
      [8, 'shards.urls[1]: duplicate shard url "http://a:1" (first defined at line 8)'],
    ],
    'bad-bool.bad.yml': [[2, 'metrics.per_file: expected true or false, got "yes"']],
    'bad-listen.bad.yml': [[2, 'server.listen: bad listen address "localhost"']],
    'not-a-mapping.bad.yml': [[1, 'expected a mapping, got "just a string"']],
    'many-errors.bad.yml': [
      [3, 'global.scrape_interval: bad duration "15 seconds"'],
      [5, 'storage.retenton: unknown key'],
      [8, 'scrape_configs[0].format: must be one of'],
      [10, 'scrape_configs[0].static_configs[0].targets: expected a list, got "localhost:8081"'],
    ],
  };

  it('has an expectation for every *.bad.yml fixture', () => {
    const files = readdirSync(fixtures).filter((f) => f.endsWith('.bad.yml'));
    expect(files.sort()).to.deep.equal(Object.keys(table).sort());
  });

  for (const [file, expected] of Object.entries(table)) {
    it(`rejects ${file} naming ${expected.map(([line]) => `line ${line}`).join(', ')}`, async () => {
      const given = path.join(fixtures, file);
      const err = await configError(() => loadConfigFile(given, {}));
      const lines = err.message.split('\n');
      expect(lines, err.message).to.have.length(expected.length);
      expected.forEach(([line, text], i) => {
        expect(lines[i], err.message).to.satisfy((l: string) => l.startsWith(`${given}:${line}: ${text}`));
      });
      expect(err.details.errors).to.have.length(expected.length);
    });
  }
});

describe('parseConfig', () => {
  it('treats an empty document, comments only, and empty sections as all defaults', () => {
    const empty = parseConfig('', { baseDir: '/srv' });
    expect(parseConfig('# nothing\n', { baseDir: '/srv' })).to.deep.equal(empty);
    expect(parseConfig('global:\nserver:\nstorage:\nscrape_configs:\npush:\nmetrics:\n', { baseDir: '/srv' })).to.deep.equal(empty);
    expect(empty.storage.path).to.equal('/srv/data');
    expect(empty.sourceFile).to.equal(undefined);
  });

  it('names the file given in opts.filename, defaulting to gateway.yaml', async () => {
    const a = await configError(() => parseConfig('metrics: {per_file: 3}'));
    expect(a.message).to.match(/^gateway\.yaml:1: metrics\.per_file: expected true or false, got "3"$/);
    const b = await configError(() => parseConfig('\nmetrics: {per_file: 3}', { filename: 'x/y.yml' }));
    expect(b.message).to.match(/^x\/y\.yml:2: /);
  });

  it('expands ${VAR} before typing, so numbers and booleans can come from the environment', () => {
    const c = parseConfig(
      [
        'global:',
        '  scrape_interval: ${INTERVAL}',
        'metrics:',
        '  per_file: ${PER_FILE}',
        '  per_file_limit: ${LIMIT:-42}',
        'push:',
        '  upstreams:',
        '    - name: c',
        '      url: ${URL}',
        '      max_attempts: ${ATTEMPTS}',
      ].join('\n'),
      { env: { INTERVAL: '30s', PER_FILE: 'true', URL: 'http://c:1/x', ATTEMPTS: '3' } },
    );
    expect(c.global.scrape_interval).to.equal(30 * S);
    expect(c.metrics).to.deep.equal({ per_file: true, per_file_limit: 42 });
    expect(c.push.upstreams[0]).to.include({ url: 'http://c:1/x', max_attempts: 3 });
  });

  it('never lets a variable inject YAML structure', async () => {
    const err = await configError(() => parseConfig('storage:\n  retention: ${R}\n', { env: { R: '1d\n  retenton: 2d' } }));
    expect(err.message).to.include('gateway.yaml:2: storage.retention: bad duration');
    expect(err.message).not.to.include('unknown key');
  });

  it('reports every undefined variable with its line, and not the keys it left empty', async () => {
    const err = await configError(() => parseConfig('push:\n  upstreams:\n    - name: ${A}\n      url: ${B}\n', { env: {} }));
    expect(err.message.split('\n')).to.have.length(2);
    expect(err.message).to.include('gateway.yaml:3: push.upstreams[0].name: environment variable A is not set');
    expect(err.message).to.include('gateway.yaml:4: push.upstreams[0].url: environment variable B is not set');
  });

  it('reports a key named __proto__ as unknown instead of changing a prototype', async () => {
    const err = await configError(() => parseConfig('global:\n  __proto__: { scrape_interval: 1s }\n'));
    expect(err.message).to.equal('gateway.yaml:2: global.__proto__: unknown key');
  });

  it('follows YAML anchors and aliases', () => {
    const c = parseConfig(
      'scrape_configs:\n  - job_name: a\n    static_configs: &targets\n      - targets: [h:1]\n  - job_name: b\n    static_configs: *targets\n',
    );
    expect(c.scrape_configs[1]!.static_configs).to.deep.equal([{ targets: ['h:1'], labels: {} }]);
  });

  it('stops on alias loops and alias bombs with an error instead of hanging', async () => {
    const loop = await configError(() => parseConfig('global:\n  external_labels: &a [*a]\n'));
    expect(loop.message).to.match(/^gateway\.yaml:2: global: document too large or too deeply nested/);
    const bomb = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) bomb.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    const err = await configError(() => parseConfig(bomb.join('\n')));
    expect(err.message).to.include('document too large');
  });

  it('rejects a second YAML document', async () => {
    const err = await configError(() => parseConfig('global: {}\n---\nmetrics: {}\n'));
    expect(err.message).to.equal('gateway.yaml:2: YAML syntax error: expected a single document, found another after ---');
  });

  it('rejects relabel fields that labeldrop/labelkeep do not take', async () => {
    const err = await configError(() =>
      parseConfig('scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: labeldrop\n        target_label: x\n'),
    );
    expect(err.message).to.equal('gateway.yaml:4: scrape_configs[0].relabel_configs[0].action: labeldrop takes only regex, not target_label');
  });

  it('requires auth to carry a token', async () => {
    const err = await configError(() => parseConfig('server:\n  auth:\n    protect_reads: true\n'));
    expect(err.message).to.equal('gateway.yaml:2: server.auth: auth needs bearer_token or bearer_token_file');
  });

  it('caps an inherited timeout at a shorter job interval but rejects an explicit one', async () => {
    const ok = parseConfig('scrape_configs:\n  - job_name: a\n    scrape_interval: 2s\n');
    expect(ok.scrape_configs[0]).to.include({ scrape_interval: 2 * S, scrape_timeout: 2 * S });
    const err = await configError(() => parseConfig('global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n'));
    expect(err.message).to.equal('gateway.yaml:3: global.scrape_timeout: 6s must not exceed scrape_interval 5s');
  });

  it('reports a missing config file as a config error naming the path', async () => {
    const err = await configError(() => loadConfigFile(path.join(fixtures, 'nope.yml')));
    expect(err.message).to.match(/nope\.yml: cannot read config file/);
  });
});

describe('expandEnv', () => {
  const env = { A: 'alpha', EMPTY: '' };
  const table: [string, string][] = [
    ['plain', 'plain'],
    ['${A}', 'alpha'],
    ['x-${A}-y', 'x-alpha-y'],
    ['${B:-dflt}', 'dflt'],
    ['${EMPTY:-dflt}', 'dflt'],
    ['${EMPTY-dflt}', ''],
    ['${B-dflt}', 'dflt'],
    ['${B:-a:b-c}', 'a:b-c'],
    ['$${A}', '${A}'],
    ['$1 and ${1} stay', '$1 and ${1} stay'],
    ['cost $5', 'cost $5'],
  ];
  for (const [input, output] of table) {
    it(`expands ${JSON.stringify(input)} to ${JSON.stringify(output)}`, () => {
      const problems: string[] = [];
      expect(expandEnv(input, env, (m) => problems.push(m))).to.equal(output);
      expect(problems).to.deep.equal([]);
    });
  }

  for (const [input, problem] of [
    ['${B}', 'environment variable B is not set'],
    ['${A', 'unterminated ${'],
    ['${A B}', 'bad variable reference ${A B}'],
  ] as const) {
    it(`reports ${JSON.stringify(input)}`, () => {
      const problems: string[] = [];
      expandEnv(input, env, (m) => problems.push(m));
      expect(problems).to.have.length(1);
      expect(problems[0]).to.include(problem);
    });
  }
});

describe('configFingerprint', () => {
  const yaml = (extra: string) => `scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [h:1]\n${extra}`;

  it('is the same for the same job however its keys are ordered', () => {
    const a = parseConfig('scrape_configs:\n  - job_name: a\n    format: lcov\n    scrape_interval: 5s\n').scrape_configs[0]!;
    const b = parseConfig('scrape_configs:\n  - scrape_interval: 5s\n    format: lcov\n    job_name: a\n').scrape_configs[0]!;
    expect(configFingerprint(a)).to.equal(configFingerprint(b));
    expect(configFingerprint(a)).to.match(/^[0-9a-f]{64}$/);
  });

  it('changes when any field of the job changes', () => {
    const base = configFingerprint(parseConfig(yaml('')).scrape_configs[0]!);
    for (const extra of ['    format: lcov\n', '    scrape_interval: 30s\n', '    relabel_configs: [{action: keep, regex: x}]\n']) {
      expect(configFingerprint(parseConfig(yaml(extra)).scrape_configs[0]!), extra).not.to.equal(base);
    }
    const otherTargets = parseConfig(yaml('')).scrape_configs[0]!;
    otherTargets.static_configs[0]!.targets.push('h:2');
    expect(configFingerprint(otherTargets)).not.to.equal(base);
  });
});

describe('scrapeConfigDefaults', () => {
  it('gives a job the global interval and timeout and every documented default', () => {
    const global = parseConfig('global: { scrape_interval: 30s, scrape_timeout: 20s }').global;
    expect(scrapeConfigDefaults(global, 'registered')).to.deep.equal({
      job_name: 'registered',
      scrape_interval: 30 * S,
      scrape_timeout: 20 * S,
      coverage_path: '/coverage',
      scheme: 'http',
      format: 'auto',
      body_size_limit: 64 * 2 ** 20,
      path_map: {},
      counters: 'cumulative',
      reset_after_scrape: false,
      sources: [],
      static_configs: [],
      file_sd_configs: [],
      goc_sd_configs: [],
      kubernetes_sd_configs: [],
      relabel_configs: [],
    });
  });

  it('matches what parseConfig gives a job with only a name', () => {
    const c = parseConfig('global: { scrape_interval: 5s }\nscrape_configs: [{ job_name: j }]');
    expect(c.scrape_configs[0]).to.deep.equal(scrapeConfigDefaults(c.global, 'j'));
  });
});

describe('the bundled gateway.yaml', () => {
  it('parses, listens on loopback, and needs no network targets', async () => {
    const c = await loadConfigFile(path.join(repoRoot, 'gateway.yaml'), {});
    expect(c.server.listen).to.equal('127.0.0.1:9464');
    expect(c.storage.path).to.equal(path.join(repoRoot, 'data'));
    expect(c.registration.enabled).to.equal(true);
    expect(c.push.upstreams).to.deep.equal([]);
    for (const job of c.scrape_configs) {
      expect(job.goc_sd_configs, job.job_name).to.deep.equal([]);
    }
  });
});
