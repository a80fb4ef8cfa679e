import { expect } from 'chai';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import Koa from 'koa';
import { readBody } from '../../gateway/api/body.ts';
import { isCovgateError } from '../../gateway/errors.ts';

/** A koa app that echoes the body readBody returns (or the CovgateError's status and message). */
function echoServer(limit: number): Server {
  const app = new Koa();
  app.use(async (ctx) => {
    try {
      const body = await readBody(ctx, limit);
      ctx.body = { bytes: body.length, text: body.toString('utf8').slice(0, 100) };
    } catch (err) {
      if (!isCovgateError(err)) throw err;
      ctx.status = err.status;
      ctx.body = { error: err.message };
    }
  });
  return createServer(app.callback());
}

function post(server: Server, body: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; data: { bytes?: number; text?: string; error?: string } }> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, data: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('api/readBody', () => {
  let server: Server;
  beforeEach(async () => {
    server = echoServer(1000);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterEach(() => server.close());

  const text = Buffer.from('{"hello":"world"}');
  for (const [encoding, encode] of [
    ['gzip', gzipSync],
    ['x-gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
    ['identity', (b: Buffer) => b],
  ] as const) {
    it(`decodes Content-Encoding: ${encoding}`, async () => {
      const r = await post(server, encode(text), { 'Content-Encoding': encoding });
      expect(r).to.deep.equal({ status: 200, data: { bytes: text.length, text: text.toString() } });
    });
  }

  it('refuses a body that inflates past the limit with 413 naming the decompressed limit', async () => {
    for (const [encoding, encode] of [['gzip', gzipSync], ['deflate', deflateSync], ['br', brotliCompressSync]] as const) {
      const r = await post(server, encode(Buffer.alloc(5000, 0x20)), { 'Content-Encoding': encoding });
      expect(r.status, encoding).to.equal(413);
      expect(r.data.error).to.equal(`request body exceeds 1000 bytes after ${encoding} decompression`);
    }
  });

  it('refuses a body over the limit on the wire with 413, before reading it when Content-Length says so', async () => {
    const r = await post(server, Buffer.alloc(2000, 0x20));
    expect(r.status).to.equal(413);
    expect(r.data.error).to.equal('request body of 2000 bytes exceeds 1000 bytes');
  });

  it('answers 400 for a corrupt compressed body and an unknown encoding', async () => {
    const bad = await post(server, Buffer.from('not gzip at all'), { 'Content-Encoding': 'gzip' });
    expect(bad.status).to.equal(400);
    expect(bad.data.error).to.match(/^request body is not valid gzip/);
    const unknown = await post(server, text, { 'Content-Encoding': 'zstd' });
    expect(unknown.status).to.equal(400);
    expect(unknown.data.error).to.match(/unsupported Content-Encoding "zstd"/);
  });
});
