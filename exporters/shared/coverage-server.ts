import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { CoverageMapData } from 'istanbul-lib-coverage';
import { contentHash, hitsOf, mapStructureHash } from './coverage-payload.ts';

const gzip = promisify(gzipCb);

export const ENVELOPE_CONTENT_TYPE = 'application/vnd.covgate.v1+json';

/**
 * Where coverage comes from. `snapshot` returns the process's cumulative
 * Istanbul coverage map; the server may keep references to it only for the
 * duration of one request. `reset` zeroes the counters (structure stays).
 */
export interface CoverageCollector {
  snapshot(): Promise<CoverageMapData>;
  reset(): Promise<void>;
  /** Releases profilers, sessions, timers. Safe twice. */
  close?(): Promise<void>;
}

export interface ProcessIdentity {
  instance: string;
  startTime: string;
  build: Record<string, string>;
}

export interface CoverageServerOptions {
  collector: CoverageCollector;
  identity: ProcessIdentity;
  host: string;
  port: number;
  coveragePath?: string;
  /**
   * Whether the listening socket may keep the process alive. Exporters loaded
   * into a service pass false: the service exits when it would have without us.
   */
  keepAlive?: boolean;
  onError?: (err: unknown) => void;
}

export interface CoverageServer {
  /** Binds and resolves with the bound port. */
  start(): Promise<{ port: number; url: string }>;
  /** Safe before start and twice. */
  stop(): Promise<void>;
  readonly url: string | undefined;
}

/**
 * Serves the covgate exporter protocol (docs/contract.md section 1) for one
 * collector: GET <path> with the covgate envelope (structure-once, ETag/304,
 * gzip) and POST <path>/reset.
 */
export function createCoverageServer(opts: CoverageServerOptions): CoverageServer {
  const path = (opts.coveragePath ?? '/coverage').replace(/\/+$/, '') || '/coverage';
  let server: Server | undefined;
  let url: string | undefined;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname.replace(/\/+$/, '');
    if (pathname === path) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 405, 'use GET');
      return serveCoverage(req, res);
    }
    if (pathname === `${path}/reset`) {
      if (req.method !== 'POST') return sendError(res, 405, 'use POST');
      await opts.collector.reset();
      res.writeHead(204).end();
      return;
    }
    sendError(res, 404, `no such path; coverage is served at ${path}`, 'not_found');
  }

  async function serveCoverage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const map = await opts.collector.snapshot();
    const structure = mapStructureHash(map);
    const hits = hitsOf(map);
    const hitsJson = JSON.stringify(hits);
    const etag = `"${contentHash(opts.identity.instance, structure, hitsJson)}"`;
    const headers: Record<string, string> = {
      'Content-Type': ENVELOPE_CONTENT_TYPE,
      ETag: etag,
      'X-Coverage-Instance': opts.identity.instance,
      Vary: 'Accept-Encoding, X-Covgate-Known-Structure',
      'Cache-Control': 'no-cache',
    };
    if (matchesEtag(req.headers['if-none-match'], etag)) {
      res.writeHead(304, headers).end();
      return;
    }
    if (req.method === 'HEAD') {
      // Headers only (the ETag): no body to build.
      res.writeHead(200, headers).end();
      return;
    }
    const head = {
      format: 'istanbul',
      instance: opts.identity.instance,
      startTime: opts.identity.startTime,
      build: opts.identity.build,
      counters: 'cumulative',
      structure,
    };
    let body: string;
    if (req.headers['x-covgate-known-structure'] === structure) {
      // Splice the already-serialized hits in rather than serializing them twice.
      body = `${JSON.stringify(head).slice(0, -1)},"hits":${hitsJson}}`;
    } else {
      body = JSON.stringify({ ...head, data: map });
    }
    let payload: Buffer = Buffer.from(body);
    if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && payload.length > 1024) {
      payload = await gzip(payload, { level: 1 });
      headers['Content-Encoding'] = 'gzip';
    }
    headers['Content-Length'] = String(payload.length);
    res.writeHead(200, headers);
    res.end(payload);
  }

  return {
    get url() {
      return url;
    },
    async start() {
      if (server && url) return { port: Number(new URL(url).port), url };
      server = createServer((req, res) => {
        handle(req, res).catch((err: unknown) => {
          opts.onError?.(err);
          if (!res.headersSent) sendError(res, 500, err instanceof Error ? err.message : String(err), 'internal');
          else res.destroy();
        });
      });
      // The gateway scrapes on an interval; idle keep-alive sockets must not hold the process.
      server.keepAliveTimeout = 5000;
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(opts.port, opts.host, () => {
          server!.off('error', reject);
          resolve();
        });
      });
      if (opts.keepAlive === false) server.unref();
      const addr = server.address() as AddressInfo;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      url = `http://${host}:${addr.port}`;
      return { port: addr.port, url };
    },
    async stop() {
      const s = server;
      server = undefined;
      url = undefined;
      if (!s) return;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },
  };
}

function matchesEtag(header: string | string[] | undefined, etag: string): boolean {
  if (!header) return false;
  const value = Array.isArray(header) ? header.join(',') : header;
  return value.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === etag || tag === '*';
  });
}

function sendError(res: ServerResponse, status: number, message: string, errorType = 'bad_data'): void {
  const body = JSON.stringify({ status: 'error', errorType, error: message });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
