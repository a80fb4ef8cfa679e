import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import http from 'node:http';
import axios from 'axios';
import { fetchCoverage } from '../../gateway/scrape/fetch.ts';

/** The scrape's GET on node:http (gateway/scrape/fetch.ts) against a loopback server. */
describe('scrape/fetch (one coverage GET)', () => {
  let server: Server;
  let base: string;
  const body = Buffer.from(JSON.stringify({ format: 'istanbul', hits: { 'a.js': { s: [1, 2, 3], f: [], b: [] } } }));
  const seen: Array<Record<string, string | string[] | undefined>> = [];

  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      const send = (status: number, headers: Record<string, string>, data?: Buffer) => {
        res.writeHead(status, headers);
        res.end(data);
      };
      switch (req.url) {
        case '/plain':
          return send(200, { 'content-type': 'application/json', etag: '"v1"' }, body);
        case '/gzip':
          return send(200, { 'content-encoding': 'gzip' }, gzipSync(body));
        case '/deflate':
          return send(200, { 'content-encoding': 'deflate' }, deflateSync(body));
        case '/br':
          return send(200, { 'content-encoding': 'br' }, brotliCompressSync(body));
        case '/not-gzip':
          return send(200, { 'content-encoding': 'gzip' }, Buffer.from('this is not gzip at all'));
        case '/bomb':
          return send(200, { 'content-encoding': 'gzip' }, gzipSync(Buffer.alloc(4 << 20)));
        case '/304':
          return send(304, { etag: '"v1"' });
        case '/redirect':
          return send(302, { location: '/plain' });
        case '/slow':
          res.writeHead(200);
          res.write('{');
          return; // never ends
        default:
          return send(404, {}, Buffer.from('no'));
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const client = axios.create();
  const get = (path: string, over: Partial<{ timeoutMs: number; bodySizeLimit: number }> = {}) =>
    fetchCoverage(client, `${base}${path}`, { timeoutMs: 2000, bodySizeLimit: 1 << 20, headers: { Accept: 'application/json', 'Accept-Encoding': 'gzip', 'User-Agent': 'covgate/test' }, ...over });

  it('returns status, lower-case headers and the body, sending the headers it is given', async () => {
    const res = await get('/plain');
    expect(res.status).to.equal(200);
    expect(res.headers.etag).to.equal('"v1"');
    expect(res.body.equals(body)).to.equal(true);
    expect(seen.at(-1)!['user-agent']).to.equal('covgate/test');
    expect(seen.at(-1)!['accept-encoding']).to.equal('gzip');
  });

  for (const enc of ['gzip', 'deflate', 'br']) {
    it(`decompresses ${enc}`, async () => {
      expect((await get(`/${enc}`)).body.equals(body)).to.equal(true);
    });
  }

  it('answers 304 with an empty body and never follows a redirect', async () => {
    const nm = await get('/304');
    expect(nm.status).to.equal(304);
    expect(nm.body.length).to.equal(0);
    const r = await get('/redirect');
    expect(r.status).to.equal(302);
    expect(r.headers.location).to.equal('/plain');
  });

  it('counts body_size_limit after decompression (a gzip bomb is cut off) and names the limit', async () => {
    const err = await get('/bomb', { bodySizeLimit: 1 << 20 }).then(() => undefined, (e: { code: string; message: string }) => e);
    expect(err?.code).to.equal('COVGATE_BODY_TOO_LARGE');
    expect(err?.message).to.match(/body_size_limit of 1MiB/);
    expect((await get('/bomb', { bodySizeLimit: 0 })).body.length).to.equal(4 << 20);
  });

  it('reports bad gzip, a timeout and a refused connection as scrape errors, never throwing anything else', async () => {
    const bad = await get('/not-gzip').catch((e: { code: string; message: string }) => e);
    expect(bad).to.have.property('code', 'COVGATE_BAD_COVERAGE');
    expect((bad as { message: string }).message).to.match(/not valid gzip/);
    const slow = await get('/slow', { timeoutMs: 200 }).catch((e: { code: string; message: string }) => e);
    expect(slow).to.have.property('code', 'COVGATE_SCRAPE_TIMEOUT');
    expect((slow as { message: string }).message).to.match(/timed out after 0.2s/);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const refused = await fetchCoverage(client, `http://127.0.0.1:${port}/coverage`, { timeoutMs: 2000, bodySizeLimit: 0, headers: {} }).catch((e: { code: string; message: string }) => e);
    expect(refused).to.have.property('code', 'COVGATE_SCRAPE_FAILED');
    expect((refused as { message: string }).message).to.match(/ECONNREFUSED/);
  });

  it("connects through the axios instance's agent (the allowlist's guarded lookup for registered targets)", async () => {
    let looked = 0;
    const guarded = axios.create({
      httpAgent: new http.Agent({
        lookup: ((host: string, _o: unknown, cb: (err: Error | null) => void) => {
          looked++;
          cb(Object.assign(new Error(`connection to ${host} refused: not allowed`), { code: 'ECOVGATEREFUSED' }));
        }) as never,
      }),
    });
    const err = await fetchCoverage(guarded, `http://localhost:${(server.address() as AddressInfo).port}/plain`, { timeoutMs: 2000, bodySizeLimit: 0, headers: {} }).catch((e: { message: string }) => e);
    expect(looked).to.equal(1);
    expect((err as { message: string }).message).to.match(/refused: not allowed/);
  });
});
