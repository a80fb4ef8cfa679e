import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { requireTools } from './formats-tools.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run demo', function () {
  this.timeout(180_000);

  it('starts everything, runs two sessions, pushes both to the center and stops cleanly (--once)', function () {
    requireTools(this, ['chromium'], 'chromium');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--once'], { cwd: ROOT, encoding: 'utf8', timeout: 170_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).to.equal(0);
    expect(r.stdout).to.match(/browser page +http:\/\/127\.0\.0\.1:\d+\/index\.html \(headless Chromium/);
    expect(r.stdout.match(/push delivered/g) ?? []).to.have.length(2);
    expect(r.stdout.match(/center: received a signed push \(4 files/g) ?? []).to.have.length(2);
    expect(r.stdout).to.match(/status page +http:\/\/127\.0\.0\.1:\d+\//);
  });
});
