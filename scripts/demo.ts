/**
 * `npm run demo`: a whole covgate setup on this machine, on loopback only.
 * Starts the gateway (bundled config plus self-registration), a Node service
 * under the Node exporter, a browser page in headless Chromium under the
 * browser exporter (when Chromium is installed), and a small upstream
 * coverage center; drives traffic in two sessions of different test types
 * (AT, MT), prints where to look, and stops cleanly on Ctrl-C.
 * `--once` stops after the sessions (CI smoke test).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import CDP from 'chrome-remote-interface';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ORDERS = join(ROOT, 'test', 'fixtures', 'apps', 'orders', 'server.js');
const PAGE = join(ROOT, 'test', 'fixtures', 'apps', 'browser-page');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const once = process.argv.includes('--once');
const RELEASE = 'demo-1';

const children: ChildProcess[] = [];
const servers: Server[] = [];
let browser: CDP.Client | undefined;
const dir = mkdtempSync(join(tmpdir(), 'covgate-demo-'));
const say = (s: string) => process.stdout.write(`${s}\n`);

/** Starts a child and resolves with the first match of `re` in its output. */
function start(name: string, cmd: string, args: string[], re: RegExp, env: NodeJS.ProcessEnv = {}, cwd = ROOT): Promise<RegExpMatchArray> {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let seen = '';
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      seen += c.toString();
      const m = seen.match(re);
      if (m) {
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
        child.stdout!.resume();
        child.stderr!.resume();
        resolve(m);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready:\n${seen.slice(-2000)}`)));
  });
}

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function api(base: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= (async () => {
    await browser?.send('Browser.close').catch(() => undefined);
    await browser?.close().catch(() => undefined);
    for (const c of children.reverse()) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  })();
  return stopping;
}

async function main(): Promise<void> {
  // 1. A small upstream coverage center: prints every push it receives.
  const received: Array<{ session?: string; files: number }> = [];
  const center = await listen(
    createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        let files = 0;
        try {
          files = Object.keys(JSON.parse(body.toString('utf8'))).length;
        } catch {
          /* not JSON: count nothing */
        }
        const session = String(req.headers['x-covgate-session'] ?? '') || undefined;
        received.push({ session, files });
        const signed = req.headers['x-covgate-signature'] ? 'signed' : 'unsigned';
        say(`  center: received a ${signed} push (${files} files${session ? `, session ${session}` : ''}, ${req.headers['x-covgate-summary'] ?? 'no summary'})`);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    }),
  );

  // 2. The gateway: self-registration from loopback, pushes to the center.
  const config = join(dir, 'gateway.yaml');
  writeFileSync(
    config,
    `global: { scrape_interval: 5s, scrape_timeout: 4s }
registration: { enabled: true, default_ttl: 60s, allowed_targets: [127.0.0.0/8] }
scrape_configs: []
push:
  on_test_finished: true
  upstreams:
    - { name: demo-center, kind: http, url: ${center}/coverage, format: istanbul, secret: demo-secret, timeout: 10s, max_attempts: 3 }
`,
  );
  const [, gateway] = await start('gateway', process.execPath, [join(ROOT, 'bin', 'covgate.js'), '--config', config, '--listen', '127.0.0.1:0', '--storage.path', join(dir, 'data')], /"url":"(http:\/\/[^"]+)".*covgate listening/, {
    COVGATE_LOG_LEVEL: 'info',
  });
  say(`gateway         ${gateway}`);

  // 3. A Node service under the Node exporter, registering itself.
  const [, appPort] = await start('orders service', process.execPath, ['--import', join(ROOT, 'exporters', 'node', 'register.mjs'), ORDERS], /listening (\d+)/, {
    APP_PORT: '0',
    COVGATE_GATEWAY: gateway,
    COVGATE_JOB: 'orders',
    COVGATE_SERVICE: 'orders',
    COVGATE_LABELS: `release=${RELEASE}`,
    COVGATE_TTL: '30s',
  }, dirname(ORDERS)); // the exporter's include/exclude are relative to the service's folder (test/** is excluded, as in c8)
  const app = `http://127.0.0.1:${appPort}`;
  say(`orders service  ${app} (Node exporter, self-registered)`);

  // 4. A browser page in headless Chromium under the browser exporter, when Chromium is here.
  let click: ((id: string) => Promise<void>) | undefined;
  if (existsSync(CHROMIUM)) {
    const site = join(dir, 'site');
    mkdirSync(join(site, 'dist'), { recursive: true });
    writeFileSync(join(site, 'index.html'), readFileSync(join(PAGE, 'index.html')));
    // the page's origin serves src/ too, as a dev server does: source maps name ../src/*.ts
    cpSync(join(PAGE, 'src'), join(site, 'src'), { recursive: true });
    await build({ entryPoints: [join(site, 'src', 'main.ts')], outfile: join(site, 'dist', 'app.js'), bundle: true, format: 'iife', sourcemap: 'linked', logLevel: 'silent' });
    const siteUrl = await listen(
      createServer((req, res) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        const file = join(site, path === '/' ? 'index.html' : path);
        if (!file.startsWith(site) || !existsSync(file)) return void res.writeHead(404).end();
        const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json' };
        res.writeHead(200, { 'content-type': types[extname(file)] ?? 'text/plain' }).end(readFileSync(file));
      }),
    );
    const [, ws] = await start(
      'chromium',
      CHROMIUM,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', `--user-data-dir=${join(dir, 'profile')}`, '--remote-debugging-port=0', '--remote-debugging-address=127.0.0.1', 'about:blank'],
      /DevTools listening on (ws:\/\/\S+)/,
    );
    await start(
      'browser exporter',
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'exporters', 'browser', 'main.ts'), '--cdp', `http://${new URL(ws!).host}`, '--gateway', gateway, '--job', 'web', '--service', 'shop-ui', '--label', `release=${RELEASE}`, '--ttl', '30s', '--source-root', PAGE],
      /registered|serving coverage/,
    );
    browser = await CDP({ target: ws!, local: true });
    const { targetId } = await browser.send('Target.createTarget', { url: `${siteUrl}/index.html` });
    const { sessionId } = await browser.send('Target.attachToTarget', { targetId, flatten: true });
    const evaluate = async (expression: string): Promise<unknown> => {
      const r = (await (browser as unknown as { send(m: string, p: object, s: string): Promise<any> }).send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, sessionId)) as { result: { value: unknown } };
      return r.result.value;
    };
    for (let i = 0; !(await evaluate(`!!document.getElementById('inc')`).catch(() => false)); i++) {
      if (i > 500) throw new Error('the demo page never loaded');
      await new Promise((r) => setTimeout(r, 20));
    }
    click = async (id) => void (await evaluate(`document.getElementById(${JSON.stringify(id)}).click()`));
    say(`browser page    ${siteUrl}/index.html (headless Chromium, browser exporter, self-registered)`);
  } else {
    say(`browser page    skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  }

  // Wait until the gateway has the registrations.
  for (let i = 0; ; i++) {
    const targets = (await api(gateway, 'GET', '/api/v1/targets')).data.activeTargets as unknown[];
    if (targets.length >= (click ? 2 : 1)) break;
    if (i > 200) throw new Error('exporters did not register');
    await new Promise((r) => setTimeout(r, 50));
  }

  // 5. Two sessions of different test types.
  const hit = (method: string, path: string, body?: unknown) => fetch(`${app}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.text());
  await api(gateway, 'POST', '/test-started', { session: 'demo-at', labels: { test_type: 'AT', release: RELEASE } });
  await hit('POST', '/orders', { item: 'book', qty: 2 });
  await hit('GET', '/orders/1');
  await click?.('inc');
  await click?.('inc');
  const at = await api(gateway, 'POST', '/test-finished', { session: 'demo-at', wait: true });
  say(`session demo-at (test_type=AT): lines ${at.summary.lines.pct.toFixed(1)}%, push ${at.push?.status ?? 'none'}`);

  await api(gateway, 'POST', '/test-started', { session: 'demo-mt', labels: { test_type: 'MT', release: RELEASE } });
  await hit('GET', '/orders/99');
  await hit('GET', '/health');
  await hit('POST', '/orders', {});
  await click?.('greet');
  const mt = await api(gateway, 'POST', '/test-finished', { session: 'demo-mt', wait: true });
  say(`session demo-mt (test_type=MT): lines ${mt.summary.lines.pct.toFixed(1)}%, push ${mt.push?.status ?? 'none'}`);

  say(`
Where to look:
  status page     ${gateway}/
  one service     ${gateway}/status/service?job=orders&service=orders
  a session       ${gateway}/status/session?id=demo-mt
  HTML report     ${gateway}/reports/?release=${RELEASE}
  metrics         ${gateway}/metrics
  CLI             node bin/covgate.js list --gateway ${gateway}
`);
  if (once) {
    if (received.length < 2) throw new Error(`the center received ${received.length} pushes, expected 2`);
    await stop();
    return;
  }
  say('Press Ctrl-C to stop.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  say('stopping…');
  await stop();
}

main().then(
  () => process.exit(0),
  async (err) => {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    await stop();
    process.exit(1);
  },
);
