import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { createApiApp } from '../../gateway/api/app.ts';
import type { GatewayConfig } from '../../gateway/config/types.ts';
import { silentLogger } from '../../gateway/log/index.ts';
import { pushRoutes, type PushFilter, type PushRecord } from '../../gateway/push/index.ts';

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const records: PushRecord[] = [
  { id: 'a1', session: 's1', upstream: 'center', format: 'istanbul', seq: 1, status: 'delivered', attempts: 2, createdAt: T0, lastAttemptAt: T0 + 2000, deliveredAt: T0 + 2000, lastStatus: 202 },
  { id: 'b2', session: 's2', upstream: 'center', format: 'istanbul', seq: 2, status: 'pending', attempts: 1, createdAt: T0, lastAttemptAt: T0, nextAttemptAt: T0 + 1000, lastError: 'upstream answered HTTP 503 Service Unavailable', lastStatus: 503 },
];

describe('push/pushRoutes GET /api/v1/pushes', () => {
  let server: Server;
  let base: string;
  const filters: PushFilter[] = [];
  before(async () => {
    const outbox = {
      list(filter: PushFilter = {}) {
        filters.push(filter);
        return records.filter((r) => (filter.sessionId === undefined || r.session === filter.sessionId) && (filter.status === undefined || r.status === filter.status));
      },
    };
    const app = createApiApp(
      { logger: silentLogger, version: 'test', config: () => ({ server: { auth: {} } }) as unknown as GatewayConfig, isReady: () => true },
      [pushRoutes({ outbox })],
    );
    server = createServer(app.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('lists every push in the Prometheus-style envelope, times in RFC 3339', async () => {
    const res = await axios.get(`${base}/api/v1/pushes`, { proxy: false });
    expect(res.status).to.equal(200);
    expect(res.data).to.deep.equal({
      status: 'success',
      data: {
        pushes: [
          {
            id: 'a1',
            session: 's1',
            upstream: 'center',
            kind: 'http',
            format: 'istanbul',
            status: 'delivered',
            attempts: 2,
            lastError: '',
            lastStatus: 202,
            createdAt: '2026-01-15T12:00:00.000Z',
            lastAttemptAt: '2026-01-15T12:00:02.000Z',
            deliveredAt: '2026-01-15T12:00:02.000Z',
            nextAttemptAt: null,
            answer: null,
          },
          {
            id: 'b2',
            session: 's2',
            upstream: 'center',
            kind: 'http',
            format: 'istanbul',
            status: 'pending',
            attempts: 1,
            lastError: 'upstream answered HTTP 503 Service Unavailable',
            lastStatus: 503,
            createdAt: '2026-01-15T12:00:00.000Z',
            lastAttemptAt: '2026-01-15T12:00:00.000Z',
            deliveredAt: null,
            nextAttemptAt: '2026-01-15T12:00:01.000Z',
            answer: null,
          },
        ],
      },
    });
  });

  it('filters by session and status', async () => {
    filters.length = 0;
    const res = await axios.get(`${base}/api/v1/pushes?session=s2&status=pending`, { proxy: false });
    expect(filters).to.deep.equal([{ sessionId: 's2', status: 'pending' }]);
    expect(res.data.data.pushes.map((p: { id: string }) => p.id)).to.deep.equal(['b2']);
  });

  it('rejects an unknown status with bad_data', async () => {
    const res = await axios.get(`${base}/api/v1/pushes?status=lost`, { proxy: false, validateStatus: () => true });
    expect(res.status).to.equal(400);
    expect(res.data).to.include({ status: 'error', errorType: 'bad_data' });
    expect(res.data.error).to.match(/pending, delivered or failed/);
  });
});
