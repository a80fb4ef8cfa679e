import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface ReceivedPush {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Body after gunzip. */
  body: string;
  /** Body bytes as sent (what a signature covers). */
  raw: Buffer;
  /** Status this server answered. */
  status: number;
}

/**
 * A real upstream coverage center on 127.0.0.1 (port 0) that records every
 * request. `answer` decides the status of the next requests (e.g. 503 to
 * keep pushes pending).
 */
export async function startUpstream(): Promise<{
  url: string;
  received: ReceivedPush[];
  answer: (status: number) => void;
  /** Resolves when a request answered 2xx has arrived. */
  nextDelivered(): Promise<ReceivedPush>;
  close(): Promise<void>;
}> {
  const received: ReceivedPush[] = [];
  let status = 200;
  const waiters: Array<(r: ReceivedPush) => void> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
      const r: ReceivedPush = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, raw, status };
      received.push(r);
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"ok":true}');
      if (status >= 200 && status < 300) for (const w of waiters.splice(0)) w(r);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    answer: (s) => {
      status = s;
    },
    nextDelivered: () => new Promise((resolve) => waiters.push(resolve)),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
