import { randomUUID } from 'node:crypto';
import type { AxiosInstance } from 'axios';
import type { ShardsConfig } from '../config/types.ts';
import { describeError, errors } from '../errors.ts';
import type { Sessions, FinishRequest, StartRequest } from '../sessions/sessions.ts';
import { FLUSH_PATH } from './protocol.ts';

export interface FanOutDeps {
  http: AxiosInstance;
  config: () => ShardsConfig | undefined;
}

/**
 * Central side of `shards:`: POSTs one request to every shard at once and
 * resolves when all answered 2xx; otherwise rejects with a 503 naming each
 * shard that failed (a session must not be measured with a shard missing).
 */
export function createShardFanOut(deps: FanOutDeps) {
  return async function fanOut(path: string, body: unknown): Promise<void> {
    const cfg = deps.config();
    if (!cfg || cfg.urls.length === 0) return;
    const results = await Promise.allSettled(
      cfg.urls.map(async (base) => {
        let res;
        try {
          res = await deps.http.post(`${base}${path}`, body, {
            headers: { ...cfg.headers, 'Content-Type': 'application/json' },
            timeout: cfg.timeout,
            maxRedirects: 0,
            validateStatus: () => true,
            proxy: false,
          });
        } catch (err) {
          throw new Error(`shard ${base}: ${describeError(err)}`);
        }
        if (res.status < 200 || res.status >= 300) {
          const msg = (res.data as { error?: string } | undefined)?.error ?? '';
          throw new Error(`shard ${base}: ${path} answered HTTP ${res.status}${msg ? ` (${msg})` : ''}`);
        }
      }),
    );
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [describeError(r.reason)] : []));
    if (failed.length > 0) throw errors.unavailable(`session fan-out failed, nothing measured: ${failed.join('; ')}`);
  };
}

export type FanOut = ReturnType<typeof createShardFanOut>;

/**
 * Sessions on the central covgate: `/test-started` and `/test-finished` first
 * reach every shard (same session id, labels and selector: each shard takes
 * its baseline or end with a scrape), then each shard delivers what it
 * forwards (flush), and only then the central takes its own baseline or end
 * from what the shards forwarded. A finished session answers from the record,
 * without a fan-out (idempotent per session).
 */
export function withShardFanOut(sessions: Sessions, fanOut: FanOut): Sessions {
  const known = (id: string) => sessions.list({ session: [id] })[0];
  return {
    ...sessions,
    async start(req: StartRequest) {
      const id = req.session ?? randomUUID();
      if (!known(id)) {
        await fanOut('/test-started', { ...req, session: id });
        await fanOut(FLUSH_PATH, {});
      }
      return sessions.start({ ...req, session: id });
    },
    async finish(req: FinishRequest) {
      let id = req.session;
      if (!id) {
        const running = sessions.list({ state: ['running'] } as never);
        if (running.length === 1 && req.labels === undefined && req.selector === undefined) id = running[0]!.id;
        else id = randomUUID();
      }
      if (known(id)?.state !== 'finished') {
        const { wait: _w, done: _d, ...rest } = req;
        await fanOut('/test-finished', { ...rest, session: id });
        await fanOut(FLUSH_PATH, {});
      }
      return sessions.finish({ ...req, session: id });
    },
  };
}
