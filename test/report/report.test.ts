import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '@koa/router';
import axios from 'axios';
import { expect } from 'chai';
import Koa from 'koa';
import { createReports, findSource, removeStaleReportDirs, safeReportPath } from '../../gateway/report/index.ts';
import { createRenderer, type Renderer } from '../../gateway/report/renderer.ts';
import type { RenderJob } from '../../gateway/report/render.ts';
import type { CoverageQuery } from '../../gateway/merge/index.ts';

const loc = (l: number) => ({ start: { line: l, column: 0 }, end: { line: l, column: 10 } });
const file = (path: string, extra: Record<string, unknown> = {}) => ({
  path,
  statementMap: { 0: loc(1), 1: loc(2) },
  fnMap: {},
  branchMap: {},
  s: { 0: 1, 1: 0 },
  f: {},
  b: {},
  ...extra,
});

describe('report: sources and output paths are confined', () => {
  let work: string;
  let root: string;
  let server: Server;
  let stop: () => Promise<void>;
  let base: string;
  const outside = () => join(work, 'outside');

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'covgate-report-test-'));
    root = join(work, 'srv', 'orders');
    mkdirSync(join(root, 'src'), { recursive: true });
    mkdirSync(outside(), { recursive: true });
    writeFileSync(join(root, 'src', 'a.js'), 'const visible = "ROOT-SOURCE";\nmodule.exports = visible;\n');
    writeFileSync(join(work, 'secret.txt'), 'TOP-SECRET-TOKEN\n');
    symlinkSync(join(work, 'secret.txt'), join(root, 'src', 'link.js'));
    const map = {
      [join(root, 'src', 'a.js')]: file(join(root, 'src', 'a.js')),
      'src/a.js': file('src/a.js'),
      '/etc/passwd': file('/etc/passwd'),
      [join(work, 'secret.txt')]: file(join(work, 'secret.txt')),
      [join(root, 'src', 'link.js')]: file(join(root, 'src', 'link.js')),
      [`${root}/../../secret.txt`]: file(`${root}/../../secret.txt`),
      [`../../../../../../../..${outside()}/pwn.js`]: file(`../../../../../../../..${outside()}/pwn.js`),
      'gen/bundle.js': file('gen/bundle.js', { inputSourceMap: { version: 3, sources: ['bundle.ts'], sourcesContent: ['let carried = "CARRIED-SOURCE";\nexport {};\n'], mappings: '' } }),
      '<img src=x onerror=alert(1)>.js': file('<img src=x onerror=alert(1)>.js'),
    };
    const query = { version: () => 'v1', coverage: () => ({ map: map as never }) } as unknown as CoverageQuery;
    const reports = createReports({ query, sourceRoots: () => [root] });
    stop = () => reports.stop();
    const app = new Koa();
    const router = new Router();
    reports.routes()(router);
    app.use(router.routes());
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.close();
    await stop();
    rmSync(work, { recursive: true, force: true });
  });

  async function page(path: string): Promise<string> {
    const res = await axios.get(`${base}${path}`, { proxy: false, validateStatus: () => true });
    expect(res.status, path).to.equal(200);
    return String(res.data);
  }

  it('renders every page inside its own folder, whatever the coverage paths say', async () => {
    const loc0 = (await axios.get(`${base}/reports/?job=orders`, { proxy: false, maxRedirects: 0, validateStatus: () => true })).headers.location as string;
    const index = await page(loc0);
    expect(index).to.include('All files');
    expect(readdirSync(outside()), 'nothing written outside the report folder').to.deep.equal([]);
    expect(existsSync(join(outside(), 'pwn.js.html'))).to.equal(false);
    expect(index).to.not.include('<img src=x');
  });

  it('shows sources only from the job roots or carried in the data; never other files, symlink or .. escapes', async () => {
    const key = ((await axios.get(`${base}/reports/?job=orders`, { proxy: false, maxRedirects: 0, validateStatus: () => true })).headers.location as string).split('/')[2];
    const pageOf = (p: string) => page(`/reports/${key}/${safeReportPath(p)}.html`);
    expect(await pageOf(join(root, 'src', 'a.js'))).to.include('ROOT-SOURCE');
    expect(await pageOf('src/a.js')).to.include('ROOT-SOURCE'); // relative paths are looked up in the roots
    expect(await pageOf('gen/bundle.js')).to.include('CARRIED-SOURCE');
    for (const p of ['/etc/passwd', join(work, 'secret.txt'), join(root, 'src', 'link.js'), `${root}/../../secret.txt`]) {
      const html = await pageOf(p);
      expect(html, p).to.include('source not available');
      expect(html, p).to.not.include('TOP-SECRET-TOKEN');
      expect(html, p).to.not.include('root:x:0');
    }
  });

  it('findSource refuses everything without roots, and safeReportPath keeps paths relative', () => {
    expect(findSource('/etc/passwd', {}, [])).to.equal(undefined);
    expect(findSource(join(root, 'src', 'a.js'), {}, [])).to.equal(undefined);
    expect(findSource('/etc/passwd', {}, ['/etc/../srv/nothing'])).to.equal(undefined);
    expect(safeReportPath('../../tmp/x/pwn.js')).to.equal('__up__/__up__/tmp/x/pwn.js');
    expect(safeReportPath('/abs/./p.js')).to.equal('abs/__dot__/p.js');
    expect(safeReportPath('..\\..\\w.js')).to.equal('__up__/__up__/w.js');
  });

  it('removes report folders of gateways that are gone, and keeps live ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'covgate-stale-'));
    try {
      mkdirSync(join(dir, 'covgate-reports-999999999-abc'));
      mkdirSync(join(dir, `covgate-reports-${process.pid}-def`));
      mkdirSync(join(dir, 'unrelated'));
      removeStaleReportDirs(dir);
      expect(readdirSync(dir).sort()).to.deep.equal([`covgate-reports-${process.pid}-def`, 'unrelated']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('report: rendering runs off the request path, in a bounded cache', () => {
  /** A renderer that writes `bytes` per report and finishes only when released. */
  function fakeRenderer(bytes: number) {
    const jobs: Array<{ job: RenderJob; release: () => void }> = [];
    const renderer: Renderer = {
      render(job) {
        return new Promise<void>((resolve) => {
          jobs.push({
            job,
            release: () => {
              writeFileSync(join(job.dir, 'index.html'), 'x'.repeat(bytes));
              resolve();
            },
          });
        });
      },
      async stop() {},
    };
    return { renderer, jobs };
  }

  async function serve(reports: ReturnType<typeof createReports>) {
    const app = new Koa();
    const router = new Router();
    reports.routes()(router);
    router.get('/ping', (ctx) => {
      ctx.body = 'pong';
    });
    app.use(router.routes());
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const get = (path: string) => axios.get(`${base}${path}`, { proxy: false, validateStatus: () => true, maxRedirects: 0 });
    const keyOf = async (query: string) => String((await get(`/reports/?${query}`)).headers.location).split('/')[2]!;
    return { server, get, keyOf };
  }

  const waitFor = async (cond: () => boolean) => {
    while (!cond()) await new Promise((r) => setImmediate(r));
  };

  it('serves other requests while a report renders, and concurrent requests share one render', async () => {
    const { renderer, jobs } = fakeRenderer(10);
    const query = { version: () => 'v1', coverage: () => ({ map: { 'a.js': file('a.js') } as never }) } as unknown as CoverageQuery;
    const reports = createReports({ query, renderer });
    const { server, get, keyOf } = await serve(reports);
    try {
      const key = await keyOf('job=a');
      const first = get(`/reports/${key}/index.html`);
      const second = get(`/reports/${key}/index.html`);
      await waitFor(() => jobs.length === 1);
      expect((await get('/ping')).data).to.equal('pong');
      jobs[0]!.release();
      expect((await first).status).to.equal(200);
      expect((await second).status).to.equal(200);
      expect(jobs).to.have.length(1);
    } finally {
      server.close();
      await reports.stop();
    }
  });

  it('keeps rendered reports within the byte budget, least recently used first', async () => {
    const { renderer, jobs } = fakeRenderer(1000);
    const query = { version: () => 'v1', coverage: () => ({ map: { 'a.js': file('a.js') } as never }) } as unknown as CoverageQuery;
    const reports = createReports({ query, renderer, maxBytes: 2500 });
    const { server, get, keyOf } = await serve(reports);
    const open = async (key: string) => {
      const res = get(`/reports/${key}/index.html`);
      await waitFor(() => jobs.some((j) => j.job.dir.includes(key) && !existsSync(join(j.job.dir, 'index.html'))) || jobs.length > 10);
      for (const j of jobs) if (!existsSync(join(j.job.dir, 'index.html'))) j.release();
      return (await res).status;
    };
    try {
      const [a, b, c] = [await keyOf('job=a'), await keyOf('job=b'), await keyOf('job=c')];
      expect(await open(a)).to.equal(200);
      expect(await open(b)).to.equal(200);
      expect((await get(`/reports/${a}/index.html`)).status).to.equal(200); // a is now the most recent
      expect(await open(c)).to.equal(200); // 3000 bytes > 2500: b goes
      expect(jobs).to.have.length(3);
      const dirs = jobs.map((j) => existsSync(j.job.dir));
      expect(dirs).to.deep.equal([true, false, true]);
      expect((await get(`/reports/${a}/index.html`)).status).to.equal(200);
      expect(jobs).to.have.length(3); // a was kept: no new render
    } finally {
      server.close();
      await reports.stop();
    }
  });

  it('the worker renderer gives up on a render past its time limit and starts afresh for the next', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'covgate-renderer-test-'));
    const renderer = createRenderer({ timeoutMs: 1 });
    try {
      let failed: Error | undefined;
      await renderer.render({ dir, map: { 'a.js': file('a.js') }, originals: { 'a.js': 'a.js' }, roots: [] }).catch((e: Error) => (failed = e));
      expect(failed?.message).to.match(/took longer than/);
      const ok = createRenderer();
      try {
        await ok.render({ dir, map: { 'a.js': file('a.js') }, originals: { 'a.js': 'a.js' }, roots: [] });
        expect(existsSync(join(dir, 'index.html'))).to.equal(true);
      } finally {
        await ok.stop();
      }
    } finally {
      await renderer.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
