import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGocSDDiscoverer, parseAddress, type GocSDDiscoverer } from '../../gateway/discovery/goc-sd.ts';
import { addresses, recorder } from './helpers.ts';

/** A goc server stand-in on 127.0.0.1:0 whose /v1/cover/list answer the test sets. */
async function fakeGocServer() {
  const state = { status: 200, body: '{}' as string, requests: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    if (req.method !== 'GET' || req.url !== '/v1/cover/list') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(state.status, { 'content-type': 'application/json' }).end(state.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    state,
    url: `http://127.0.0.1:${port}`,
    list(services: Record<string, string[]>) {
      state.status = 200;
      state.body = JSON.stringify(services);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('createGocSDDiscoverer', () => {
  let goc: Awaited<ReturnType<typeof fakeGocServer>>;
  const running: GocSDDiscoverer[] = [];

  beforeEach(async () => {
    goc = await fakeGocServer();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((d) => d.stop()));
    await goc.close();
  });

  function make(server = goc.url) {
    const d = createGocSDDiscoverer({ server, refreshIntervalMs: 0, timeoutMs: 5000 });
    running.push(d);
    return d;
  }

  it('turns every registered address into a target with scheme and service', async () => {
    goc.list({ orders: ['http://127.0.0.1:7001', 'http://127.0.0.1:7002'], billing: ['https://10.0.0.5:443', '10.0.0.6:7003'] });
    const rec = recorder();
    await make().start(rec.send);
    expect(rec.last()).to.deep.equal([
      {
        source: `goc/${goc.url}`,
        labels: { __meta_goc_server: goc.url },
        targets: [
          { __address__: '10.0.0.5:443', __scheme__: 'https', __meta_goc_service: 'billing' },
          { __address__: '10.0.0.6:7003', __scheme__: 'http', __meta_goc_service: 'billing' },
          { __address__: '127.0.0.1:7001', __scheme__: 'http', __meta_goc_service: 'orders' },
          { __address__: '127.0.0.1:7002', __scheme__: 'http', __meta_goc_service: 'orders' },
        ],
      },
    ]);
  });

  it('sends the new full set on refresh when registrations change, and nothing when they do not', async () => {
    goc.list({ orders: ['http://127.0.0.1:7001'] });
    const rec = recorder();
    const d = make(goc.url + '/');
    await d.start(rec.send);
    await d.refresh();
    expect(rec.sends).to.have.length(1);

    goc.list({ orders: ['http://127.0.0.1:7002'] });
    await d.refresh();
    expect(rec.sends).to.have.length(2);
    expect(addresses(rec.last())).to.deep.equal(['127.0.0.1:7002']);
  });

  it('keeps the last good set when the server fails or answers garbage', async () => {
    goc.list({ orders: ['http://127.0.0.1:7001'] });
    const rec = recorder();
    const d = make();
    await d.start(rec.send);

    goc.state.status = 500;
    await d.refresh();
    expect(d.lastErrors()[0]!.error).to.match(/HTTP 500/);

    goc.state.status = 200;
    goc.state.body = 'not json';
    await d.refresh();
    expect(d.lastErrors()[0]!.error).to.match(/invalid JSON/);

    goc.state.body = '["a list"]';
    await d.refresh();
    expect(d.lastErrors()[0]!.error).to.match(/expected an object/);

    expect(rec.sends).to.have.length(1);
    expect(addresses(rec.last())).to.deep.equal(['127.0.0.1:7001']);

    goc.list({});
    await d.refresh();
    expect(d.lastErrors()).to.deep.equal([]);
    expect(rec.last()).to.deep.equal([{ source: `goc/${goc.url}`, labels: { __meta_goc_server: goc.url }, targets: [] }]);
  });

  it('keeps the last good set when the server goes away', async () => {
    goc.list({ orders: ['http://127.0.0.1:7001'] });
    const rec = recorder();
    const d = make();
    await d.start(rec.send);
    await goc.close();
    await d.refresh();
    expect(d.lastErrors()).to.have.length(1);
    expect(rec.sends).to.have.length(1);
    goc = await fakeGocServer(); // for afterEach
  });

  it('sends nothing before the first good answer', async () => {
    goc.state.status = 503;
    const rec = recorder();
    const d = make();
    await d.start(rec.send);
    expect(rec.sends).to.deep.equal([]);
    expect(d.lastErrors()).to.have.length(1);
  });

  it('skips unparseable or duplicate addresses without failing the rest', async () => {
    goc.list({ orders: ['ftp://x:1', '', 'http://127.0.0.1:7001', 'http://127.0.0.1:7001/'] });
    const rec = recorder();
    await make().start(rec.send);
    expect(addresses(rec.last())).to.deep.equal(['127.0.0.1:7001']);
  });

  it('stop is safe before start and twice; nothing is sent after stop', async () => {
    goc.list({ orders: ['http://127.0.0.1:7001'] });
    const d = make();
    await d.stop();
    await d.stop();
    const rec = recorder();
    await d.start(rec.send);
    await d.refresh();
    expect(rec.sends).to.deep.equal([]);
    expect(goc.state.requests).to.equal(0);
  });
});

describe('parseAddress', () => {
  const cases: Array<[string, ReturnType<typeof parseAddress>]> = [
    ['http://127.0.0.1:7777', { scheme: 'http', address: '127.0.0.1:7777' }],
    ['https://svc.local', { scheme: 'https', address: 'svc.local:443' }],
    ['http://svc.local', { scheme: 'http', address: 'svc.local:80' }],
    ['10.1.2.3:8080', { scheme: 'http', address: '10.1.2.3:8080' }],
    ['http://[::1]:9000/path', { scheme: 'http', address: '[::1]:9000' }],
    ['ftp://x:1', undefined],
    ['', undefined],
  ];
  for (const [input, expected] of cases) {
    it(`parses ${JSON.stringify(input)}`, () => expect(parseAddress(input)).to.deep.equal(expected));
  }
});
