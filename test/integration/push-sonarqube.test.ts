import { expect } from 'chai';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SAMPLE_APP } from '../helpers/exporter-process.ts';
import { useProcesses } from '../helpers/processes.ts';
import { lcovLines } from '../helpers/lcov-lines.ts';
import { parseSonarCoverage, type SonarLine } from '../helpers/sonar-xml.ts';

const job = (targets: string[]) => `
  - job_name: orders
    scrape_interval: 1h
    static_configs:
      - targets: [${targets.join(', ')}]`;
const sonarCfg = (path: string) => `
push:
  upstreams:
    - name: sonar
      kind: sonarqube
      path: ${path}
      strip_prefix: ${dirname(SAMPLE_APP)}/
      min_backoff: 100ms
      max_backoff: 500ms
`;

/** What the generic-coverage report must say for an lcov text's file. */
function expectedFromLcov(lcov: string): Record<string, SonarLine> {
  const out: Record<string, SonarLine> = {};
  for (const [line, l] of Object.entries(lcovLines(lcov)[SAMPLE_APP] ?? {})) {
    out[line] = { covered: (l.hits ?? (l.branches!.covered > 0 ? 1 : 0)) > 0, ...(l.branches ? { branchesToCover: l.branches.total, coveredBranches: l.branches.covered } : {}) };
  }
  return out;
}

describe('push kind sonarqube (real gateway and outbox: generic coverage file and url)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();

  it('writes and serves one report per service and release, merging the release sessions line by line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'covgate-sonar-'));
    const a = await exporter();
    const g = await gateway(`scrape_configs:${job([a.address])}${sonarCfg(`${dir}/{service}/{release}.xml`)}`);
    await g.api.post('/test-started', { session: 'at', labels: { release: '2026.11', test_type: 'AT' } });
    await a.hit('/classify?n=-4');
    const f1 = await g.api.post('/test-finished', { session: 'at', wait: true });
    expect(f1.data.push.status).to.equal('delivered');
    await g.api.post('/test-started', { session: 'ut', labels: { release: '2026.11', test_type: 'UT' } });
    await a.hit('/add?a=1&b=2');
    const f2 = await g.api.post('/test-finished', { session: 'ut', wait: true });
    expect(f2.data.push.status).to.equal('delivered');

    const file = join(dir, 'orders', '2026.11.xml');
    const written = readFileSync(file, 'utf8');
    const served = await g.api.get('/api/v1/sonarqube/orders/2026.11.xml');
    expect(served.status).to.equal(200);
    expect(served.headers['content-type']).to.match(/^application\/xml/);
    expect(served.data).to.equal(written);
    // The release's report is what the gateway reports for the release (its lcov), line by line.
    const lcov = (await g.api.get('/api/v1/coverage?release=2026.11&format=lcov')).data as string;
    const report = parseSonarCoverage(written);
    expect(Object.keys(report)).to.deep.equal(['app.cjs']);
    expect(report['app.cjs']).to.deep.equal(expectedFromLcov(lcov));
    // ...and it holds both sessions: lines only one of them ran are covered.
    const atOnly = expectedFromLcov((await g.api.get('/api/v1/coverage?session=at&format=lcov')).data as string);
    const utOnly = expectedFromLcov((await g.api.get('/api/v1/coverage?session=ut&format=lcov')).data as string);
    const coveredIn = (m: Record<string, SonarLine>) => Object.keys(m).filter((l) => m[l]!.covered);
    expect(coveredIn(report['app.cjs']!)).to.include.members([...coveredIn(atOnly), ...coveredIn(utOnly)]);
    expect(coveredIn(atOnly).filter((l) => !coveredIn(utOnly).includes(l))).to.not.be.empty;

    const pushes = (await g.api.get('/api/v1/pushes')).data.data.pushes;
    expect(pushes.map((p: { attempts: number }) => p.attempts)).to.deep.equal([1, 1]); // no retry spent waiting for the session to be stored
    expect(pushes.map((p: { answer: unknown }) => p.answer)).to.deep.equal([
      { 'report.orders': '/api/v1/sonarqube/orders/2026.11.xml', 'file.orders': file },
      { 'report.orders': '/api/v1/sonarqube/orders/2026.11.xml', 'file.orders': file },
    ]);
    expect((await g.api.get('/api/v1/sonarqube/orders/2027.01.xml')).status).to.equal(404);
    expect((await g.api.get('/api/v1/sonarqube/orders/2026.11.json')).status).to.equal(404);
  });

  it('refuses a session without a release label at /test-finished (400), writing nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'covgate-sonar-'));
    const a = await exporter();
    const g = await gateway(`scrape_configs:${job([a.address])}${sonarCfg(`${dir}/{service}/{release}.xml`)}`);
    const fin = await g.api.post('/test-finished', { session: 'norelease', labels: { test_type: 'AT' } });
    expect(fin.status).to.equal(400);
    expect(fin.data.error).to.include('upstream "sonar" (kind sonarqube) needs the session label "release"');
    const bad = await g.api.post('/test-finished', { session: 'slashy', labels: { release: '../../etc' } });
    expect(bad.status).to.equal(400);
    expect(bad.data.error).to.include('must be letters, digits');
    expect((await g.api.get('/api/v1/pushes')).data.data.pushes).to.deep.equal([]);
    expect(existsSync(join(dir, 'orders'))).to.equal(false);
  });
});
