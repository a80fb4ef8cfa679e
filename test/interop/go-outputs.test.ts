/**
 * Go outputs Go users expect, checked with Go's own tools: a GOCOVERDIR
 * (committed fixture, see test/fixtures/formats/gocovdata/generate.sh) pushed
 * to the real gateway comes back as `format=gocover` that `go tool cover -func`
 * reads in the program's module exactly like `go tool covdata textfmt`'s
 * output (and per function like `go tool covdata func`); with the job's
 * `path_map` (`example.com/shop/` → `./`) LCOV, Cobertura and the HTML report
 * name repository paths, and the report finds the sources under `sources:`.
 * Debian package: golang-1.23-go (bookworm-backports).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { parseFuncReport, tarOfDir } from '../helpers/gocovdata.ts';
import { requireTools, run } from './formats-tools.ts';

const GO = '/usr/lib/go-1.23/bin/go';
const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'formats', 'gocovdata');

describe('interop: gocover output and path_map for Go coverage, against go tool cover / covdata', function () {
  this.timeout(120_000);
  let dir: string;
  let gw: GatewayProcess | undefined;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    requireTools(this, [GO], 'golang-1.23-go');
    dir = mkdtempSync(join(tmpdir(), 'covgate-goout-'));
    cpSync(join(FIXTURE, 'app'), join(dir, 'app'), { recursive: true });
    env = { GOPATH: join(dir, '.gopath'), GOCACHE: join(dir, '.gocache'), GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', GOPROXY: 'off', CGO_ENABLED: '0' };
    gw = await startGatewayProcess({
      configYaml: `scrape_configs:\n  - job_name: shop\n    sources: [${join(dir, 'app')}]\n    path_map: { "example.com/shop/": "./" }\n`,
    });
    const r = await gw.api.post('/api/v1/coverage?job=shop', tarOfDir(join(FIXTURE, 'go1.23-count')), { headers: { 'Content-Type': 'application/x-tar' } });
    expect(r.status, JSON.stringify(r.data)).to.equal(202);
  });
  after(async () => {
    await gw?.stop().catch(() => undefined);
    if (dir) {
      run('chmod', ['-R', 'u+w', dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const get = async (query: string) => String((await gw!.api.get(`/api/v1/coverage?${query}`, { responseType: 'text', transformResponse: (x) => x })).data);
  const coverFunc = (profile: string, name: string) => {
    writeFileSync(join(dir, name), profile);
    return run(GO, ['tool', 'cover', `-func=${join(dir, name)}`], { cwd: join(dir, 'app'), env });
  };

  it('format=gocover round-trips into go tool cover -func, equal to covdata textfmt and covdata func', async () => {
    const ours = await get('job=shop&format=gocover');
    expect(ours).to.match(/^mode: count\nexample\.com\/shop\/calc\/calc\.go:/);
    const oracle = readFileSync(join(FIXTURE, 'go1.23-count', 'textfmt.expected.txt'), 'utf8');
    const viaUs = coverFunc(ours, 'ours.txt');
    expect(viaUs).to.equal(coverFunc(oracle, 'oracle.txt'));
    // go tool cover names methods without their receiver; lines and percentages agree with covdata func.
    const covdata = parseFuncReport(readFileSync(join(FIXTURE, 'go1.23-count', 'func.expected.txt'), 'utf8'));
    const cover = parseFuncReport(viaUs);
    expect(cover.funcs.map((f) => [f.file, f.line, f.pct])).to.deep.equal(covdata.funcs.map((f) => [f.file, f.line, f.pct]));
    expect(cover.total).to.equal(covdata.total);
    // The HTML view Go users open reads it too.
    run(GO, ['tool', 'cover', `-html=${join(dir, 'ours.txt')}`, '-o', join(dir, 'ours.html')], { cwd: join(dir, 'app'), env });
    expect(readFileSync(join(dir, 'ours.html'), 'utf8')).to.include('func Fib(n int) int');
  });

  it('path_map names repository paths in LCOV, Cobertura and the HTML report, which finds the sources', async () => {
    const lcov = await get('job=shop&format=lcov');
    expect(lcov.match(/^SF:.*$/gm)).to.deep.equal(['SF:calc/calc.go', 'SF:cmd/main.go']);
    const cobertura = await get('job=shop&format=cobertura');
    expect(cobertura).to.include('filename="calc/calc.go"').and.include('filename="cmd/main.go"');
    expect(cobertura).to.not.include('example.com/shop');
    // Formats Go tools read keep import paths.
    expect(Object.keys(JSON.parse(await get('job=shop')))).to.deep.equal(['example.com/shop/calc/calc.go', 'example.com/shop/cmd/main.go']);
    const redirect = await gw!.api.get('/reports/?job=shop', { maxRedirects: 0 });
    expect(redirect.status).to.equal(302);
    const location = redirect.headers.location as string;
    const page = await gw!.api.get(location.replace('index.html', 'calc/calc.go.html'));
    expect(page.status).to.equal(200);
    expect(String(page.data)).to.include('Fib(n int) int').and.not.include('source not available');
  });
});
