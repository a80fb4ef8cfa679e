import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, cpSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import CDP from 'chrome-remote-interface';
import { build } from 'esbuild';
import { FIXTURES, ROOT, lineHits, markLine, scrape, waitForLine } from '../exporters/helpers.ts';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const PAGE = join(FIXTURES, 'browser-page');
const MAIN_TS = join(PAGE, 'src', 'main.ts');
const WIDGETS_TS = join(PAGE, 'src', 'widgets.ts');

async function launchChromium(profile: string): Promise<{ chromium: ChildProcess; wsUrl: string }> {
  mkdirSync(profile);
  const chromium = spawn(CHROMIUM, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage', `--user-data-dir=${profile}`, '--remote-debugging-port=0',
    '--remote-debugging-address=127.0.0.1', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  const [, wsUrl] = await waitForLine(chromium, 'stderr', /DevTools listening on (ws:\/\/\S+)/);
  return { chromium, wsUrl: wsUrl! };
}

/** Closes a browser through the protocol, so Chromium reaps its own helper processes (SIGKILL would leave zombies). */
async function closeChromium(chromium: ChildProcess, browser: CDP.Client | undefined): Promise<void> {
  if (chromium.exitCode === null && chromium.signalCode === null && browser) {
    const exited = once(chromium, 'exit');
    await browser.send('Browser.close').catch(() => undefined);
    await exited;
  }
  await browser?.close().catch(() => undefined);
}

/** Resolves once `child`'s stderr, so far or later, matches `re`. */
function stderrMatch(child: ChildProcess, seen: () => string, re: RegExp): Promise<RegExpMatchArray> {
  const now = seen().match(re);
  return now ? Promise.resolve(now) : waitForLine(child, 'stderr', re);
}

describe('browser exporter sidecar against headless Chromium', function () {
  this.timeout(120_000);
  let dir: string;
  let site: Server;
  let siteUrl: string;
  let chromium: ChildProcess | undefined;
  let sidecar: ChildProcess | undefined;
  let sidecarErr = '';
  let browser: CDP.Client | undefined;
  let exporterUrl: string;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI) throw new Error(`chromium not found at ${CHROMIUM} (apt-get install chromium)`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'covgate-browser-'));
    // The page's origin serves src/ too: the map has no sourcesContent, so
    // the sidecar must fetch the originals over HTTP.
    cpSync(join(PAGE, 'src'), join(dir, 'site', 'src'), { recursive: true });
    cpSync(join(PAGE, 'index.html'), join(dir, 'site', 'index.html'));
    await build({
      entryPoints: [join(dir, 'site', 'src', 'main.ts')],
      outfile: join(dir, 'site', 'dist', 'app.js'),
      bundle: true,
      format: 'iife',
      sourcemap: 'linked',
      sourcesContent: false,
      logLevel: 'silent',
    });
    site = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const file = join(dir, 'site', path === '/' ? 'index.html' : path);
      if (!file.startsWith(join(dir, 'site')) || !existsSync(file)) return void res.writeHead(404).end();
      const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json' };
      res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'text/plain' }).end(readFileSync(file));
    }).listen(0, '127.0.0.1');
    await once(site, 'listening');
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;

    let wsUrl: string;
    ({ chromium, wsUrl } = await launchChromium(join(dir, 'profile')));
    const cdpHttp = `http://${new URL(wsUrl!).host}`;

    sidecar = spawn(process.execPath, [
      '--import', 'tsx', join(ROOT, 'exporters', 'browser', 'main.ts'),
      '--cdp', cdpHttp, '--port', '0', '--source-root', PAGE, '--interval', '1h',
    ], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    sidecar.stderr!.on('data', (c: Buffer) => (sidecarErr += c.toString()));
    const [, url] = await stderrMatch(sidecar, () => sidecarErr, /serving coverage on (http:\/\/\S+)\/coverage/);
    exporterUrl = url!;

    // A new tab opened after the sidecar attached: auto-attach pauses it until coverage runs.
    browser = await CDP({ target: wsUrl!, local: true });
    const attached = stderrMatch(sidecar, () => sidecarErr, /attached page/);
    const { targetId } = await browser.send('Target.createTarget', { url: 'about:blank' });
    await attached;
    const { sessionId } = await browser.send('Target.attachToTarget', { targetId, flatten: true });
    await (browser as unknown as { send(m: string, p: object, s: string): Promise<unknown> }).send('Page.navigate', { url: `${siteUrl}/index.html` }, sessionId);
    const evaluate = async (expression: string): Promise<unknown> => {
      const r = (await (browser as unknown as { send(m: string, p: object, s: string): Promise<any> }).send(
        'Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, sessionId)) as
        { result: { value: unknown }; exceptionDetails?: unknown };
      if (r.exceptionDetails) throw new Error(`page threw: ${JSON.stringify(r.exceptionDetails)}`);
      return r.result.value;
    };
    // The tab starts on about:blank: wait for the fixture's own document, not that one.
    for (let i = 0; !(await evaluate(`location.href !== 'about:blank' && !!document.getElementById('inc')`).catch(() => false)); i++) {
      if (i > 500) throw new Error('fixture page never loaded');
      await new Promise((r) => setTimeout(r, 20));
    }
    await evaluate(`new Promise((r) => document.readyState === 'complete' ? r() : addEventListener('load', () => r()))`);
    await evaluate(`document.getElementById('inc').click(); document.getElementById('inc').click(); document.getElementById('greet').click();`);
    expect(await evaluate(`document.getElementById('count').textContent + '|' + document.getElementById('greeting').textContent`))
      .to.equal('2|Hello, covgate');
  });

  after(async () => {
    if (chromium) await closeChromium(chromium, browser);
    for (const child of [sidecar, chromium]) {
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
    }
    if (site) await new Promise((r) => site.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('covers the clicked functions in the original source files, not the bundle', async () => {
    const env = await scrape(exporterUrl);
    expect(env).to.include({ format: 'istanbul', counters: 'cumulative' });
    expect(Object.keys(env.data!)).to.include.members([MAIN_TS, WIDGETS_TS]);
    expect(Object.keys(env.data!).filter((p) => p.endsWith('.js'))).to.deep.equal([]);
    const widgets = lineHits(env.data![WIDGETS_TS]!);
    const main = lineHits(env.data![MAIN_TS]!);
    expect(widgets[markLine(WIDGETS_TS, 'increment')]).to.equal(2);
    expect(widgets[markLine(WIDGETS_TS, 'greet')]).to.equal(1);
    expect(main[markLine(MAIN_TS, 'on-inc')]).to.equal(2);
    expect(main[markLine(MAIN_TS, 'on-greet')]).to.equal(1);
  });

  it('reports the never-called function and handler as not covered', async () => {
    const env = await scrape(exporterUrl);
    const widgets = env.data![WIDGETS_TS]!;
    expect(lineHits(widgets)[markLine(WIDGETS_TS, 'browser-never')]).to.equal(0);
    expect(lineHits(widgets)[markLine(WIDGETS_TS, 'greet-nobody')]).to.equal(0);
    expect(lineHits(env.data![MAIN_TS]!)[markLine(MAIN_TS, 'on-never')]).to.equal(0);
    const never = Object.entries(widgets.fnMap).find(([, fn]) => fn.name === 'neverCalled');
    expect(never, 'neverCalled in fnMap').to.not.equal(undefined);
    expect(widgets.f[never![0]]).to.equal(0);
  });

  it('speaks the same protocol as the node exporter: counters only for a known structure', async () => {
    const full = await scrape(exporterUrl);
    const hits = await scrape(exporterUrl, { 'X-Covgate-Known-Structure': full.structure });
    expect(hits).to.not.have.property('data');
    expect(hits.hits![WIDGETS_TS]!.s).to.deep.equal(Object.values(full.data![WIDGETS_TS]!.s));
    expect(sidecarErr, 'a page opened on about:blank and then navigated is covered from its start').to.not.match(/started after the script began/);
  });

  it('says so when coverage starts after a page\'s scripts ran (a sidecar attached to an already loaded page)', async () => {
    // A browser of its own: V8's coverage mode is per isolate, so a page of the first browser
    // is under precise coverage since its start whoever attaches later.
    const { chromium: other, wsUrl } = await launchChromium(join(dir, 'profile-late'));
    let otherCdp: CDP.Client | undefined;
    let lateErr = '';
    let late: ChildProcess | undefined;
    try {
      otherCdp = await CDP({ target: wsUrl, local: true });
      const { targetId } = await otherCdp.send('Target.createTarget', { url: `${siteUrl}/index.html` });
      const { sessionId } = await otherCdp.send('Target.attachToTarget', { targetId, flatten: true });
      const send = (otherCdp as unknown as { send(m: string, p: object, s: string): Promise<any> }).send.bind(otherCdp);
      for (let i = 0; !(await send('Runtime.evaluate', { expression: `document.readyState === 'complete' && !!document.getElementById('inc')`, returnByValue: true }, sessionId)).result.value; i++) {
        if (i > 500) throw new Error('fixture page never loaded');
        await new Promise((r) => setTimeout(r, 20));
      }
      late = spawn(process.execPath, [
        '--import', 'tsx', join(ROOT, 'exporters', 'browser', 'main.ts'),
        '--cdp', `http://${new URL(wsUrl).host}`, '--port', '0', '--source-root', PAGE, '--interval', '1h',
      ], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      late.stderr!.on('data', (c: Buffer) => (lateErr += c.toString()));
      const [, url] = await stderrMatch(late, () => lateErr, /serving coverage on (http:\/\/\S+)\/coverage/);
      await stderrMatch(late, () => lateErr, /attached page http:\/\/127\.0\.0\.1:\d+\/index\.html/);
      // Something runs under coverage, so the take has the script.
      await send('Runtime.evaluate', { expression: `document.getElementById('inc').click()` }, sessionId);
      await scrape(url!);
      expect(lateErr).to.match(/coverage of http:\/\/127\.0\.0\.1:\d+\/dist\/app\.js started after the script began to run/);
    } finally {
      if (late) {
        const exited = once(late, 'exit');
        late.kill('SIGKILL');
        await exited;
      }
      await closeChromium(other, otherCdp);
    }
  });
});
