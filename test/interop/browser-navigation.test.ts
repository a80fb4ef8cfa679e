/**
 * Browser coverage across navigations, checked against a c8-style oracle.
 *
 * The same deterministic flow runs twice in a fresh headless Chromium:
 * - oracle: a plain CDP client runs `Profiler.startPreciseCoverage({callCount,
 *   detailed})` in each tab itself and takes coverage before every navigation
 *   and before closing the tab (exact by construction: nothing runs between the
 *   take and the document going away), merges the raw takes with
 *   @bcoe/v8-coverage `mergeProcessCovs` (what c8 does with NODE_V8_COVERAGE
 *   files) and converts them with the same converter as the exporter;
 * - covgate: the browser sidecar (`exporters/browser/main.ts`, interval 1 h so
 *   no periodic take helps) registered with a real gateway process; the flow
 *   navigates and closes immediately after working, never pausing.
 * Two runs because two CDP consumers of precise coverage would steal each
 * other's counts (every take resets V8's counters).
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import CDP from 'chrome-remote-interface';
import { build } from 'esbuild';
import { mergeProcessCovs, type ScriptCov } from '@bcoe/v8-coverage';
import libCoverage, { type CoverageMapData } from 'istanbul-lib-coverage';
import { createV8Accumulator } from '../../exporters/shared/v8-accumulator.ts';
import { fetchText, loadBrowserSourceMap, reportPath } from '../../exporters/browser/source-maps.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { FIXTURES, ROOT, markLine, waitForLine } from '../exporters/helpers.ts';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const APP = join(FIXTURES, 'browser-flow');
const SHOP_TS = join(APP, 'src', 'shop.ts');
const ACCOUNT_TS = join(APP, 'src', 'account.ts');
const SHARED_TS = join(APP, 'src', 'shared.ts');

type Send = (method: string, params?: object) => Promise<any>;

interface Browser {
  process: ChildProcess;
  client: CDP.Client;
  cdpHttp: string;
  close(): Promise<void>;
}

async function launchChromium(profile: string): Promise<Browser> {
  mkdirSync(profile, { recursive: true });
  const child = spawn(CHROMIUM, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage', `--user-data-dir=${profile}`, '--remote-debugging-port=0',
    '--remote-debugging-address=127.0.0.1', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  const [, wsUrl] = await waitForLine(child, 'stderr', /DevTools listening on (ws:\/\/\S+)/);
  const client = await CDP({ target: wsUrl!, local: true });
  return {
    process: child,
    client,
    cdpHttp: `http://${new URL(wsUrl!).host}`,
    async close() {
      // Browser.close lets Chromium reap its own helper processes (SIGKILL would leave zombies).
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        await client.send('Browser.close').catch(() => child.kill('SIGKILL'));
        await exited;
      }
      await client.close().catch(() => undefined);
    },
  };
}

/** What the flow needs from whoever watches coverage (the oracle, or nothing for covgate). */
interface Watcher {
  /** A tab was attached (before it loads anything). */
  attached(send: Send): Promise<void>;
  /** The document of this tab is about to go away (navigation or close). */
  beforeLeave(send: Send): Promise<void>;
}

/**
 * The flow: link to a same-origin page, cross-origin link to the second
 * origin, two SPA route changes, a reload, then a second tab that works and is
 * closed at once. `watcher.beforeLeave` is the oracle's pause; covgate's run
 * gets no pause at all.
 */
