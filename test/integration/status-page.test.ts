import { expect } from 'chai';
import { dirname } from 'node:path';
import { useProcesses } from '../helpers/processes.ts';
import { SAMPLE_APP } from '../helpers/exporter-process.ts';

// Lines of test/fixtures/sample-service/app.cjs, by what runs them (see sessions.test.ts).
const HANDLE = [21];
const ADD = [4, 23];
const CLASSIFY_ENTRY = [8, 25];
const NEGATIVE = [9];

const XSS = '<script>document.title="pwned"</script>';

describe('status page (real gateway and exporter)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();

  it('shows services with their history, the release × test-type matrix, sessions with the lines each added, and escapes labels', async () => {
    const a = await exporter();
    const g = await gateway(`scrape_configs:
  - job_name: shop
    scrape_interval: 1h
    static_configs:
      - targets: [${a.address}]
        labels: { service: shop, release: "2026.11", team: '${XSS}' }
`);
    await g.api.post('/test-started', { session: 's1', labels: { test_type: 'AT' } });
    await a.hit('/add?a=1&b=2');
    expect((await g.api.post('/test-finished', { session: 's1' })).status).to.equal(202);
    await g.api.post('/test-started', { session: 's2', labels: { test_type: 'MT', note: XSS } });
    await a.hit('/add?a=3&b=4');
    await a.hit('/classify?n=-5');
    expect((await g.api.post('/test-finished', { session: 's2' })).status).to.equal(202);

    const home = await g.api.get('/');
    expect(home.status).to.equal(200);
    expect(home.headers['content-security-policy']).to.match(/default-src 'none'/);
    const html = home.data as string;
    expect(html).to.not.include(XSS);
    expect(html).to.include('&#60;script&#62;document.title=&#34;pwned&#34;&#60;/script&#62;');

    // one history point per change of the line figure; the sparkline draws them all
    const history = (await g.api.get('/api/v1/history?job=shop&service=shop')).data.data as Array<{ covered: number; total: number }>;
    expect(history.length).to.be.greaterThanOrEqual(2);
    expect(history.at(-1)!.covered).to.be.greaterThan(history[0]!.covered);
    expect(html).to.match(new RegExp(`class="spark"[^>]*data-points="${history.length}"`));

    // matrix: one row per release, a column per test type, and the report link of each cell
    const matrix = /<section id="matrix">([\s\S]*?)<\/section>/.exec(html)![1]!;
    expect(matrix).to.include('<th>2026.11</th>');
    expect(matrix).to.match(/<th class="num">AT<\/th><th class="num">MT<\/th>/);
    expect(matrix).to.include('href="/reports/?release=2026.11&#38;test_type=AT"');
    const cellPct = async (query: string) => (await g.api.get(`/api/v1/coverage?${query}&format=json-summary`)).data.total.lines.pct as number;
    for (const t of ['AT', 'MT']) {
      const pct = await cellPct(`release=2026.11&test_type=${t}`);
      expect(matrix).to.include(`test_type=${t}" title`);
      expect(matrix).to.include(`>${pct.toFixed(1)}%</a>`);
    }

    // sessions: what each added first, on the session page
    const sessions = /<section id="sessions">([\s\S]*?)<\/section>/.exec(html)![1]!;
    const added = (id: string) => Number(new RegExp(`session\\?id=${id}">${id}</a>.*?<td class="num">[^<]*</td><td class="num">(\\d+)</td>`).exec(sessions)?.[1]);
    expect(added('s1')).to.equal([...HANDLE, ...ADD].length);
    expect(added('s2')).to.equal([...CLASSIFY_ENTRY, ...NEGATIVE].length);
    const s2 = (await g.api.get('/status/session?id=s2')).data as string;
    expect(s2).to.include(`<code>${[...CLASSIFY_ENTRY, ...NEGATIVE].sort((x, y) => x - y).map(String).join(', ').replace('8, 9', '8-9')}</code>`);
    expect(s2).to.not.include(XSS);
    expect((await g.api.get('/status/session?id=nope')).status).to.equal(404);

    // service page: a plot with one circle per history point
    const svc = (await g.api.get('/status/service?job=shop&service=shop')).data as string;
    expect((svc.match(/<circle class="point"/g) ?? []).length).to.equal(history.length);
    expect(svc).to.include('href="/reports/?job=shop&#38;service=shop"');
    expect((await g.api.get('/status/service?job=shop&service=nope')).status).to.equal(404);

    // reports link back to the status page and name their selection
    const loc = (await g.api.get('/reports/?release=2026.11&test_type=MT', { maxRedirects: 0 })).headers.location as string;
    const report = (await g.api.get(loc)).data as string;
    expect(report).to.include('<a href="/" style="color:#fff;font-weight:600">&larr; covgate status</a>');
    expect(report).to.include('selection: <code>release=2026.11&#38;test_type=MT</code>');
  });

  it('diff coverage as a report: the Istanbul report of the selection with the changed lines highlighted', async () => {
    const a = await exporter();
    const g = await gateway(`scrape_configs:
  - job_name: shop
    scrape_interval: 1h
    sources: [${JSON.stringify(dirname(SAMPLE_APP))}]
    static_configs:
      - targets: [${a.address}]
`);
    await a.hit('/add?a=1&b=2');
    await g.api.post('/api/v1/scrape', {});
    const patch = ['--- a/app.cjs', '+++ b/app.cjs', '@@ -4,0 +4,1 @@', '+changed', '@@ -9,0 +9,1 @@', '+changed', ''].join('\n');
    const res = await g.api.post('/api/v1/diff-coverage?job=shop&format=report', patch, { maxRedirects: 0, headers: { 'content-type': 'text/x-diff' } });
    expect(res.status, JSON.stringify(res.data)).to.equal(302);
    const location = res.headers.location as string;
    expect(location).to.match(/^\/reports\/[\w-]+\/index\.html$/);
    const page = (await g.api.get(location.replace('index.html', 'app.cjs.html'))).data as string;
    expect(page).to.include("td.line-count a[href='#L4'],td.line-count a[href='#L9']{background:#ffd33d");
    expect(page).to.include('1/2 changed lines covered');
    // the same selection without a diff has no highlight
    const plain = (await g.api.get('/reports/?job=shop', { maxRedirects: 0 })).headers.location as string;
    expect(((await g.api.get(plain.replace('index.html', 'app.cjs.html'))).data as string)).to.not.include("a[href='#L4']{");
  });
});
