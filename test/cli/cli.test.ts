import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import libCoverage from 'istanbul-lib-coverage';
import { useProcesses } from '../helpers/processes.ts';
import { SAMPLE_APP } from '../helpers/exporter-process.ts';
import { checkThresholds } from '../../gateway/cli/commands.ts';

const BIN = fileURLToPath(new URL('../../bin/covgate.js', import.meta.url));

/** Runs the real covgate binary; resolves with its exit code and output. */
function covgate(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, COVGATE_URL: '', ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const lines = (m: libCoverage.CoverageMap) =>
  Object.fromEntries(m.files().map((f) => [f, m.fileCoverageFor(f).getLineCoverage()]));

describe('covgate CLI (the real binary)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'covgate-cli-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('answers usage errors with 2, an unreachable gateway with 3, and has --help per command', async () => {
    expect((await covgate(['bogus'])).code).to.equal(2);
    expect((await covgate(['check'])).code, 'no threshold').to.equal(2);
    expect((await covgate(['check', '--lines', '120', 'job=x'])).code).to.equal(2);
    const heap = await covgate(['--runtime.heap-growth', 'lots']);
    expect(heap.code).to.equal(2);
    expect(heap.stderr).to.match(/--runtime.heap-growth: "lots" is not a percent/);
    const down = await covgate(['list', '--gateway', 'http://127.0.0.1:9']);
    expect(down.code).to.equal(3);
    expect(down.stderr).to.match(/cannot reach the gateway at http:\/\/127\.0\.0\.1:9/);
    const cmds = ['profile', 'list', 'register', 'deregister', 'clear', 'session', 'push', 'merge', 'subtract', 'intersect', 'report', 'diff', 'check'];
    const helps = await Promise.all(cmds.map((cmd) => covgate([cmd, '--help'])));
    cmds.forEach((cmd, i) => {
      expect(helps[i]!.code, cmd).to.equal(0);
      expect(helps[i]!.stdout, cmd).to.match(new RegExp(`^Usage: covgate ${cmd}`));
    });
  });

  it('merges local files of any format as istanbul-lib-coverage does, with no gateway', async () => {
    const app = await exporter();
    await app.hit('/add?a=1&b=2');
    const first = await app.raw();
    await app.hit('/classify?n=-5');
    await app.hit('/classify?n=500');
    const second = await app.raw();
    writeFileSync(join(work, 'a.json'), JSON.stringify(first));
    writeFileSync(join(work, 'b.json'), JSON.stringify(second));
    const res = await covgate(['merge', join(work, 'a.json'), join(work, 'b.json'), '-o', join(work, 'out.json')]);
    expect(res.code, res.stderr).to.equal(0);
    const ours = libCoverage.createCoverageMap(JSON.parse(readFileSync(join(work, 'out.json'), 'utf8')));
    const oracle = libCoverage.createCoverageMap(JSON.parse(JSON.stringify(first)));
    oracle.merge(JSON.parse(JSON.stringify(second)));
    expect(lines(ours)).to.deep.equal(lines(oracle));
    for (const f of oracle.files()) {
      expect(ours.fileCoverageFor(f).data.s, f).to.deep.equal(oracle.fileCoverageFor(f).data.s);
      expect(ours.fileCoverageFor(f).data.b, f).to.deep.equal(oracle.fileCoverageFor(f).data.b);
      expect(ours.fileCoverageFor(f).data.f, f).to.deep.equal(oracle.fileCoverageFor(f).data.f);
    }
    // lcov out, read back: the same line counts
    const lcov = await covgate(['merge', join(work, 'a.json'), join(work, 'b.json'), '--format', 'lcov']);
    expect(lcov.code).to.equal(0);
    writeFileSync(join(work, 'merged.info'), lcov.stdout);
    const html = await covgate(['report', join(work, 'merged.info'), join(work, 'a.json'), '-o', join(work, 'html')]);
    expect(html.code, html.stderr).to.equal(0);
    expect(existsSync(join(work, 'html', 'index.html'))).to.equal(true);
    const bad = await covgate(['merge', join(work, 'a.json'), join(work, 'missing.json')]);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.include('missing.json: no such file');
    // subtract / intersect of local files equal istanbul-lib-coverage arithmetic (go tool covdata's rule)
    const third = { ...second };
    writeFileSync(join(work, 'c.json'), JSON.stringify(first));
    for (const op of ['subtract', 'intersect'] as const) {
      const r = await covgate([op, join(work, 'b.json'), join(work, 'c.json'), '-o', join(work, `${op}.json`)]);
      expect(r.code, r.stderr).to.equal(0);
      const got = libCoverage.createCoverageMap(JSON.parse(readFileSync(join(work, `${op}.json`), 'utf8')));
      const keep = (n: number) => (op === 'subtract' ? n === 0 : n > 0);
      for (const f of got.files()) {
        const a = libCoverage.createCoverageMap(JSON.parse(JSON.stringify(third))).fileCoverageFor(f).data;
        const b = libCoverage.createCoverageMap(JSON.parse(JSON.stringify(first))).fileCoverageFor(f).data;
        const g = got.fileCoverageFor(f).data;
        expect(g.s, `${op} ${f}`).to.deep.equal(Object.fromEntries(Object.entries(a.s).map(([k, v]) => [k, keep(b.s[k]!) ? v : 0])));
        expect(g.f, `${op} ${f}`).to.deep.equal(Object.fromEntries(Object.entries(a.f).map(([k, v]) => [k, keep(b.f[k]!) ? v : 0])));
        expect(g.b, `${op} ${f}`).to.deep.equal(Object.fromEntries(Object.entries(a.b).map(([k, v]) => [k, v.map((n, i) => (keep(b.b[k]![i]!) ? n : 0))])));
      }
    }
    expect((await covgate(['subtract', join(work, 'a.json')])).code).to.equal(2);
    const check = await covgate(['check', '--files', '--lines', '100', join(work, 'a.json')]);
    expect(check.code).to.equal(1);
    expect(check.stderr).to.match(/ERROR: coverage for lines \([\d.]+%\) does not meet the threshold \(100%\)/);
  });

  it('drives a gateway: list, session start/finish, profile, check, push, clear, register and deregister', async () => {
    const app = await exporter();
    const token = 'cli-test-token';
    const g = await gateway(`server:
  auth: { bearer_token: ${token} }
registration: { enabled: true, allowed_targets: [127.0.0.0/8] }
scrape_configs:
  - job_name: shop
    scrape_interval: 1h
    sources: [${JSON.stringify(dirname(SAMPLE_APP))}]
    static_configs:
      - targets: [${app.address}]
        labels: { service: shop }
`);
    const gw = ['--gateway', g.url];
    const auth = [...gw, '--token', token];
    const started = await covgate(['session', 'start', ...auth, '--label', 'test_type=AT', '--json']);
    expect(started.code, started.stderr).to.equal(0);
    const session = JSON.parse(started.stdout).session as string;
    await app.hit('/add?a=1&b=2');
    const finished = await covgate(['session', 'finish', ...auth, '--session', session, '--json']);
    expect(finished.code, finished.stderr).to.equal(0);
    expect(JSON.parse(finished.stdout).summary.lines.covered).to.be.greaterThan(0);

    const list = await covgate(['list', ...gw, '--json']);
    expect(list.code).to.equal(0);
    const targets = JSON.parse(list.stdout) as Array<{ health: string; scrapePool: string }>;
    expect(targets.map((t) => [t.scrapePool, t.health])).to.deep.equal([['shop', 'up']]);
    expect((await covgate(['list', ...gw])).stdout).to.match(/^JOB\s+INSTANCE\s+HEALTH/);

    const profile = await covgate(['profile', ...gw, 'job=shop', '--format', 'json-summary']);
    expect(profile.code).to.equal(0);
    const api = (await g.api.get('/api/v1/coverage?job=shop&format=json-summary')).data;
    expect(JSON.parse(profile.stdout).total).to.deep.equal(api.total);
    const linesPct = api.total.lines.pct as number;
    expect((await covgate(['check', ...gw, '--lines', String(Math.floor(linesPct)), 'job=shop'])).code).to.equal(0);
    const below = await covgate(['check', ...gw, '--lines', String(Math.min(100, Math.ceil(linesPct + 1))), 'job=shop', '--json']);
    expect(below.code).to.equal(1);
    expect(JSON.parse(below.stdout)).to.include({ ok: false });

    // push: refused without the token (1), accepted with it; the pushed coverage is queryable
    writeFileSync(join(work, 'unit.json'), JSON.stringify(await app.raw()));
    const refused = await covgate(['push', ...gw, '--job', 'unit', join(work, 'unit.json')]);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/HTTP 401/);
    const pushed = await covgate(['push', ...auth, '--job', 'unit', '--label', 'service=shop', join(work, 'unit.json')]);
    expect(pushed.code, pushed.stderr).to.equal(0);
    const unit = (await g.api.get('/api/v1/coverage?job=unit&format=json-summary')).data;
    expect(unit.total.lines.covered).to.equal(api.total.lines.covered);

    // diff: lines 4 (in add, run) and 9 (negative arm, not run) of the sample app changed
    const patch = ['--- a/app.cjs', '+++ b/app.cjs', '@@ -4,0 +4,1 @@', '+changed', '@@ -9,0 +9,1 @@', '+changed', ''].join('\n');
    writeFileSync(join(work, 'change.diff'), patch);
    const diff = await covgate(['diff', ...gw, '--patch', join(work, 'change.diff'), '--format', 'json', 'job=shop']);
    expect(diff.code, diff.stderr).to.equal(0);
    expect(JSON.parse(diff.stdout).data.totals).to.include({ changed: 2, coverable: 2, covered: 1, missed: 1 });

    const cleared = await covgate(['clear', ...auth, 'job=shop', '--json']);
    expect(cleared.code, cleared.stderr).to.equal(0);

    const reg = await covgate(['register', ...auth, '--job', 'extra', '--url', `${app.url}/coverage`, '--ttl', '1h', '--json']);
    expect(reg.code, reg.stderr).to.equal(0);
    const id = JSON.parse(reg.stdout).id as string;
    expect((await covgate(['deregister', ...auth, id])).code).to.equal(0);
    expect((await covgate(['deregister', ...auth, 'no-such-target'])).code).to.equal(1);

    const html = await covgate(['report', ...gw, '--from-gateway', 'job=shop', '-o', join(work, 'gw-html')]);
    expect(html.code, html.stderr).to.equal(0);
    expect(readFileSync(join(work, 'gw-html', 'index.html'), 'utf8')).to.include('All files');
  });

  it('check compares every kind as nyc check-coverage does and says when a kind is unavailable', () => {
    const total = { lines: { pct: 80 }, statements: { pct: 79.5 }, functions: { pct: null, available: false }, branches: { pct: 70 } };
    expect(checkThresholds(total, { lines: 80, branches: 70 })).to.deep.equal([]);
    expect(checkThresholds(total, { statements: 80 })).to.deep.equal(['coverage for statements (79.5%) does not meet the threshold (80%)']);
    expect(checkThresholds(total, { functions: 1 })[0]).to.match(/not available/);
  });
});
