import { EventEmitter, once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

export type FakeGatewayMode = 'ok' | 'unavailable';

/**
 * A real HTTP server standing in for the gateway's registration endpoints
 * (POST /api/v1/targets, DELETE /api/v1/targets/:id). It records every
 * request and emits `request` with it; on DELETE it first scrapes the
 * target's /coverage once, as the real gateway does, and records the status
 * in `finalScrapes`. `mode = 'unavailable'` answers 503.
 */
export class FakeGateway extends EventEmitter {
  readonly requests: RecordedRequest[] = [];
  readonly finalScrapes: { id: string; status: number }[] = [];
  mode: FakeGatewayMode = 'ok';
  private server: Server | undefined;
  private readonly leases = new Map<string, string>(); // url -> id
  private readonly urls = new Map<string, string>(); // id -> url
  private nextId = 1;
  url = '';

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', async () => {
        const rec: RecordedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: raw ? safeJson(raw) : undefined,
        };
        this.requests.push(rec);
        try {
          const { status, body } = await this.answer(rec);
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(body));
        } finally {
          this.emit('request', rec);
        }
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  private async answer(rec: RecordedRequest): Promise<{ status: number; body: unknown }> {
    if (this.mode === 'unavailable') {
      return { status: 503, body: { status: 'error', errorType: 'unavailable', error: 'starting up' } };
    }
    if (rec.method === 'POST' && rec.path === '/api/v1/targets') {
      const url = rec.body?.url as string;
      let id = this.leases.get(url);
      if (!id) {
        id = `t${this.nextId++}`;
        this.leases.set(url, id);
        this.urls.set(id, url);
      }
      return { status: 201, body: { id, expiresAt: new Date(Date.now() + 60_000).toISOString() } };
    }
    const del = rec.method === 'DELETE' ? /^\/api\/v1\/targets\/([^/]+)$/.exec(rec.path) : null;
    if (del) {
      const id = decodeURIComponent(del[1]!);
      const url = this.urls.get(id);
      if (!url) return { status: 404, body: { status: 'error', errorType: 'not_found', error: id } };
      this.finalScrapes.push({ id, status: await getStatus(`${url}/coverage`) });
      this.urls.delete(id);
      this.leases.delete(url);
      return { status: 200, body: { status: 'success' } };
    }
    return { status: 404, body: { status: 'error', errorType: 'not_found', error: rec.path } };
  }

  /** Resolves with the next recorded request matching `pred` (already recorded ones count). */
  waitFor(pred: (r: RecordedRequest) => boolean, from = 0): Promise<RecordedRequest> {
    const seen = this.requests.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const on = (r: RecordedRequest): void => {
        if (pred(r)) {
          this.off('request', on);
          resolve(r);
        }
      };
      this.on('request', on);
    });
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}
