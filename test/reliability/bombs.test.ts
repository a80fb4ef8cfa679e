import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { useProcesses } from '../helpers/processes.ts';

const MiB = 1024 * 1024;
/**
 * Peak RSS the gateway may reach under one bomb at a time (generous: an idle
 * gateway is ~130 MB under tsx, a refused body holds up to the 64 MiB limit, and
 * the previous one may still await GC). Unbounded, one bomb took it to 3.2 GB.
 */
const RSS_BOUND_MB = 400;
/** Four bodies in flight at once may each hold up to the 64 MiB limit before they are refused. */
const RSS_BOUND_CONCURRENT_MB = 600;

/** kB → MB of a /proc/<pid>/status field (VmHWM = peak RSS, VmRSS = now). */
function procStatusMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

/**
 * ~1 MiB of gzip that inflates to 1 GiB: 64 concatenated gzip members of 16 MiB
 * of zeros each (multi-member gzip is valid and every gunzip reads all members).
 */
function gzipBomb(): Buffer {
  const member = gzipSync(Buffer.alloc(16 * MiB), { level: 9 });
  return Buffer.concat(Array.from({ length: 64 }, () => member));
}

describe('gzip/br bombs and huge bodies: the gateway stops at body_size_limit and its memory stays bounded', function () {
  this.timeout(120_000);
  const { gateway } = useProcesses();
  let bombServer: Server | undefined;
  afterEach(() => bombServer?.close());

  it('refuses a 1 MiB gzip bomb from a target and from pushers with the default limit, RSS bounded, /-/ready fast', async () => {
    const bomb = gzipBomb();
    const brBomb = brotliCompressSync(Buffer.alloc(256 * MiB), { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } });
    expect(bomb.length).to.be.within(0.5 * MiB, 1.5 * MiB);
    bombServer = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
      res.end(bomb);
    });
    await new Promise<void>((r) => bombServer!.listen(0, '127.0.0.1', r));
    const target = `127.0.0.1:${(bombServer.address() as AddressInfo).port}`;
    // No body_size_limit anywhere: the defaults must hold.
    const g = await gateway(`scrape_configs:
  - job_name: bomb
    scrape_interval: 1h
    static_configs:
      - targets: [${target}]`);
    const pid = g.process.proc.pid!;
    const idle = procStatusMb(pid, 'VmHWM');

    let readySlowest = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const t0 = performance.now();
        const r = await g.api.get('/-/ready');
        expect(r.status).to.equal(200);
        readySlowest = Math.max(readySlowest, performance.now() - t0);
        await new Promise((res) => setTimeout(res, 20));
      }
    })();

    const pushRaw = (body: Buffer | Readable, headers: Record<string, string>) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const u = new URL(`${g.url}/api/v1/coverage?job=pusher`);
        const req = request(u, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        });
        // The gateway may answer 413 and close before reading everything: that is the point.
        req.on('error', (err) => reject(err));
        if (Buffer.isBuffer(body)) req.end(body);
        else body.pipe(req);
      });
    /** 80 MiB of chunked (no Content-Length) JSON-ish bytes. */
    const hugeStream = () => Readable.from((function* () {
      for (let i = 0; i < 80; i++) yield Buffer.alloc(MiB, 0x20);
    })());

    const checkScrape = (res: { data: { data: { results: Array<{ result: string; error: string }> } } }) => {
      const r = res.data.data.results[0]!;
      expect(r.result, JSON.stringify(r)).to.equal('too_large');
      expect(r.error).to.match(/exceeds body_size_limit of 64MiB/);
    };
    // One at a time (as the issue measured it): each stops at 64 MiB.
    for (let round = 0; round < 3; round++) {
      checkScrape(await g.api.post('/api/v1/scrape', {}));
      const gz = await pushRaw(bomb, { 'Content-Encoding': 'gzip' });
      expect(gz.status, gz.body).to.equal(413);
      expect(gz.body).to.match(/exceeds 67108864 bytes after gzip decompression/);
      const br = await pushRaw(brBomb, { 'Content-Encoding': 'br' });
      expect(br.status, br.body).to.equal(413);
      const huge = await pushRaw(hugeStream(), {}).catch((err: Error) => ({ status: 0, body: err.message }));
      // A streamed body is cut at the limit: 413, or a reset if the socket closed before the client read the answer.
      expect([413, 0]).to.include(huge.status);
    }
    const peakSequential = procStatusMb(pid, 'VmHWM');
    // All at once: each holds at most the limit before it is refused.
    for (let round = 0; round < 2; round++) {
      const [scrapes, gz, br] = await Promise.all([
        g.api.post('/api/v1/scrape', {}),
        pushRaw(bomb, { 'Content-Encoding': 'gzip' }),
        pushRaw(brBomb, { 'Content-Encoding': 'br' }),
        pushRaw(hugeStream(), {}).catch((err: Error) => ({ status: 0, body: err.message })),
      ]);
      checkScrape(scrapes);
      expect(gz.status, gz.body).to.equal(413);
      expect(br.status, br.body).to.equal(413);
    }
    polling = false;
    await poll;
    const peak = procStatusMb(pid, 'VmHWM');
    console.log(
      `      peak RSS of the gateway (VmHWM): ${peakSequential.toFixed(0)} MB with one bomb at a time, ${peak.toFixed(0)} MB with four 64 MiB-limited bodies at once (idle ${idle.toFixed(0)} MB); bombs: ${(bomb.length / MiB).toFixed(2)} MiB gzip → 1 GiB from a target and from a pusher, ${brBomb.length} B br → 256 MiB, an 80 MiB chunked body; slowest /-/ready ${readySlowest.toFixed(0)} ms`,
    );
    expect(peakSequential).to.be.below(RSS_BOUND_MB);
    expect(peak).to.be.below(RSS_BOUND_CONCURRENT_MB);
    expect(readySlowest, '/-/ready stays fast (it stalled up to 9 s before)').to.be.below(2000);
    // Still serving and writable.
    expect((await g.api.post('/api/v1/coverage?job=ok', { '/a.js': { path: '/a.js', statementMap: {}, fnMap: {}, branchMap: {}, s: {}, f: {}, b: {} } })).status).to.equal(202);
  });
});
