import { expect } from 'chai';
import { inflateSync } from 'node:zlib';
import { CODECOV_SLUG_RE } from '../../../gateway/config/schema.ts';
import { centerOf, encodeSlug, sonarReport } from '../../../gateway/push/index.ts';
import { canyonSignature } from '../../../gateway/push/centers/canyon.ts';
import { coverage, upstream } from '../helpers.ts';
import { parseSonarCoverage } from '../../helpers/sonar-xml.ts';
import type { PushJob } from '../../../gateway/push/types.ts';

const SHA = 'a'.repeat(40);
const job = (over: Partial<PushJob> = {}): PushJob => ({
  sessionId: 's1',
  labels: { commit: SHA, test_type: 'AT', release: 'r1' },
  summary: {} as PushJob['summary'],
  coverage,
  services: ['orders'],
  ...over,
});

describe('push/centers', () => {
  describe('encodeSlug (codecov-cli tests/helpers/test_encoder.py vectors)', () => {
    for (const [slug, encoded] of [
      ['owner/repo', 'owner::::repo'],
      ['owner/subgroup/repo', 'owner:::subgroup::::repo'],
    ]) {
      it(`${slug} → ${encoded}`, () => expect(encodeSlug(slug!)).to.equal(encoded));
    }
    for (const bad of ['invalid_slug', '', '/', '//', '///', 'random string']) {
      it(`the config rejects ${JSON.stringify(bad)} as codecov-cli does`, () => expect(CODECOV_SLUG_RE.test(bad)).to.equal(false));
    }
  });

  describe('prepare refuses what a center requires (errors.badData, a 400 at /test-finished)', () => {
    const table: Array<[string, Parameters<typeof upstream>[0], Partial<PushJob>, RegExp]> = [
      ['codecov without commit', { kind: 'codecov', slug: 'a/b' }, { labels: {} }, /needs the commit/],
      ['codecov with a short commit', { kind: 'codecov', slug: 'a/b' }, { labels: { commit: 'abc123' } }, /not a full git SHA/],
      ['codecov without slug', { kind: 'codecov' }, {}, /needs the repository/],
      ['codecov with a bad flag', { kind: 'codecov', slug: 'a/b' }, { labels: { commit: SHA, test_type: 'a b' } }, /not a valid Codecov flag/],
      ['sonarqube without release', { kind: 'sonarqube' }, { labels: {} }, /needs the session label "release"/],
      ['sonarqube with a path-like release', { kind: 'sonarqube' }, { labels: { release: '../x' } }, /must be letters/],
      ['coveralls parallel without build', { kind: 'coveralls', parallel: true }, {}, /needs the build number/],
      ['canyon without repo', { kind: 'canyon' }, {}, /needs the repository/],
    ];
    for (const [name, up, over, re] of table) {
      it(name, () => {
        const u = upstream(up);
        expect(() => centerOf(u.kind)!.prepare(job(over), u, 0, { sourceOf: () => 'x' })).to.throw(re).with.property('code', 'COVGATE_BAD_DATA');
      });
    }
  });

  it('codecov: the stored payload is upload_sender-shaped with base64+zlib custom coverage, commit and flags in meta', () => {
    const u = upstream({ kind: 'codecov', slug: 'acme/orders', strip_prefix: '/srv/app/' });
    const req = centerOf('codecov')!.prepare(job(), u, 0, {});
    const r = Array.isArray(req) ? req[0]! : req;
    const payload = JSON.parse(r.body) as { coverage_files: Array<{ format: string; data: string }>; network_files: string[] };
    expect(payload.coverage_files[0]!.format).to.equal('base64+compressed');
    const file = JSON.parse(inflateSync(Buffer.from(payload.coverage_files[0]!.data, 'base64')).toString('utf8'));
    expect(Object.keys(file.coverage)).to.deep.equal(payload.network_files);
    expect(r.meta).to.include({ commit: SHA, slug: 'acme/orders' });
    expect(r.meta!.flags).to.deep.equal(['AT']);
    expect(JSON.stringify(r)).to.not.include('token'); // secrets are added at send time only
  });

  it('sonarqube: the report is generic-coverage XML with one lineToCover per istanbul line', () => {
    const xml = sonarReport(coverage, '/srv/app/');
    const parsed = parseSonarCoverage(xml);
    expect(Object.keys(parsed).every((p) => !p.startsWith('/srv/app/'))).to.equal(true);
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<coverage version="1">')).to.equal(true);
  });

  it("canyon: buildHash is sha1 of the key-sorted JSON, whatever the key order (Canyon's generateObjectSignature)", () => {
    const a = canyonSignature({ sha: SHA, provider: 'github', repoID: 'r', instrumentCwd: '/w', buildTarget: '' });
    const b = canyonSignature({ buildTarget: '', instrumentCwd: '/w', repoID: 'r', provider: 'github', sha: SHA });
    expect(a).to.equal(b).and.match(/^[0-9a-f]{40}$/);
  });
});
