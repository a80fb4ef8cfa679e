import { systemClock } from '../../clock/index.ts';
import type { Router } from '@koa/router';
import { errors } from '../../errors.ts';
import { matchesSelector, parseSelector, type Selector } from '../../model/index.ts';
import type { CoverageQuery } from '../../merge/index.ts';
import type { ScrapeManager, ScrapeTarget } from '../../scrape/index.ts';
import { readJsonObject } from '../body.ts';
import { parseBody, selectorBodySchema } from '../schemas.ts';

export interface TargetsDeps {
  scrape: ScrapeManager;
  query: CoverageQuery;
  /** Starts the cleared targets' new window in the store (CoverageStore.clearWindow). */
  clearWindow?: (targetIds: string[], now: number) => Promise<unknown>;
  now?: () => number;
}

const pct = (covered: number, total: number) => (total === 0 ? 100 : Math.round((covered / total) * 10000) / 100);

export function targetMatches(t: ScrapeTarget, selector: Selector): boolean {
  return matchesSelector({ ...t.labels, job: t.job, id: t.id }, selector);
}

/** GET /api/v1/targets (Prometheus shape plus coverage) and POST /api/v1/scrape. */
export function targetRoutes(deps: TargetsDeps) {
  return (router: Router) => {
    router.get('/api/v1/targets', (ctx) => {
      const state = String(ctx.query.state ?? 'any');
      if (!['active', 'dropped', 'any'].includes(state)) throw errors.badData(`state must be active, dropped or any, got ${JSON.stringify(state)}`);
      const activeTargets =
        state === 'dropped'
          ? []
          : deps.scrape.targets().map((t) => {
              const info = t.info();
              const lines = deps.query.targetSummary(t.id).lines;
              return {
                id: info.id,
                discoveredLabels: info.discoveredLabels,
                labels: info.labels,
                scrapePool: info.scrapePool,
                scrapeUrl: info.scrapeUrl,
                globalUrl: info.scrapeUrl,
                lastError: info.lastError,
                lastScrape: info.lastScrape,
                lastScrapeDuration: info.lastScrapeDuration,
                health: info.health,
                scrapeInterval: `${info.scrapeIntervalMs / 1000}s`,
                scrapeTimeout: `${info.scrapeTimeoutMs / 1000}s`,
                instance: info.processInstance ?? null,
                source: info.source,
                coverage: { lines: { covered: lines.covered, total: lines.total, pct: pct(lines.covered, lines.total) } },
              };
            });
      const droppedTargets = state === 'active' ? [] : deps.scrape.dropped().map((d) => ({ discoveredLabels: d.discoveredLabels, scrapePool: d.job }));
      ctx.body = { status: 'success', data: { activeTargets, droppedTargets } };
    });

    // POST /api/v1/clear: like `goc clear`. Scrapes the selected targets once
    // more (what ran before the clear stays in sessions and history), resets
    // their counters (<coverage_path>/reset, or goc's /v1/cover/clear), then
    // starts a new window: a target-label query shows only coverage since.
    // A target whose reset failed keeps its window and is reported.
    router.post('/api/v1/clear', async (ctx) => {
      const selector = { ...parseSelector(ctx.query as Record<string, unknown>), ...parseSelector(parseBody(selectorBodySchema, await readJsonObject(ctx), 'selector')) };
      const selected = deps.scrape.targets().filter((t) => targetMatches(t, selector));
      if (selected.length === 0) throw errors.notFound(`no target matches the selector ${JSON.stringify(selector)}`);
      const ids = new Set(selected.map((t) => t.id));
      await deps.scrape.scrape((t) => ids.has(t.id));
      const results = await Promise.all(
        selected.map(async (t) => {
          try {
            await t.reset();
            return { id: t.id, job: t.job, instance: t.instance, scrapeUrl: t.url, cleared: true, error: '' };
          } catch (err) {
            return { id: t.id, job: t.job, instance: t.instance, scrapeUrl: t.url, cleared: false, error: `reset failed: ${(err as Error).message}` };
          }
        }),
      );
      const cleared = results.filter((r) => r.cleared).map((r) => r.id);
      if (cleared.length > 0) await deps.clearWindow?.(cleared, (deps.now ?? systemClock.now)());
      ctx.status = cleared.length === 0 ? 502 : 200;
      ctx.body =
        cleared.length === 0
          ? { status: 'error', errorType: 'unavailable', error: results.map((r) => `${r.scrapeUrl}: ${r.error}`).join('; '), data: { results } }
          : { status: 'success', data: { results } };
    });

    router.post('/api/v1/scrape', async (ctx) => {
      const selector = { ...parseSelector(ctx.query as Record<string, unknown>), ...parseSelector(parseBody(selectorBodySchema, await readJsonObject(ctx), 'selector')) };
      const results = await deps.scrape.scrape((t) => targetMatches(t, selector));
      ctx.body = {
        status: 'success',
        data: {
          results: results.map((r) => ({
            id: r.targetId,
            job: r.job,
            instance: r.instance,
            scrapeUrl: r.scrapeUrl,
            health: r.health,
            result: r.result,
            error: r.error ?? '',
            durationSeconds: r.durationSeconds,
            bodyBytes: r.bodyBytes,
            restarted: r.restarted ?? false,
          })),
        },
      };
    });
  };
}
