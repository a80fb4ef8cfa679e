import { dirname } from 'node:path';
import { expect } from 'chai';
import { SAMPLE_APP } from '../helpers/exporter-process.ts';
import { coveredLines } from '../helpers/coverage.ts';
import { useProcesses } from '../helpers/processes.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import type { GatewayProcess } from '../helpers/gateway-process.ts';


// Lines of test/fixtures/sample-service/app.cjs, by what runs them.
const ALWAYS = [31]; // module.exports, run at load (function declarations are not statements)
const HANDLE = [21]; // switch in handle()
const ADD = [4, 23];
const CLASSIFY_ENTRY = [8, 25];
const NEGATIVE = [9];
const ZERO_CHECK = [10]; // `else if (n === 0)`
const ZERO = [11];
const POSITIVE = [13];

const job = (name: string, targets: string[], service = name) => `
  - job_name: ${name}
    scrape_interval: 1h
    static_configs:
      - targets: [${targets.join(', ')}]
        labels: { service: ${service} }`;

describe('test sessions and push ingest (real gateway and exporters)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();
  const coverage = async (g: GatewayProcess, query: string) => {
    const res = await g.api.get(`/api/v1/coverage?${query}`);
    expect(res.status, JSON.stringify(res.data)).to.equal(200);
    return res.data as CoverageMapData;
  };

  it('counts only what ran between /test-started and /test-finished', async () => {
    const a = await exporter();
    const g = await gateway(`scrape_configs:${job('orders', [a.address])}`);
    await a.hit('/add?a=1&b=2'); // before the session: must not count
    const started = await g.api.post('/test-started', { session: 's1', labels: { release: '2026.11', test_type: 'AT' } });
    expect(started.status).to.equal(201);
    expect(started.data.session).to.equal('s1');
    await a.hit('/classify?n=-3');
    const finished = await g.api.post('/test-finished', { session: 's1' });
    expect(finished.status).to.equal(202);
    expect(finished.data.session).to.equal('s1');
    expect(finished.data.summary.lines.covered).to.be.greaterThan(0);

    const lines = coveredLines(await coverage(g, 'session=s1'));
    expect(lines).to.deep.equal([...HANDLE, ...CLASSIFY_ENTRY, ...NEGATIVE].sort((x, y) => x - y));
    expect(lines).to.not.include.members(ADD);
    // The whole window still has everything.
    expect(coveredLines(await coverage(g, 'job=orders'))).to.include.members([...ALWAYS, ...ADD, ...NEGATIVE]);

    // Idempotent: finishing again returns the same session and summary.
    const again = await g.api.post('/test-finished', { session: 's1' });
    expect(again.data.summary).to.deep.equal(finished.data.summary);
    const list = (await g.api.get('/api/v1/sessions')).data.data.sessions;
    expect(list).to.have.length(1);
    expect(list[0]).to.include({ id: 's1', state: 'finished' });
    const one = (await g.api.get('/api/v1/sessions/s1')).data.data;
    expect(one.labels).to.deep.equal({ release: '2026.11', test_type: 'AT' });
    expect((await g.api.get('/api/v1/sessions/nope')).status).to.equal(404);
  });

  it('keeps a session right across a target restart and with delta exporters', async () => {
    const a = await exporter();
    const d = await exporter({ envelope: true, delta: true });
    const g = await gateway(`scrape_configs:${job('orders', [a.address])}${job('web', [d.address])}`);
    await a.hit('/classify?n=0');
    await d.hit('/classify?n=0');
    await g.api.post('/test-started', { session: 'r' });
    await a.hit('/classify?n=-1');
    await d.hit('/classify?n=-1');
    await g.api.post('/api/v1/scrape');
    const port = Number(a.address.split(':')[1]);
    await a.stop();
    const a2 = await exporter({ port });
    await a2.hit('/add?a=1&b=1');
    await g.api.post('/test-finished', { session: 'r' });
    // orders: 'negative' before the restart, add() plus load-time lines after it; 'zero' (before the session) never.
    const orders = coveredLines(await coverage(g, 'session=r&service=orders'));
    expect(orders).to.include.members([...NEGATIVE, ...ADD, ...ALWAYS]);
    expect(orders).to.not.include.members(ZERO);
    // web (delta exporter): only 'negative'; load-time lines ran before the session.
    expect(coveredLines(await coverage(g, 'session=r&service=web'))).to.deep.equal([...HANDLE, ...CLASSIFY_ENTRY, ...NEGATIVE].sort((x, y) => x - y));
  });

  it('keeps overlapping sessions on different selectors independent', async () => {
    const a = await exporter();
    const b = await exporter();
    const g = await gateway(`scrape_configs:${job('orders', [a.address])}${job('web', [b.address])}`);
    await g.api.post('/test-started', { session: 'x', selector: { service: 'orders' } });
    await a.hit('/classify?n=-1');
    await g.api.post('/test-started', { session: 'y', selector: { service: 'web' } });
    await b.hit('/classify?n=0');
    await a.hit('/classify?n=5');
    await g.api.post('/test-finished', { session: 'x' });
    await b.hit('/add?a=1&b=1');
    await g.api.post('/test-finished', { session: 'y' });
    expect(coveredLines(await coverage(g, 'session=x'))).to.include.members([...NEGATIVE, ...POSITIVE]);
    expect(coveredLines(await coverage(g, 'session=x'))).to.not.include.members(ZERO);
    expect(coveredLines(await coverage(g, 'session=y'))).to.include.members([...ZERO, ...ADD]);
    expect(coveredLines(await coverage(g, 'session=y'))).to.not.include.members(NEGATIVE);
  });

  it('merges by label combination: UT (pushed) + AT + MT vs AT + MT of a release', async () => {
    const a = await exporter();
    const g = await gateway(`scrape_configs:${job('orders', [a.address])}`);
    // Unit tests ran elsewhere and push their Istanbul result: add() only.
    const ut = await exporter();
    await ut.hit('/add?a=1&b=2');
    const utMap = await ut.raw();
    const pushed = await g.api.post('/api/v1/coverage?job=orders&release=2026.11&test_type=UT', utMap, { headers: { 'Content-Type': 'application/json' } });
    expect(pushed.status, JSON.stringify(pushed.data)).to.equal(202);

    await g.api.post('/test-started', { session: 'at', labels: { release: '2026.11', test_type: 'AT' } });
    await a.hit('/classify?n=-1');
    await g.api.post('/test-finished', { session: 'at' });
    await g.api.post('/test-started', { session: 'mt', labels: { release: '2026.11', test_type: 'MT' } });
    await a.hit('/classify?n=0');
    await g.api.post('/test-finished', { session: 'mt' });
    await g.api.post('/test-started', { session: 'old', labels: { release: '2026.10', test_type: 'AT' } });
    await a.hit('/classify?n=500');
    await g.api.post('/test-finished', { session: 'old' });

    const atmt = coveredLines(await coverage(g, 'release=2026.11&test_type=AT,MT'));
    expect(atmt).to.include.members([...NEGATIVE, ...ZERO]);
    expect(atmt).to.not.include.members([...ADD, ...POSITIVE]);
    const all = coveredLines(await coverage(g, 'release=2026.11&test_type=UT,AT,MT'));
    expect(all).to.include.members([...NEGATIVE, ...ZERO, ...ADD]);
    expect(all).to.not.include.members(POSITIVE);
    const utOnly = coveredLines(await coverage(g, 'release=2026.11&test_type=UT'));
    expect(utOnly).to.include.members(ADD);
    expect(utOnly).to.not.include.members(NEGATIVE);
    // Pushed coverage merges with scraped coverage under the same job.
    expect(coveredLines(await coverage(g, 'job=orders'))).to.include.members([...ADD, ...NEGATIVE, ...ZERO, ...POSITIVE]);
  });

  it('accepts pushes in other formats and rejects bad ones with a clear error', async () => {
    const g = await gateway('scrape_configs: []');
    const lcov = 'TN:\nSF:/srv/cli/main.js\nDA:1,1\nDA:2,0\nDA:3,4\nLF:3\nLH:2\nend_of_record\n';
    const r = await g.api.post('/api/v1/coverage?job=cli', lcov, { headers: { 'Content-Type': 'text/plain' } });
    expect(r.status, JSON.stringify(r.data)).to.equal(202);
    const summary = (await g.api.get('/api/v1/coverage?job=cli&format=json-summary')).data;
    expect(summary.total.lines).to.include({ total: 3, covered: 2 });
    const bad = await g.api.post('/api/v1/coverage?job=cli', '{"nope": ', { headers: { 'Content-Type': 'application/json' } });
    expect(bad.status).to.equal(400);
    expect(bad.data).to.include({ status: 'error', errorType: 'bad_data' });
    const nojob = await g.api.post('/api/v1/coverage', lcov);
    expect(nojob.status).to.equal(400);
    expect(nojob.data.error).to.match(/"job" is required/);
    // Nothing half-merged: the bad push left the job's coverage as it was.
    expect((await g.api.get('/api/v1/coverage?job=cli&format=json-summary')).data.total.lines).to.include({ total: 3, covered: 2 });
  });

  it('serves browsable HTML reports for label selections, and a status page', async () => {
    const a = await exporter();
    // reports read sources only under the job's `sources:` roots
    const g = await gateway(`scrape_configs:${job('orders', [a.address])}\n    sources: [${dirname(SAMPLE_APP)}]`);
    await g.api.post('/test-started', { session: 'h', labels: { test_type: 'AT' } });
    await a.hit('/classify?n=-1');
    await g.api.post('/test-finished', { session: 'h' });
    const redirect = await g.api.get('/reports/?test_type=AT', { maxRedirects: 0 });
    expect(redirect.status).to.equal(302);
    const location = redirect.headers.location as string;
    expect(location).to.match(/^\/reports\/[\w-]+\/index\.html$/);
    const index = await g.api.get(location);
    expect(index.status).to.equal(200);
    expect(index.headers['content-type']).to.match(/text\/html/);
    expect(index.data).to.match(/app\.cjs/);
    const page = await g.api.get(location.replace('index.html', 'app.cjs.html'));
    expect(page.status).to.equal(200);
    expect(page.data).to.match(/negative/); // the source is shown with its coverage
    // without a root for its job, the same report shows no source
    const g2 = await gateway(`scrape_configs:${job('orders', [a.address])}`);
    await g2.api.post('/test-started', { session: 'h', labels: { test_type: 'AT' } });
    await a.hit('/classify?n=-1');
    await g2.api.post('/test-finished', { session: 'h' });
    const loc2 = (await g2.api.get('/reports/?test_type=AT', { maxRedirects: 0 })).headers.location as string;
    const bare = await g2.api.get(loc2.replace('index.html', 'app.cjs.html'));
    expect(bare.data).to.match(/source not available/);
    expect(bare.data).to.not.match(/negative/);
    expect((await g.api.get(location.replace('index.html', '..%2F..%2Fetc%2Fpasswd'))).status).to.be.oneOf([400, 404]);
    const home = await g.api.get('/');
    expect(home.data).to.match(/<a href="\/">covgate<\/a>/);
    expect(home.data).to.match(/orders/);
  });

  it('keeps covgate_last_session_coverage_ratio across a gateway restart', async () => {
    const a = await exporter();
    const g = await gateway(`scrape_configs:${job('orders', [a.address])}`);
    await g.api.post('/test-started', { session: 'm1' });
    await a.hit('/add?a=1&b=2');
    await g.api.post('/test-finished', { session: 'm1' });
    const series = (text: string) => text.split('\n').filter((l) => l.startsWith('covgate_last_session_coverage_ratio{')).sort();
    const before = series((await g.api.get('/metrics')).data as string);
    expect(before.length).to.be.greaterThan(0);
    await g.kill();
    const again = await gateway(`scrape_configs:${job('orders', [a.address])}`, g.dataDir);
    expect(series((await again.api.get('/metrics')).data as string)).to.deep.equal(before);
  });

  it('counts in covgate_store_snapshots_written_total only scrapes and pushes that wrote a snapshot', async () => {
    const a = await exporter();
    const g = await gateway(`scrape_configs:${job('orders', [a.address])}`);
    const written = async () => Number(/^covgate_store_snapshots_written_total (\d+)/m.exec((await g.api.get('/metrics')).data as string)?.[1] ?? 'NaN');
    await a.hit('/add?a=1&b=2');
    await g.api.post('/api/v1/scrape', {});
    const first = await written();
    await g.api.post('/api/v1/scrape', {}); // nothing ran: nothing written
    expect(await written()).to.equal(first);
    await a.hit('/add?a=3&b=4');
    await g.api.post('/api/v1/scrape', {});
    expect(await written()).to.equal(first + 1);
  });
});
