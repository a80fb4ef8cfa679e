import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { useProcesses } from '../helpers/processes.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('the gateway compiled to JavaScript (dist/, what runs without tsx)', function () {
  this.timeout(180_000);
  const { exporter, gateway } = useProcesses();

  before(() => {
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8', timeout: 170_000 });
    expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
  });

  it('imports nothing from tsx and serves scrapes, coverage, reports and the status page', async () => {
    for (const f of filesUnder(join(ROOT, 'dist'))) {
      expect(readFileSync(f, 'utf8'), f).to.not.match(/(?:from\s+|import\()['"](?:tsx[^'"]*|[^'"]*\.ts)['"]/);
    }
    const a = await exporter();
    await a.hit('/add?a=1&b=2');
    const g = await gateway(`scrape_configs:\n  - job_name: shop\n    scrape_interval: 1h\n    static_configs:\n      - targets: [${a.address}]\n`, undefined, { COVGATE_DIST: '1' });
    expect(g.process.output()).to.not.include('tsx');
    expect((await g.api.post('/api/v1/scrape', {})).data.data.results[0].health).to.equal('up');
    const summary = (await g.api.get('/api/v1/coverage?job=shop&format=json-summary')).data;
    expect(summary.total.lines.covered).to.be.greaterThan(0);
    const loc = (await g.api.get('/reports/?job=shop', { maxRedirects: 0 })).headers.location as string;
    const report = await g.api.get(loc);
    expect(report.status).to.equal(200);
    expect(report.data).to.include('All files');
    expect((await g.api.get('/')).status).to.equal(200);
  });
});
