import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** A request as a fake center received it (body after Content-Encoding). */
export interface CenterRequest {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  /** After Content-Encoding. */
  body: Buffer;
  /** As sent. */
  rawBody: Buffer;
}

export type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

/**
 * The plumbing every fake center shares: a real HTTP server on 127.0.0.1
 * port 0, gzip bodies decoded (a bad gzip is a 400, as on the real
 * services), failure injection (`down` answers every request with a status;
 * `rateLimit(n)` answers the next n with 429 and Retry-After, the way the
 * hosted centers throttle), and a log of every request.
 */
export async function startCenterServer(handle: (req: CenterRequest) => Answer | Promise<Answer>) {
  const log: Array<CenterRequest & { status: number }> = [];
  let downStatus: number | undefined;
  let throttle = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const raw = Buffer.concat(chunks);
        const url = new URL(req.url ?? '/', 'http://fake');
        let answer: Answer;
        let body = raw;
        if (downStatus !== undefined) answer = { status: downStatus, body: { detail: 'Service Unavailable' } };
        else if (throttle > 0) {
          throttle--;
          answer = { status: 429, body: { detail: 'Request was throttled. Expected available in 1 second.' }, headers: { 'Retry-After': '1' } };
        } else {
          try {
            if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(raw);
            answer = await handle({ method: req.method ?? '', url, headers: req.headers, body, rawBody: raw });
          } catch (err) {
            answer = { status: 400, body: { detail: `bad request: ${(err as Error).message}` } };
          }
        }
        log.push({ method: req.method ?? '', url, headers: req.headers, body, rawBody: raw, status: answer.status });
        const text = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
        res.writeHead(answer.status, { 'content-type': typeof answer.body === 'string' ? 'text/plain' : 'application/json', ...answer.headers }).end(text);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    /** Answer every request with `status` (e.g. 503) until called with undefined. */
    down(status: number | undefined) {
      downStatus = status;
    },
    rateLimit(n: number) {
      throttle = n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls `cond` every 20 ms until it holds (a condition, not a sleep: fails after `ms`). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
