/**
 * Batch and exit-time Go coverage: a whole GOCOVERDIR pushed as a tar (or as
 * the JSON transport) to the real gateway's push-ingest API lands in the
 * store like a scrape. Figures are held to what `go tool covdata` wrote for
 * the same committed files (test/fixtures/formats/gocovdata, see generate.sh
 * there), so this runs without a Go toolchain.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { goCoverDirJson, profileBlocks, readGoCoverDir, tarOf, tarOfDir } from '../helpers/gocovdata.ts';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'formats', 'gocovdata');

describe('push ingest: a GOCOVERDIR (tar, multipart or JSON) lands in the store', function () {
  this.timeout(60_000);
  let gw: GatewayProcess;
  before(async () => {
    gw = await startGatewayProcess({ configYaml: 'scrape_configs: []\n' });
  });
  after(async () => {
    await gw?.stop();
  });

  const gocover = async (query: string) => String((await gw.api.get(`/api/v1/coverage?${query}&format=gocover`, { responseType: 'text', transformResponse: (x) => x })).data);
  const oracle = (c: string) => readFileSync(join(DIR, c, 'textfmt.expected.txt'), 'utf8');

  it('a tar of the directory equals go tool covdata textfmt, and two pushes (two runs) add up', async () => {
    const tar = tarOfDir(join(DIR, 'go1.23-count'));
    const r = await gw.api.post('/api/v1/coverage?job=batch&test_type=IT', tar, { headers: { 'Content-Type': 'application/x-tar' } });
    expect(r.status, JSON.stringify(r.data)).to.equal(202);
    expect(r.data.data).to.include({ format: 'gocovdata', files: 2 });
    expect(profileBlocks(await gocover('job=batch'))).to.deep.equal(profileBlocks(oracle('go1.23-count')));
    // The same directory pushed again is another run: counts double, like go tool covdata merge of both.
    expect((await gw.api.post('/api/v1/coverage?job=batch&test_type=IT', tar, { headers: { 'Content-Type': 'application/x-tar' } })).status).to.equal(202);
    const doubled = profileBlocks(oracle('go1.23-count')).map((l) => l.replace(/ (\d+)$/, (_, n: string) => ` ${2 * Number(n)}`));
    expect(profileBlocks(await gocover('job=batch'))).to.deep.equal(doubled);
    const summary = (await gw.api.get('/api/v1/coverage?job=batch&format=json-summary')).data.total;
    expect(summary.semantics).to.equal('go-statements');
    expect(`${((100 * summary.statements.covered) / summary.statements.total).toFixed(1)}%`).to.equal(/total\s+\(statements\)\s+(\S+)/.exec(readFileSync(join(DIR, 'go1.23-count', 'func.expected.txt'), 'utf8'))![1]);
  });

  it('takes the JSON transport and a tar sent without a tar media type (sniffed)', async () => {
    const json = await gw.api.post('/api/v1/coverage?job=json', JSON.stringify(goCoverDirJson(join(DIR, 'go1.22-atomic'))), { headers: { 'Content-Type': 'application/vnd.covgate.gocovdata+json' } });
    expect(json.status, JSON.stringify(json.data)).to.equal(202);
    expect(profileBlocks(await gocover('job=json'))).to.deep.equal(profileBlocks(oracle('go1.22-atomic')));
    const sniffed = await gw.api.post('/api/v1/coverage?job=sniffed', tarOfDir(join(DIR, 'go1.21-set')), { headers: { 'Content-Type': 'application/octet-stream' } });
    expect(sniffed.status, JSON.stringify(sniffed.data)).to.equal(202);
    expect(profileBlocks(await gocover('job=sniffed'))).to.deep.equal(profileBlocks(oracle('go1.21-set')));
  });

  it('covgate push --gocoverdir uploads the directory in one push', async () => {
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'covgate.js');
    const run = spawnSync(process.execPath, [bin, 'push', '--gateway', gw.url, '--job', 'cli', '--label', 'service=calc', '--gocoverdir', join(DIR, 'go1.23-count'), '--json'], { encoding: 'utf8' });
    expect(run.status, run.stderr).to.equal(0);
    expect(JSON.parse(run.stdout).data.format).to.equal('gocovdata');
    expect(profileBlocks(await gocover('job=cli'))).to.deep.equal(profileBlocks(oracle('go1.23-count')));
    const empty = spawnSync(process.execPath, [bin, 'push', '--gateway', gw.url, '--job', 'cli', '--gocoverdir', import.meta.dirname], { encoding: 'utf8' });
    expect(empty.status).to.equal(1);
    expect(empty.stderr).to.match(/no covmeta\.\* file/);
  });

  it('takes a multipart/form-data upload of the files (curl -F f=@covmeta… -F f=@covcounters…)', async () => {
    const files = readGoCoverDir(join(DIR, 'go1.23-count'));
    const form = new FormData();
    for (const f of [...files.metas, ...files.counters]) form.append('f', new Blob([f.data]), f.name);
    const r = await gw.api.post('/api/v1/coverage?job=multipart', form);
    expect(r.status, JSON.stringify(r.data)).to.equal(202);
    expect(r.data.data.format).to.equal('gocovdata');
    expect(profileBlocks(await gocover('job=multipart'))).to.deep.equal(profileBlocks(oracle('go1.23-count')));
    // Cut before its closing boundary: refused whole.
    const boundary = 'covgate-test-boundary';
    const part = (f: { name: string; data: Buffer }) => Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="${f.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`), f.data, Buffer.from('\r\n')]);
    const body = Buffer.concat([...[...files.metas, ...files.counters].map(part), Buffer.from(`--${boundary}--\r\n`)]);
    const ok = await gw.api.post('/api/v1/coverage?job=multipart2', body, { headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` } });
    expect(ok.status, JSON.stringify(ok.data)).to.equal(202);
    const cut = await gw.api.post('/api/v1/coverage?job=refused', body.subarray(0, body.length - 60), { headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` } });
    expect(cut.status).to.equal(400);
    expect(cut.data.error).to.match(/multipart body: truncated/);
  });

  it('refuses a tar without meta-data, a cut-off tar and corrupt files with 400, storing nothing', async () => {
    const files = readGoCoverDir(join(DIR, 'go1.23-count'));
    const cases: Array<[string, Buffer, RegExp]> = [
      ['counters only', tarOf(files.counters), /no covmeta/],
      ['cut-off tar', tarOfDir(join(DIR, 'go1.23-count')).subarray(0, 1536), /truncated/],
      ['truncated meta', tarOf([{ name: files.metas[0]!.name, data: files.metas[0]!.data.subarray(0, 200) }, ...files.counters]), /truncated/],
    ];
    for (const [what, body, message] of cases) {
      const r = await gw.api.post('/api/v1/coverage?job=refused', body, { headers: { 'Content-Type': 'application/x-tar' } });
      expect(r.status, what).to.equal(400);
      expect(r.data.errorType, what).to.equal('bad_data');
      expect(r.data.error, what).to.match(message);
    }
    const stored = await gw.api.get('/api/v1/coverage?job=refused');
    expect(stored.status === 404 || Object.keys(stored.data).length === 0).to.equal(true);
  });
});
