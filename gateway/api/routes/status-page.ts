import type { Router } from '@koa/router';
import type { CoverageQuery } from '../../merge/index.ts';
import type { ScrapeManager } from '../../scrape/index.ts';

export interface StatusPageDeps {
  scrape: ScrapeManager;
  query: CoverageQuery;
  sessions: { list(): Array<{ id: string; state: string; labels: Record<string, string>; summary?: { lines: { pct: number } }; push: { status: string } }> };
  version: string;
}

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (n: number) => `${n.toFixed(1)}%`;

/** GET / : a plain HTML status page (targets and health, coverage per service, sessions). */
export function statusPageRoutes(deps: StatusPageDeps) {
  return (router: Router) => {
    router.get('/', (ctx) => {
      const services = deps.query.services(false);
      const targets = deps.scrape.targets().map((t) => t.info());
      const sessions = deps.sessions.list().slice(-50).reverse();
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = `<!doctype html><html><head><meta charset="utf-8"><title>covgate</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.up{color:#080}.down{color:#b00}</style></head><body>
<h1>covgate ${esc(deps.version)}</h1>
<h2>Coverage per service</h2><table><tr><th>job</th><th>service</th><th>lines</th><th>statements</th><th>functions</th><th>branches</th><th>report</th></tr>
${services
  .map(
    (s) =>
      `<tr><td>${esc(s.job)}</td><td>${esc(s.service)}</td><td>${pct(s.summary.lines.pct)}</td><td>${pct(s.summary.statements.pct)}</td><td>${pct(s.summary.functions.pct)}</td><td>${pct(s.summary.branches.pct)}</td><td><a href="/reports/?job=${encodeURIComponent(s.job)}&amp;service=${encodeURIComponent(s.service)}">html</a></td></tr>`,
  )
  .join('\n')}</table>
<h2>Targets</h2><table><tr><th>job</th><th>url</th><th>labels</th><th>health</th><th>last scrape</th><th>last error</th></tr>
${targets
  .map(
    (t) =>
      `<tr><td>${esc(t.job)}</td><td>${esc(t.scrapeUrl)}</td><td>${esc(Object.entries(t.labels).map(([k, v]) => `${k}=${v}`).join(', '))}</td><td class="${esc(t.health)}">${esc(t.health)}</td><td>${esc(t.lastScrape)}</td><td>${esc(t.lastError)}</td></tr>`,
  )
  .join('\n')}</table>
<h2>Sessions</h2><table><tr><th>session</th><th>state</th><th>labels</th><th>lines</th><th>push</th></tr>
${sessions
  .map(
    (s) =>
      `<tr><td><a href="/reports/?session=${encodeURIComponent(s.id)}">${esc(s.id)}</a></td><td>${esc(s.state)}</td><td>${esc(Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(', '))}</td><td>${s.summary ? pct(s.summary.lines.pct) : ''}</td><td>${esc(s.push.status)}</td></tr>`,
  )
  .join('\n')}</table>
<p><a href="/metrics">/metrics</a> · <a href="/api/v1/targets">/api/v1/targets</a> · <a href="/api/v1/sessions">/api/v1/sessions</a></p>
</body></html>`;
    });
  };
}
