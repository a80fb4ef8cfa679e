import { expect } from 'chai';
import type { Labels, RelabelConfig } from '../../gateway/config/types.ts';
import { compileRelabelRegex, expandTemplate, hashmod, relabel } from '../../gateway/discovery/relabel.ts';

/** A relabel config with Prometheus' defaults, as the config loader produces it. */
function rc(partial: Partial<RelabelConfig>): RelabelConfig {
  return { source_labels: [], separator: ';', regex: '(.*)', replacement: '$1', action: 'replace', ...partial };
}

interface Case {
  name: string;
  input: Labels;
  configs: RelabelConfig[];
  output: Labels | null;
}

// Cases from Prometheus model/relabel/relabel_test.go (TestRelabel), plus covgate's own.
const cases: Case[] = [
  {
    name: 'replace with ${1} twice',
    input: { a: 'foo', b: 'bar', c: 'baz' },
    configs: [rc({ source_labels: ['a'], regex: 'f(.*)', target_label: 'd', replacement: 'ch${1}-ch${1}' })],
    output: { a: 'foo', b: 'bar', c: 'baz', d: 'choo-choo' },
  },
  {
    name: 'replace chained, joined sources, $1$2 expansion',
    input: { a: 'foo', b: 'bar', c: 'baz' },
    configs: [
      rc({ source_labels: ['a', 'b'], regex: 'f(.*);(.*)r', target_label: 'a', replacement: 'b${1}${2}m' }),
      rc({ source_labels: ['c', 'a'], regex: '(b).*b(.*)ba(.*)', target_label: 'd', replacement: '$1$2$2$3' }),
    ],
    output: { a: 'boobam', b: 'bar', c: 'baz', d: 'boooom' },
  },
  {
    name: 'drop before a replace stops processing',
    input: { a: 'foo' },
    configs: [
      rc({ source_labels: ['a'], regex: '.*o.*', action: 'drop' }),
      rc({ source_labels: ['a'], regex: 'f(.*)', target_label: 'd', replacement: 'ch$1-ch$1' }),
    ],
    output: null,
  },
  {
    name: 'drop on match',
    input: { a: 'foo', b: 'bar' },
    configs: [rc({ source_labels: ['a'], regex: '.*o.*', action: 'drop' })],
    output: null,
  },
  {
    name: 'replace with a group in the middle',
    input: { a: 'abc' },
    configs: [rc({ source_labels: ['a'], regex: '.*(b).*', target_label: 'd', replacement: '$1' })],
    output: { a: 'abc', d: 'b' },
  },
  {
    name: 'drop without match keeps',
    input: { a: 'foo' },
    configs: [rc({ source_labels: ['a'], regex: 'no-match', action: 'drop' })],
    output: { a: 'foo' },
  },
  {
    name: 'drop regex is anchored (f|o does not match foo)',
    input: { a: 'foo' },
    configs: [rc({ source_labels: ['a'], regex: 'f|o', action: 'drop' })],
    output: { a: 'foo' },
  },
  {
    name: 'keep without match drops',
    input: { a: 'foo' },
    configs: [rc({ source_labels: ['a'], regex: 'no-match', action: 'keep' })],
    output: null,
  },
  {
    name: 'keep on match',
    input: { a: 'foo' },
    configs: [rc({ source_labels: ['a'], regex: 'f.*', action: 'keep' })],
    output: { a: 'foo' },
  },
  {
    name: 'no replacement without a match',
    input: { a: 'boo' },
    configs: [rc({ source_labels: ['a'], regex: 'f', target_label: 'b', replacement: 'bar' })],
    output: { a: 'boo' },
  },
  {
    name: 'hashmod md5 lower 8 bytes (baz % 1000)',
    input: { a: 'foo', b: 'bar', c: 'baz' },
    configs: [rc({ source_labels: ['c'], target_label: 'd', action: 'hashmod', modulus: 1000 })],
    output: { a: 'foo', b: 'bar', c: 'baz', d: '976' },
  },
  {
    name: 'hashmod of a value with a newline',
    input: { a: 'foo\nbar' },
    configs: [rc({ source_labels: ['a'], target_label: 'b', action: 'hashmod', modulus: 1000 })],
    output: { a: 'foo\nbar', b: '734' },
  },
  {
    name: 'labelmap copies matching names',
    input: { a: 'foo', b1: 'bar', b2: 'baz' },
    configs: [rc({ regex: '(b.*)', replacement: 'bar_${1}', action: 'labelmap' })],
    output: { a: 'foo', b1: 'bar', b2: 'baz', bar_b1: 'bar', bar_b2: 'baz' },
  },
  {
    name: 'labelmap of __meta labels',
    input: { a: 'foo', __meta_my_bar: 'aaa', __meta_my_baz: 'bbb', __meta_other: 'ccc' },
    configs: [rc({ regex: '__meta_(my.*)', replacement: '${1}', action: 'labelmap' })],
    output: { a: 'foo', __meta_my_bar: 'aaa', __meta_my_baz: 'bbb', __meta_other: 'ccc', my_bar: 'aaa', my_baz: 'bbb' },
  },
  {
    name: 'target_label expanded from a group',
    input: { a: 'some-name-value' },
    configs: [rc({ source_labels: ['a'], regex: 'some-([^-]+)-([^,]+)', replacement: '${2}', target_label: '${1}' })],
    output: { a: 'some-name-value', name: 'value' },
  },
  {
    name: 'empty replacement (missing group) deletes/does not set',
    input: { a: 'some-name-value' },
    configs: [rc({ source_labels: ['a'], regex: 'some-([^-]+)-([^,]+)', replacement: '${3}', target_label: '${1}' })],
    output: { a: 'some-name-value' },
  },
  {
    name: 'invalid expanded target_label skips the step',
    input: { a: 'some-name-0' },
    configs: [
      rc({ source_labels: ['a'], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}' }),
      rc({ source_labels: ['a'], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}' }),
      rc({ source_labels: ['a'], regex: 'some-([^-]+)(-[^,]+)', replacement: '${1}', target_label: '${3}' }),
    ],
    output: { a: 'some-name-0' },
  },
  {
    name: 'real-life: path, job and a label out of one tag string',
    input: { __meta_sd_tags: 'path:/secret,job:some-job,label:foo=bar' },
    configs: [
      rc({ source_labels: ['__meta_sd_tags'], regex: '(?:.+,|^)path:(/[^,]+).*', replacement: '${1}', target_label: '__coverage_path__' }),
      rc({ source_labels: ['__meta_sd_tags'], regex: '(?:.+,|^)job:([^,]+).*', replacement: '${1}', target_label: 'job' }),
      rc({ source_labels: ['__meta_sd_tags'], regex: '(?:.+,|^)label:([^=]+)=([^,]+).*', replacement: '${2}', target_label: '${1}' }),
    ],
    output: { __meta_sd_tags: 'path:/secret,job:some-job,label:foo=bar', __coverage_path__: '/secret', job: 'some-job', foo: 'bar' },
  },
  {
    name: 'prometheus#12283: labeldrop then replace then keep',
    input: { __meta_kubernetes_pod_container_port_name: 'foo', __meta_kubernetes_pod_annotation_XXX_metrics_port: '9091' },
    configs: [
      rc({ regex: '^__meta_kubernetes_pod_container_port_name$', action: 'labeldrop' }),
      rc({ source_labels: ['__meta_kubernetes_pod_annotation_XXX_metrics_port'], regex: '(.+)', replacement: 'metrics', target_label: '__meta_kubernetes_pod_container_port_name' }),
      rc({ source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: '^metrics$', action: 'keep' }),
    ],
    output: { __meta_kubernetes_pod_annotation_XXX_metrics_port: '9091', __meta_kubernetes_pod_container_port_name: 'metrics' },
  },
  {
    name: 'labelkeep',
    input: { a: 'foo', b1: 'bar', b2: 'baz' },
    configs: [rc({ regex: '(b.*)', action: 'labelkeep' })],
    output: { b1: 'bar', b2: 'baz' },
  },
  {
    name: 'labeldrop',
    input: { a: 'foo', b1: 'bar', b2: 'baz' },
    configs: [rc({ regex: '(b.*)', action: 'labeldrop' })],
    output: { a: 'foo' },
  },
  // covgate's own cases: defaults and edge semantics.
  {
    name: 'default replace copies a source label ($1 of (.*))',
    input: { __meta_goc_service: 'orders' },
    configs: [rc({ source_labels: ['__meta_goc_service'], target_label: 'service' })],
    output: { __meta_goc_service: 'orders', service: 'orders' },
  },
  {
    name: 'replace from a missing source label deletes the target (empty result)',
    input: { a: 'x', b: 'y' },
    configs: [rc({ source_labels: ['missing'], target_label: 'b' })],
    output: { a: 'x' },
  },
  {
    name: 'replace with a constant from no sources sets the label',
    input: { a: 'x' },
    configs: [rc({ target_label: 'env', replacement: 'staging' })],
    output: { a: 'x', env: 'staging' },
  },
  {
    name: 'missing source labels read as empty strings when joined',
    input: { b: 'y' },
    configs: [rc({ source_labels: ['a', 'b'], regex: ';y', action: 'keep' })],
    output: { b: 'y' },
  },
  {
    name: 'custom separator',
    input: { a: 'x', b: 'y' },
    configs: [rc({ source_labels: ['a', 'b'], separator: '/', target_label: 'c' })],
    output: { a: 'x', b: 'y', c: 'x/y' },
  },
  {
    name: 'named groups, Go (?P<name>) spelling, $name and ${name}',
    input: { addr: 'host-1:8080' },
    configs: [rc({ source_labels: ['addr'], regex: '(?P<host>[^:]+):(?P<port>\\d+)', target_label: 'hp', replacement: '$host/${port}' })],
    output: { addr: 'host-1:8080', hp: 'host-1/8080' },
  },
  {
    name: '$1x names group "1x" (Go rule), ${1}x is group 1 then x',
    input: { a: 'foo' },
    configs: [
      rc({ source_labels: ['a'], regex: '(f)oo', target_label: 'b', replacement: '$1x-${1}x' }),
    ],
    output: { a: 'foo', b: '-fx' },
  },
  {
    name: '$$ is a literal dollar and a malformed $ stays as text',
    input: { a: 'foo' },
    configs: [rc({ source_labels: ['a'], target_label: 'b', replacement: '$$1 $- ${1' })],
    output: { a: 'foo', b: '$1 $- ${1' },
  },
  {
    name: 'keep regex is anchored at both ends',
    input: { a: 'xfoox' },
    configs: [rc({ source_labels: ['a'], regex: 'foo', action: 'keep' })],
    output: null,
  },
  {
    name: 'leading (?i) flag group is honoured',
    input: { a: 'FOO' },
    configs: [rc({ source_labels: ['a'], regex: '(?i)foo', action: 'keep' })],
    output: { a: 'FOO' },
  },
  {
    name: 'hashmod into a label used by keep (sharding)',
    input: { __address__: 'a:1' },
    configs: [
      rc({ source_labels: ['__address__'], target_label: '__tmp_hash', action: 'hashmod', modulus: 1 }),
      rc({ source_labels: ['__tmp_hash'], regex: '0', action: 'keep' }),
    ],
    output: { __address__: 'a:1', __tmp_hash: '0' },
  },
  {
    name: 'labelmap whose replacement is empty does not create a nameless label',
    input: { a: 'foo' },
    configs: [rc({ regex: '(a)', replacement: '${2}', action: 'labelmap' })],
    output: { a: 'foo' },
  },
  {
    name: 'no configs returns an equal copy',
    input: { a: 'foo' },
    configs: [],
    output: { a: 'foo' },
  },
];

describe('relabel', () => {
  for (const c of cases) {
    it(c.name, () => {
      const input = { ...c.input };
      const out = relabel(input, c.configs);
      expect(out).to.deep.equal(c.output);
      expect(input, 'input must not be modified').to.deep.equal(c.input);
    });
  }

  it('returns a new object even when nothing changes', () => {
    const input = { a: 'foo' };
    expect(relabel(input, [])).to.not.equal(input);
  });
});

describe('hashmod', () => {
  it('matches Prometheus for known values', () => {
    expect(hashmod('baz', 1000)).to.equal('976');
    expect(hashmod('foo\nbar', 1000)).to.equal('734');
  });
  it('stays below the modulus', () => {
    for (let i = 0; i < 100; i++) expect(Number(hashmod(`t${i}`, 7))).to.be.within(0, 6);
  });
});

describe('compileRelabelRegex', () => {
  it('anchors the pattern', () => {
    const re = compileRelabelRegex('a|b');
    expect(re.test('a')).to.equal(true);
    expect(re.test('ab')).to.equal(false);
  });
  it('throws COVGATE_BAD_CONFIG on an invalid regex', () => {
    expect(() => compileRelabelRegex('(')).to.throw().with.property('code', 'COVGATE_BAD_CONFIG');
  });
  it('accepts escapes only legacy mode allows', () => {
    expect(compileRelabelRegex('a\\-b').test('a-b')).to.equal(true);
  });
});

describe('expandTemplate', () => {
  const m = /^(?:(?<word>a)(b)?)$/.exec('a')!;
  it('expands a group that did not participate to nothing', () => {
    expect(expandTemplate('[$2]', m)).to.equal('[]');
  });
  it('treats numbers with leading zeros as names', () => {
    expect(expandTemplate('[$01]', m)).to.equal('[]');
  });
  it('expands named groups', () => {
    expect(expandTemplate('$word-${word}', m)).to.equal('a-a');
  });
});
