import { expect } from 'chai';
import { scrapeConfigDefaults } from '../../gateway/config/defaults.ts';
import type { RelabelConfig, ScrapeConfig } from '../../gateway/config/types.ts';
import { formatDuration, tryParseDuration as parseDuration } from '../../gateway/config/duration.ts';
import { hashLabels, populateLabels, scrapeOffset, targetId, targetsFromGroup } from '../../gateway/discovery/target.ts';

/** A defaulted scrape config (the loader's own defaults) with overrides. */
function scrapeConfig(partial: Partial<ScrapeConfig> = {}): ScrapeConfig {
  return { ...scrapeConfigDefaults(undefined, 'orders'), ...partial };
}

function rc(partial: Partial<RelabelConfig>): RelabelConfig {
  return { source_labels: [], separator: ';', regex: '(.*)', replacement: '$1', action: 'replace', ...partial };
}

describe('populateLabels', () => {
  it('fills scrape-config defaults, defaults instance and service, strips __ labels', () => {
    const r = populateLabels({ __address__: 'localhost:8081', release: '2026.11', __meta_filepath: '/x.json' }, scrapeConfig());
    expect(r.dropped).to.equal(false);
    if (r.dropped) return;
    expect(r.labels).to.deep.equal({ job: 'orders', instance: 'localhost:8081', service: 'orders', release: '2026.11' });
    expect(r.url).to.equal('http://localhost:8081/coverage');
    expect(r.scrapeIntervalMs).to.equal(15_000);
    expect(r.scrapeTimeoutMs).to.equal(10_000);
    expect(r.discoveredLabels).to.deep.equal({
      __address__: 'localhost:8081',
      __meta_filepath: '/x.json',
      __scheme__: 'http',
      __coverage_path__: '/coverage',
      __scrape_interval__: '15s',
      __scrape_timeout__: '10s',
      job: 'orders',
      release: '2026.11',
    });
  });

  it('keeps a discovered service and instance over the defaults', () => {
    const r = populateLabels({ __address__: 'a:1', service: 'billing', instance: 'pod-1' }, scrapeConfig());
    expect(r.dropped).to.equal(false);
    if (!r.dropped) expect(r.labels).to.include({ service: 'billing', instance: 'pod-1', job: 'orders' });
  });

  it('lets discovered __scheme__ and __coverage_path__ win over the config', () => {
    const r = populateLabels({ __address__: 'a:1', __scheme__: 'https', __coverage_path__: '/v1/cover/profile' }, scrapeConfig());
    expect(r.dropped).to.equal(false);
    if (!r.dropped) expect(r.url).to.equal('https://a:1/v1/cover/profile');
  });

  it('service defaults to the job after relabeling changed the job', () => {
    const cfg = scrapeConfig({ relabel_configs: [rc({ target_label: 'job', replacement: 'renamed' })] });
    const r = populateLabels({ __address__: 'a:1' }, cfg);
    expect(r.dropped).to.equal(false);
    if (!r.dropped) expect(r.labels).to.deep.equal({ job: 'renamed', service: 'renamed', instance: 'a:1' });
  });

  it('sets service from a __meta label through relabeling', () => {
    const cfg = scrapeConfig({ relabel_configs: [rc({ source_labels: ['__meta_goc_service'], target_label: 'service' })] });
    const r = populateLabels({ __address__: '10.0.0.1:7777', __meta_goc_service: 'cart' }, cfg);
    expect(r.dropped).to.equal(false);
    if (!r.dropped) expect(r.labels.service).to.equal('cart');
  });

  it('drops a target a keep rule rejects, reporting its discovered labels', () => {
    const cfg = scrapeConfig({ relabel_configs: [rc({ source_labels: ['env'], regex: 'prod', action: 'keep' })] });
    const r = populateLabels({ __address__: 'a:1', env: 'dev' }, cfg);
    expect(r).to.deep.include({ dropped: true, reason: 'relabel' });
    expect(r.discoveredLabels).to.include({ __address__: 'a:1', env: 'dev', job: 'orders' });
  });

  it('drops a target whose __address__ relabeling emptied', () => {
    const cfg = scrapeConfig({ relabel_configs: [rc({ source_labels: ['nothing'], target_label: '__address__' })] });
    const r = populateLabels({ __address__: 'a:1' }, cfg);
    expect(r).to.deep.include({ dropped: true, reason: 'no_address' });
  });

  it('drops a target without any address', () => {
    expect(populateLabels({ foo: 'bar' }, scrapeConfig())).to.deep.include({ dropped: true, reason: 'no_address' });
  });

  it('marks an address carrying a scheme or path invalid', () => {
    const r = populateLabels({ __address__: 'http://a:1' }, scrapeConfig());
    expect(r).to.deep.include({ dropped: true, reason: 'invalid' });
  });

  it('honours relabeled scrape interval and timeout, rejecting timeout > interval', () => {
    const cfg = scrapeConfig({ relabel_configs: [rc({ target_label: '__scrape_interval__', replacement: '1m30s' })] });
    const ok = populateLabels({ __address__: 'a:1' }, cfg);
    expect(ok.dropped).to.equal(false);
    if (!ok.dropped) expect(ok.scrapeIntervalMs).to.equal(90_000);

    const bad = scrapeConfig({ relabel_configs: [rc({ target_label: '__scrape_timeout__', replacement: '1m' })] });
    const r = populateLabels({ __address__: 'a:1' }, bad);
    expect(r).to.deep.include({ dropped: true, reason: 'invalid' });
    if (r.dropped) expect(r.error).to.match(/timeout cannot be greater/);
  });

  it('turns __param_ labels into the URL query', () => {
    const r = populateLabels({ __address__: 'a:1', __param_app: 'my app' }, scrapeConfig());
    expect(r.dropped).to.equal(false);
    if (!r.dropped) expect(r.url).to.equal('http://a:1/coverage?app=my+app');
  });

  it('does not modify its input', () => {
    const input = { __address__: 'a:1' };
    populateLabels(input, scrapeConfig());
    expect(input).to.deep.equal({ __address__: 'a:1' });
  });
});