async function runFlow(browser: Browser, a: string, b: string, watcher: Watcher): Promise<void> {
  const c = browser.client;
  const openTab = async (): Promise<{ targetId: string; send: Send }> => {
    const { targetId } = await c.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await c.send('Target.attachToTarget', { targetId, flatten: true });
    const send: Send = (m, p = {}) => (c as unknown as { send(m: string, p: object, s: string): Promise<any> }).send(m, p, sessionId);
    await watcher.attached(send);
    return { targetId, send };
  };
  const evaluate = async (send: Send, expression: string): Promise<unknown> => {
    const r = await send('Runtime.evaluate', { expression, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`page threw: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  };
  /** Waits (bounded, event-free polling of page state) until `url` is loaded. */
  const loaded = async (send: Send, url: string): Promise<void> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const state = await send('Runtime.evaluate', { expression: 'location.href + " " + (window.__flowLeft ? "left" : document.readyState)', returnByValue: true })
        .then((r: any) => r.result?.value as string | undefined, () => undefined);
      if (state === `${url} complete`) return;
      if (Date.now() > deadline) throw new Error(`${url} not loaded (state: ${state})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const click = (send: Send, id: string, times = 1): Promise<unknown> =>
    evaluate(send, `for (let i = 0; i < ${times}; i++) document.getElementById(${JSON.stringify(id)}).click(); document.getElementById('out').textContent`);

  const tab = await openTab();
  await tab.send('Page.navigate', { url: `${a}/index.html` });
  await loaded(tab.send, `${a}/index.html`);
  expect(await click(tab.send, 'add', 3)).to.equal('items: 3');
  // Same-origin link, right after the work.
  await watcher.beforeLeave(tab.send);
  await click(tab.send, 'link');
  await loaded(tab.send, `${a}/cart.html`);
  expect(await click(tab.send, 'checkout', 2)).to.equal('empty');
  // Cross-origin (another site: another renderer process) link.
  await watcher.beforeLeave(tab.send);
  await evaluate(tab.send, `document.getElementById('link').href = ${JSON.stringify(`${b}/account.html`)}; document.getElementById('link').click()`);
  await loaded(tab.send, `${b}/account.html`);
  // SPA route changes (same document), then a reload straight after.
  await click(tab.send, 'profile');
  expect(await click(tab.send, 'orders', 2)).to.equal('orders: 4');
  await watcher.beforeLeave(tab.send);
  await evaluate(tab.send, 'window.__flowLeft = true; location.reload()'); // the reloaded document has the same URL
  await loaded(tab.send, `${b}/account/orders`);
  expect(await click(tab.send, 'profile')).to.equal('profile: 2');
  // A second tab that works and is closed at once.
  const second = await openTab();
  await second.send('Page.navigate', { url: `${a}/tab.html` });
  await loaded(second.send, `${a}/tab.html`);
  expect(await click(second.send, 'work', 2)).to.equal('tab: 18');
  await watcher.beforeLeave(second.send);
  const destroyed = new Promise<void>((resolve) => {
    const on = c as unknown as { on(e: string, fn: (p: { targetId: string }) => void): void };
    on.on('Target.targetDestroyed', (p) => p.targetId === second.targetId && resolve());
  });
  await c.send('Target.setDiscoverTargets', { discover: true });
  await c.send('Target.closeTarget', { targetId: second.targetId });
  await destroyed;
}

/**
 * Line by line (Istanbul line hits) and count by count (every statement,
 * function and branch counter) between two coverage maps.
 */
function compare(oracle: CoverageMapData, covgate: CoverageMapData) {
  const files = [...new Set([...Object.keys(oracle), ...Object.keys(covgate)])].sort();
  let lines = 0;
  let sameHit = 0;
  let sameCount = 0;
  let branchTotal = 0;
  let branchSame = 0;
  const diffs: string[] = [];
  for (const f of files) {
    const o = oracle[f] ? (libCoverage.createFileCoverage(oracle[f]!).getLineCoverage() as Record<string, number>) : {};
    const g = covgate[f] ? (libCoverage.createFileCoverage(covgate[f]!).getLineCoverage() as Record<string, number>) : {};
    for (const line of new Set([...Object.keys(o), ...Object.keys(g)])) {
      lines += 1;
      const ov = o[line];
      const gv = g[line];
      if ((ov ?? 0) > 0 === (gv ?? 0) > 0 && ov !== undefined && gv !== undefined) sameHit += 1;
      if (ov === gv) sameCount += 1;
      else diffs.push(`${f}:${line} oracle ${ov} covgate ${gv}`);
    }
    // Statements and functions keyed by source location (ids may differ), all equal.
    const counters = (m: CoverageMapData): string => {
      const d = m[f];
      if (!d) return 'null';
      const at = (loc: unknown): string => JSON.stringify(loc);
      return [
        ...Object.entries(d.statementMap).map(([id, loc]) => `s ${at(loc)} ${d.s[id]}`),
        ...Object.entries(d.fnMap).map(([id, fn]) => `f ${at(fn.loc)} ${d.f[id]}`),
      ].sort().join('\n');
    };
    if (counters(oracle) !== counters(covgate)) diffs.push(`${f}: statement/function counters differ:\noracle:\n${counters(oracle)}\ncovgate:\n${counters(covgate)}`);
    // Branches are V8 block ranges (v8-to-istanbul). @bcoe/v8-coverage's range
    // normalisation depends on merge order: c8 (and this oracle) merges all takes
    // at once, the exporter take by take, so a block that different documents
    // entered differently can start at another offset with the same count (seen:
    // shop.ts 27:22-39:1 vs 29:0-39:1, both 2). Counted here by location; the
    // branch counts as a whole must be the same, none lost or counted twice.
    const branches = (m: CoverageMapData): string[] => {
      const d = m[f];
      return d ? Object.entries(d.branchMap).map(([id, br]) => `${JSON.stringify(br.locations)} ${JSON.stringify(d.b[id])}`) : [];
    };
    const ob = branches(oracle);
    const gb = new Set(branches(covgate));
    branchTotal += ob.length;
    branchSame += ob.filter((x) => gb.has(x)).length;
    const countsOf = (m: CoverageMapData): string => JSON.stringify(Object.values(m[f]?.b ?? {}).flat().sort((x, y) => x - y));
    if (countsOf(oracle) !== countsOf(covgate)) diffs.push(`${f}: branch counts differ: oracle ${countsOf(oracle)} covgate ${countsOf(covgate)}`);
  }
  return { files, lines, sameHit, sameCount, branchTotal, branchSame, diffs };
}

describe('browser exporter keeps coverage across navigations (oracle: c8-style merge of raw V8 takes)', function () {
  this.timeout(120_000);
  let dir: string;
  const servers: Server[] = [];
  let a: string;
  let b: string;
  const browsers: Browser[] = [];
  let sidecar: ChildProcess | undefined;
  let gateway: GatewayProcess | undefined;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI) throw new Error(`chromium not found at ${CHROMIUM} (apt-get install chromium)`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'covgate-browser-nav-'));
    const site = join(dir, 'site');
    cpSync(APP, site, { recursive: true });
    await build({
      entryPoints: { shop: join(site, 'src', 'shop.ts'), account: join(site, 'src', 'account.ts') },
      outdir: join(site, 'dist'),
      bundle: true,
      format: 'iife',
      sourcemap: 'linked',
      sourcesContent: false, // the sidecar (and the oracle) fetch the originals from the origin
      logLevel: 'silent',
    });
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json' };
    for (let i = 0; i < 2; i++) {
      const server = createServer((req, res) => {
        let path = new URL(req.url ?? '/', 'http://x').pathname;
        if (path.startsWith('/account/')) path = '/account.html'; // the SPA's routes
        const file = join(site, path);
        if (!file.startsWith(site) || !existsSync(file)) return void res.writeHead(404).end();
        res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'text/plain', 'Cache-Control': 'no-store' }).end(readFileSync(file));
      }).listen(0, '127.0.0.1');
      await once(server, 'listening');
      servers.push(server);
    }
    a = `http://127.0.0.1:${(servers[0]!.address() as AddressInfo).port}`;
    // Another site (localhost, not 127.0.0.1): the navigation changes renderer process.
    b = `http://localhost:${(servers[1]!.address() as AddressInfo).port}`;
  });

  after(async () => {
    for (const br of browsers) await br.close().catch(() => undefined);
    if (sidecar && sidecar.exitCode === null && sidecar.signalCode === null) {
      const exited = once(sidecar, 'exit');
      sidecar.kill('SIGKILL');
      await exited;
    }
    await gateway?.kill().catch(() => undefined);
    for (const s of servers) await new Promise((r) => s.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gives the same lines and counts as the oracle for a flow that navigates (same- and cross-site links, SPA routes, reload) and closes a tab without pausing', async () => {
    // 1. Oracle run.
    const oracleBrowser = await launchChromium(join(dir, 'profile-oracle'));
    browsers.push(oracleBrowser);
    const takes: { result: ScriptCov[] }[] = [];
    const sources = new Map<string, string>();
    const sessions: Send[] = [];
    const take = async (send: Send): Promise<void> => {
      const { result } = (await send('Profiler.takePreciseCoverage')) as { result: ScriptCov[] };
      const kept = result.filter((s) => /^https?:/.test(s.url));
      for (const s of kept) {
        if (!sources.has(s.url)) sources.set(s.url, (await send('Debugger.getScriptSource', { scriptId: s.scriptId })).scriptSource);
      }
      takes.push({ result: kept });
    };
    await runFlow(oracleBrowser, a, b, {
      async attached(send) {
        sessions.push(send);
        await send('Profiler.enable');
        await send('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
        await send('Debugger.enable');
      },
      beforeLeave: take,
    });
    await take(sessions[0]!); // the first tab is still open
    await oracleBrowser.close();
    const merged = mergeProcessCovs(takes);
    const oracleAcc = createV8Accumulator();
    await oracleAcc.add(merged.result, async (script) => {
      const source = sources.get(script.url)!;
      const mapUrl = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(source)?.[1];
      const sourceMap = await loadBrowserSourceMap(script.url, mapUrl, fetchText, APP);
      return { path: reportPath(script.url, APP), source, ...(sourceMap ? { sourceMap } : {}) };
    });
    const oracle = oracleAcc.toIstanbul();

    // 2. covgate run: sidecar + real gateway, no pauses.
    const covgateBrowser = await launchChromium(join(dir, 'profile-covgate'));
    browsers.push(covgateBrowser);
    gateway = await startGatewayProcess({
      configYaml: 'registration:\n  enabled: true\n  allowed_targets: [127.0.0.0/8]\nscrape_configs: []\n',
    });
    sidecar = spawn(process.execPath, [
      '--import', 'tsx', join(ROOT, 'exporters', 'browser', 'main.ts'),
      '--cdp', covgateBrowser.cdpHttp, '--port', '0', '--source-root', APP, '--interval', '1h',
      '--gateway', gateway.url, '--job', 'web', '--ttl', '60s',
    ], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let sidecarErr = '';
    sidecar.stderr!.on('data', (chunk: Buffer) => (sidecarErr += chunk.toString()));
    await waitForLine(sidecar, 'stderr', /serving coverage on/);
    const deadline = Date.now() + 15_000;
    while ((await gateway.api.get('/api/v1/targets')).data.data.activeTargets.length === 0) {
      if (Date.now() > deadline) throw new Error(`sidecar never registered: ${sidecarErr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await runFlow(covgateBrowser, a, b, { attached: async () => undefined, beforeLeave: async () => undefined });
    const [result] = (await gateway.api.post('/api/v1/scrape', { job: 'web' })).data.data.results;
    expect(result, JSON.stringify(result)).to.include({ health: 'up', result: 'success' });
    const covgate = (await gateway.api.get('/api/v1/coverage?job=web')).data as CoverageMapData;

    // 3. Line by line, count by count.
    const cmp = compare(oracle, covgate);
    console.log(`    agreement: ${cmp.files.length} files, ${cmp.lines} lines, hit/miss ${cmp.sameHit}/${cmp.lines}, counts ${cmp.sameCount}/${cmp.lines}, ${cmp.diffs.length === 0 ? 'statements, functions and branch counts equal' : `${cmp.diffs.length} differences`}, branches at the same location ${cmp.branchSame}/${cmp.branchTotal}`);
    expect(cmp.files).to.deep.equal([ACCOUNT_TS, SHARED_TS, SHOP_TS].sort());
    expect(cmp.diffs, cmp.diffs.join('\n')).to.deep.equal([]);
    expect(cmp.sameHit).to.equal(cmp.lines);
    // Each navigation kind really contributed (the oracle is not trivially empty).
    const shop = libCoverage.createFileCoverage(oracle[SHOP_TS]!).getLineCoverage() as Record<string, number>;
    const account = libCoverage.createFileCoverage(oracle[ACCOUNT_TS]!).getLineCoverage() as Record<string, number>;
    expect(shop[markLine(SHOP_TS, 'add-item')], 'work before the same-origin link').to.equal(3);
    expect(shop[markLine(SHOP_TS, 'checkout-many')], 'work before the cross-origin link').to.equal(2);
    // render() ran 4 times before the reload (home, profile, orders ×2) and twice after (orders, profile).
    expect(account[markLine(ACCOUNT_TS, 'route-profile')], 'every render, before and after the reload').to.equal(6);
    expect(account[markLine(ACCOUNT_TS, 'route-orders')], 'renders that were not profile').to.equal(4);
    expect(shop[markLine(SHOP_TS, 'tab-work')], 'work in the second tab').to.equal(10);
  });
});
