import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import axios from 'axios';
import { Level } from 'level';
import type { UpstreamConfig } from '../../gateway/config/types.ts';
import { silentLogger } from '../../gateway/log/index.ts';
import { summarize, type CoverageMapData } from '../../gateway/model/index.ts';
import { createCoverageStore } from '../../gateway/store/index.ts';
import { createPushOutbox, type PushJob, type PushOutbox, type PushOutboxOptions, type PushRecord } from '../../gateway/push/index.ts';
import { FakeClock } from '../fakes/clock.ts';

export { FakeClock };
import type { KeyValue } from '../../gateway/store/types.ts';

export const UPSTREAM = 'http://127.0.0.1:9';

export function upstream(over: Partial<UpstreamConfig> = {}): UpstreamConfig {
  return {
    name: 'center',
    kind: 'http',
    url: `${UPSTREAM}/api/coverage`,
    format: 'istanbul',
    headers: {},
    timeout: 30_000,
    max_attempts: 0,
    min_backoff: 1_000,
    max_backoff: 300_000,
    gzip: false,
    git_service: 'github',
    report_code: 'default',
    flag_labels: ['test_type'],
    parallel: false,
    service_name: 'covgate',
    ...over,
  };
}

const loc = (l: number) => ({ start: { line: l, column: 0 }, end: { line: l, column: 20 } });

export const coverage: CoverageMapData = {
  '/srv/app/src/a.js': {
    path: '/srv/app/src/a.js',
    statementMap: { 0: loc(1), 1: loc(2), 2: loc(3) },
    fnMap: { 0: { name: 'main', decl: loc(1), loc: loc(1), line: 1 } },
    branchMap: {},
    s: { 0: 3, 1: 1, 2: 0 },
    f: { 0: 3 },
    b: {},
  },
} as unknown as CoverageMapData;

export function job(sessionId = 'run-1', over: Partial<PushJob> = {}): PushJob {
  return {
    sessionId,
    labels: { service: 'orders', test_type: 'AT' },
    build: { version: '1.4.2', commit: 'abc123' },
    summary: summarize(coverage),
    coverage,
    ...over,
  };
}

/** A real LevelDB in a temp dir, reopenable, with the outbox's sublevel. */
export class TestDb {
  readonly dir = mkdtempSync(join(tmpdir(), 'covgate-push-'));
  private store: ReturnType<typeof createCoverageStore> | undefined;
  async open(): Promise<KeyValue<PushRecord>> {
    this.store = createCoverageStore(new Level<string, unknown>(this.dir, { valueEncoding: 'json' }));
    await this.store.open();
    return this.store.sublevel<PushRecord>('outbox');
  }
  async close(): Promise<void> {
    await this.store?.close();
  }
}

export interface Harness {
  outbox: PushOutbox;
  kv: KeyValue<PushRecord>;
  clock: FakeClock;
  /** The same FakeClock: its timers are the outbox's wake-ups. */
  timers: FakeClock;
  results: Array<[string, string]>;
  upstreams: UpstreamConfig[];
}

/** An outbox over a real LevelDB with a fake clock and timers; jitter 0 unless `random` is given. */
export function makeOutbox(kv: KeyValue<PushRecord>, upstreams: UpstreamConfig[], over: Partial<PushOutboxOptions> & { clock?: FakeClock } = {}): Harness {
  const clock = over.clock ?? new FakeClock();
  const timers = clock;
  const results: Array<[string, string]> = [];
  const outbox = createPushOutbox({
    kv,
    http: axios.create(),
    clock,
    timers,
    upstreams: () => upstreams,
    observer: { pushFinished: (u, r) => results.push([u, r]) },
    logger: silentLogger,
    random: () => 0,
    ...over,
  });
  return { outbox, kv, clock, timers, results, upstreams };
}

export interface Captured {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The body as the upstream reads it: gunzipped when it was sent with Content-Encoding: gzip. */
  text: string;
}

/**
 * The body nock hands a reply function, as text. nock parses JSON bodies
 * itself (gunzipping them first); other binary bodies come as hex.
 */
export function capturedText(body: unknown, headers: Captured['headers']): string {
  if (typeof body !== 'string') return JSON.stringify(body);
  if (headers['content-encoding'] === 'gzip' && /^([0-9a-f]{2})*$/i.test(body)) return gunzipSync(Buffer.from(body, 'hex')).toString('utf8');
  return body;
}