describe('targetsFromGroup', () => {
  it('overlays target labels on group labels', () => {
    const rs = targetsFromGroup(
      { source: 'static/0', labels: { env: 'staging', release: '1' }, targets: [{ __address__: 'a:1', release: '2' }, { __address__: 'b:2' }] },
      scrapeConfig(),
    );
    const labels = rs.map((r) => (r.dropped ? null : r.labels));
    expect(labels).to.deep.equal([
      { job: 'orders', service: 'orders', instance: 'a:1', env: 'staging', release: '2' },
      { job: 'orders', service: 'orders', instance: 'b:2', env: 'staging', release: '1' },
    ]);
  });
});

describe('targetId', () => {
  it('is stable and independent of key order', () => {
    const a = targetId({ job: 'x', instance: 'a:1' });
    expect(a).to.match(/^[0-9a-f]{16}$/);
    expect(targetId({ instance: 'a:1', job: 'x' })).to.equal(a);
    expect(targetId({ job: 'x', instance: 'a:2' })).to.not.equal(a);
  });
  it('does not confuse name/value boundaries', () => {
    expect(targetId({ ab: 'c' })).to.not.equal(targetId({ a: 'bc' }));
  });
  it('hashLabels is the id as a uint64', () => {
    expect(hashLabels({ a: 'b' }).toString(16).padStart(16, '0')).to.equal(targetId({ a: 'b' }));
  });
});

describe('scrapeOffset', () => {
  it('is (hash XOR seed) mod interval, deterministic and in range', () => {
    const id = targetId({ job: 'x', instance: 'a:1' });
    const expected = Number((BigInt('0x' + id) ^ 12345n) % 15_000n);
    expect(scrapeOffset(id, 15_000, 12345n)).to.equal(expected);
    expect(scrapeOffset(id, 15_000, 12345)).to.equal(expected);
    for (let i = 0; i < 50; i++) {
      const o = scrapeOffset(targetId({ instance: `h${i}:1` }), 10_000, 7n);
      expect(o).to.be.at.least(0).and.below(10_000);
    }
  });
  it('changes with the seed and spreads targets', () => {
    const offsets = new Set(Array.from({ length: 20 }, (_, i) => scrapeOffset(targetId({ instance: `h${i}:1` }), 60_000, 1n)));
    expect(offsets.size).to.be.greaterThan(15);
    const id = targetId({ instance: 'a:1' });
    expect(scrapeOffset(id, 60_000, 1n)).to.not.equal(scrapeOffset(id, 60_000, 2n));
  });
  it('is 0 for a non-positive interval', () => {
    expect(scrapeOffset('x', 0, 1n)).to.equal(0);
  });
});

describe('duration', () => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [500, '500ms'],
    [15_000, '15s'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [21 * 86_400_000, '3w'],
    [90 * 86_400_000, '90d'],
    [1_500, '1s500ms'],
  ];
  for (const [ms, text] of cases) {
    it(`formats ${ms} as ${text} and parses it back`, () => {
      expect(formatDuration(ms)).to.equal(text);
      expect(parseDuration(text)).to.equal(ms);
    });
  }
  it('rejects malformed text', () => {
    for (const t of ['', '15', '1.5s', 's', '10x', '-1s']) expect(parseDuration(t), t).to.equal(undefined);
  });
});
