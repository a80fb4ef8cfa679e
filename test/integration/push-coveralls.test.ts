import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SAMPLE_APP } from '../helpers/exporter-process.ts';
import { useProcesses } from '../helpers/processes.ts';
import { lcovLines } from '../helpers/lcov-lines.ts';
import { startCoveralls } from '../fakes/coveralls-server.ts';
import { until } from '../fakes/center-http.ts';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const cfg = (target: string, url: string, sources = true) => `scrape_configs:
  - job_name: orders
    scrape_interval: 1h
    ${sources ? `sources: [${dirname(SAMPLE_APP)}]` : ''}
    static_configs:
      - targets: [${target}]
push:
  upstreams:
    - name: coveralls
      kind: coveralls
      url: ${url}
      token: repo-tok
      parallel: true
      strip_prefix: ${dirname(SAMPLE_APP)}/
      timeout: 5s
      min_backoff: 100ms
      max_backoff: 500ms
`;

/** The coverage array and branch quadruples Coveralls must get for SAMPLE_APP, from the gateway's lcov. */
function expectedFromLcov(lcov: string, lineCount: number) {
  const lines = lcovLines(lcov)[SAMPLE_APP]!;
  const coverage: Array<number | null> = new Array(lineCount).fill(null);
  for (const [l, v] of Object.entries(lines)) if (v.hits !== undefined) coverage[Number(l) - 1] = v.hits;
  const brda = lcov
    .split('\n')
    .filter((l) => l.startsWith('BRDA:'))
    .map((l) => l.slice(5).split(',').map((x) => (x === '-' ? 0 : Number(x))));
  return { coverage, branches: brda.flat() };
}

describe('push kind coveralls (real gateway and outbox, fake Coveralls API)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();
  const fakes: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const f of fakes.splice(0)) await f.close();
  });
  async function coveralls() {
    const c = await startCoveralls({ repoToken: 'repo-tok' });
    fakes.push(c);
    return c;
  }

  it('posts one multipart json_file job per session and closes the parallel build after the done session', async () => {
    const cv = await coveralls();
    const a = await exporter();
    const g = await gateway(cfg(a.address, cv.url));
    const lcovs: string[] = [];
    for (const [session, path, type, done] of [['at', '/classify?n=-4', 'AT', false], ['ut', '/add?a=1&b=2', 'UT', true]] as const) {
      await g.api.post('/test-started', { session, labels: { test_type: type, build: '42', commit: SHA, branch: 'main' } });
      await a.hit(path);
      const fin = await g.api.post('/test-finished', { session, wait: true, done });
      expect(fin.data.push.status, session).to.equal('delivered');
      lcovs.push((await g.api.get(`/api/v1/coverage?session=${session}&format=lcov`)).data as string);
    }
    const source = readFileSync(SAMPLE_APP, 'utf8');
    expect(cv.jobs.map((j) => [j.serviceJobId, j.flag, j.build, j.parallel, j.afterDone])).to.deep.equal([
      ['at', 'AT', '42', true, false],
      ['ut', 'UT', '42', true, false],
    ]);
    expect(cv.closed).to.deep.equal([{ build: '42', jobs: 2 }]);
    for (const [i, job] of cv.jobs.entries()) {
      expect(job.git).to.deep.equal({ head: { id: SHA }, branch: 'main' });
      expect(job.sourceFiles).to.have.length(1);
      const f = job.sourceFiles[0]!;
      expect(f.name).to.equal('app.cjs');
      expect(f.source_digest).to.equal(createHash('md5').update(source).digest('hex'));
      const want = expectedFromLcov(lcovs[i]!, source.split('\n').length);
      expect(f.coverage).to.deep.equal(want.coverage);
      expect(f.branches).to.deep.equal(want.branches);
    }
    const pushes = (await g.api.get('/api/v1/pushes')).data.data.pushes;
    expect(pushes.map((p: { session: string; answer: Record<string, string> }) => [p.session, p.answer.url])).to.deep.equal([
      ['at', `${cv.url}/jobs/1`],
      ['ut', `${cv.url}/jobs/2`],
      ['ut', `${cv.url}/builds/42`],
    ]);
  });

  it('refuses at /test-finished what Coveralls cannot take: no build number, no readable source', async () => {
    const cv = await coveralls();
    const a = await exporter();
    const g = await gateway(cfg(a.address, cv.url));
    const noBuild = await g.api.post('/test-finished', { session: 'nobuild', labels: { commit: SHA } });
    expect(noBuild.status).to.equal(400);
    expect(noBuild.data.error).to.include('is parallel and needs the build number: set the session label "build"');
    const g2 = await gateway(cfg(a.address, cv.url, false));
    await g2.api.post('/test-started', { session: 'nosrc', labels: { build: '1' } });
    await a.hit('/classify?n=1');
    const noSource = await g2.api.post('/test-finished', { session: 'nosrc' });
    expect(noSource.status).to.equal(400);
    expect(noSource.data.error).to.include(`needs the source of ${SAMPLE_APP}`);
    expect(cv.log).to.have.length(0);
  });

  it('a wrong repo token (422) fails the push with Coveralls\' message; no retry', async () => {
    const cv = await coveralls();
    const a = await exporter();
    const g = await gateway(cfg(a.address, cv.url).replace('token: repo-tok', 'token: nope'));
    const fin = await g.api.post('/test-finished', { session: 's', labels: { build: '7' }, wait: true });
    expect(fin.data.push.status).to.equal('failed');
    const p = (await g.api.get('/api/v1/pushes')).data.data.pushes[0];
    expect(p).to.include({ status: 'failed', attempts: 1, lastStatus: 422 });
    expect(p.lastError).to.include("Couldn't find a repository matching this job.");
  });

  it('delivers each job once and then the webhook, across an outage, a 429 and a gateway SIGKILL', async () => {
    const cv = await coveralls();
    const a = await exporter();
    const conf = cfg(a.address, cv.url);
    const g = await gateway(conf);
    cv.down(503);
    await g.api.post('/test-finished', { session: 'k1', labels: { build: '9', test_type: 'AT' } });
    await g.api.post('/test-finished', { session: 'k2', labels: { build: '9', test_type: 'UT' }, done: true });
    await until(() => cv.log.length > 0, 'a first attempt');
    await g.kill('SIGKILL');
    cv.down(undefined);
    cv.rateLimit(1);
    const g2 = await gateway(conf, g.dataDir);
    await until(async () => (await g2.api.get('/api/v1/pushes?status=delivered')).data.data.pushes.length === 3, 'three records delivered');
    expect(cv.jobs.map((j) => j.serviceJobId)).to.deep.equal(['k1', 'k2']);
    expect(cv.closed).to.deep.equal([{ build: '9', jobs: 2 }]);
    expect(cv.log.filter((r) => r.status === 429)).to.have.length(1);
  });
});
