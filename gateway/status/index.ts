/**
 * Stage: the status page for people. `GET /` (services with a plot of line
 * coverage over time, a release × test-type matrix, recent sessions with the
 * lines each added, targets with health), `GET /status/service?job=&service=`
 * and `GET /status/session?id=`. Server-rendered HTML and SVG, no script (a
 * Content-Security-Policy forbids any), everything from outside escaped.
 */
import type { Router } from '@koa/router';
import libCoverage from 'istanbul-lib-coverage';
import { errors } from '../errors.ts';
import type { CoverageQuery } from '../merge/index.ts';
import { isAvailable, type CoverageMapData, type Summary, type Totals } from '../model/index.ts';
import type { TargetInfo } from '../scrape/index.ts';
import type { SessionView } from '../sessions/index.ts';
import type { History } from './history.ts';
import { plot, sparkline } from './svg.ts';

export { createHistory, type History, type HistoryPoint } from './history.ts';

export interface StatusPageDeps {
  version: string;
  query: CoverageQuery;
  history: History;
  /** Scrape targets (health, last scrape, last error). */
  targets: () => TargetInfo[];
  /** Every stored target's job and labels (scraped and pushed): where releases come from. */
  storedTargets: () => Array<{ job: string; labels: Record<string, string> }>;
  sessions: { list(): SessionView[]; get(id: string): SessionView };
}

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** A query string from pairs, escaped for an HTML attribute. */
const qs = (params: Record<string, string>) => esc(new URLSearchParams(params).toString());
const pctText = (t: Totals | undefined) => (!t ? '' : !isAvailable(t) ? '<span class="na" title="this format has no such kind">n/a</span>' : `${t.pct.toFixed(1)}%`);
const labelText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `<span class="label">${esc(k)}=${esc(v)}</span>`)
    .join(' ');
const RELEASE = 'release';
const TEST_TYPE = 'test_type';

const STYLE = `body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:10px 24px;display:flex;gap:16px;align-items:baseline}header a{color:#fff;text-decoration:none;font-weight:600}header small{opacity:.7}
main{padding:16px 24px;max-width:1200px}section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 16px;margin-bottom:16px}
h1{font-size:20px;margin:4px 0 12px}h2{font-size:16px;margin:0 0 8px}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eaeef2;padding:5px 8px;text-align:left;vertical-align:middle}
th{font-weight:600;color:#57606a;font-size:12px;text-transform:uppercase;letter-spacing:.03em}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.up{color:#1a7f37;font-weight:600}.down{color:#cf222e;font-weight:600}.unknown{color:#9a6700}.na{color:#8c959f}.err{color:#cf222e;font-size:12px;max-width:360px;overflow-wrap:anywhere}
.label{display:inline-block;background:#ddf4ff;border-radius:10px;padding:0 7px;margin:1px;font-size:12px}
.cell{display:block;border-radius:4px;padding:4px 6px;text-align:right;text-decoration:none;color:#1f2328}.empty{color:#8c959f;text-align:center}
.muted{color:#57606a}code{font-size:12px}`;

function heat(t: Totals): string {
  const p = t.total === 0 ? 100 : t.pct;
  const hue = Math.round((p / 100) * 120); // red → green
  return `background:hsl(${hue},70%,88%)`;
}

function page(title: string, body: string, version: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)} · covgate</title><style>${STYLE}</style></head>
<body><header><a href="/">covgate</a><small>${esc(version)}</small><a href="/metrics">metrics</a><a href="/api/v1/targets">targets API</a><a href="/api/v1/sessions">sessions API</a></header><main>${body}</main></body></html>`;
}

/** Covered line numbers per file of a map. */
function coveredLines(map: CoverageMapData): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const [path, data] of Object.entries(map)) {
    const lines = libCoverage.createFileCoverage(data as never).getLineCoverage();
    const hit = new Set<number>();
    for (const [line, n] of Object.entries(lines)) if (n > 0) hit.add(Number(line));
    out.set(path, hit);
  }
  return out;
}

/** Lines as ranges: 3, 5-9. */
function ranges(lines: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < lines.length; ) {
    let j = i;
    while (j + 1 < lines.length && lines[j + 1] === lines[j]! + 1) j++;
    out.push(i === j ? `${lines[i]}` : `${lines[i]}-${lines[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}

export function statusPageRoutes(deps: StatusPageDeps) {
  /** What each finished session added: lines it covered that no earlier finished session had. */
  let additions: { key: string; value: Map<string, Map<string, number[]>> } | undefined;
  function sessionAdditions(): Map<string, Map<string, number[]>> {
    const finished = deps.sessions
      .list()
      .filter((s) => s.state === 'finished')
      .sort((a, b) => Date.parse(a.finishedAt!) - Date.parse(b.finishedAt!));
    const key = `${deps.query.version()}\u0000${finished.map((s) => s.id).join(',')}`;
    if (additions?.key === key) return additions.value;
    const seen = new Map<string, Set<number>>();
    const value = new Map<string, Map<string, number[]>>();
    for (const s of finished) {
      const added = new Map<string, number[]>();
      for (const [file, lines] of coveredLines(deps.query.coverage({ session: [s.id] }).map)) {
        let before = seen.get(file);
        if (!before) seen.set(file, (before = new Set()));
        const fresh = [...lines].filter((l) => !before.has(l)).sort((a, b) => a - b);
        for (const l of fresh) before.add(l);
        if (fresh.length) added.set(file, fresh);
      }
      value.set(s.id, added);
    }
    additions = { key, value };
    return value;
  }
  const addedCount = (m: Map<string, number[]> | undefined) => [...(m?.values() ?? [])].reduce((n, l) => n + l.length, 0);

  function matrix(scope: Record<string, string>): string {
    const releases = new Set<string>();
    for (const t of deps.storedTargets()) {
      if (scope.job && t.job !== scope.job) continue;
      if (scope.service && (t.labels.service ?? t.job) !== scope.service) continue;
      if (t.labels[RELEASE] !== undefined) releases.add(t.labels[RELEASE]);
    }
    const types = new Set<string>();
    for (const s of deps.sessions.list()) if (s.labels[TEST_TYPE] !== undefined) types.add(s.labels[TEST_TYPE]);
    for (const t of deps.storedTargets()) if (t.labels[TEST_TYPE] !== undefined) types.add(t.labels[TEST_TYPE]);
    if (!releases.size) return `<p class="muted">No target has a <code>${RELEASE}</code> label yet: label targets with their release to see release × test type.</p>`;
    const cols = [...types].sort();
    const cell = (sel: Record<string, string>) => {
      const selector = Object.fromEntries(Object.entries(sel).map(([k, v]) => [k, [v]]));
      const { summary } = deps.query.coverage(selector);
      if (summary.lines.total === 0) return `<td class="empty">–</td>`;
      return `<td><a class="cell" style="${heat(summary.lines)}" href="/reports/?${qs(sel)}" title="${esc(summary.lines.covered)}/${esc(summary.lines.total)} lines">${pctText(summary.lines)}</a></td>`;
    };
    const rows = [...releases]
      .sort()
      .map((r) => `<tr><th>${esc(r)}</th>${cols.map((t) => cell({ ...scope, [RELEASE]: r, [TEST_TYPE]: t })).join('')}${cell({ ...scope, [RELEASE]: r })}</tr>`)
      .join('');
    return `<table class="matrix"><tr><th>${RELEASE} \\ ${TEST_TYPE}</th>${cols.map((t) => `<th class="num">${esc(t)}</th>`).join('')}<th class="num">all (window)</th></tr>${rows}</table>`;
  }

  function targetsTable(filter: (t: TargetInfo) => boolean): string {
    const rows = deps
      .targets()
      .filter(filter)
      .map(
        (t) =>
          `<tr><td>${esc(t.job)}</td><td><code>${esc(t.scrapeUrl)}</code></td><td>${labelText(t.labels)}</td><td class="${esc(t.health)}">${esc(t.health)}</td><td>${t.lastScrape.startsWith('0001') ? '<span class="muted">never</span>' : esc(t.lastScrape)}</td><td class="err">${esc(t.lastError)}</td></tr>`,
      )
      .join('');
    return rows ? `<table><tr><th>job</th><th>url</th><th>labels</th><th>health</th><th>last scrape</th><th>last error</th></tr>${rows}</table>` : '<p class="muted">No targets.</p>';
  }

  function sessionsTable(list: SessionView[], service?: string): string {
    const added = sessionAdditions();
    const rows = list
      .map((s) => {
        const sum: Summary | undefined = service ? s.services?.[service] : s.summary;
        return `<tr><td><a href="/status/session?${qs({ id: s.id })}">${esc(s.id)}</a></td><td>${esc(s.state)}</td><td>${labelText(s.labels)}</td><td class="num">${pctText(sum?.lines)}</td><td class="num">${s.state === 'finished' ? addedCount(added.get(s.id)) : ''}</td><td>${esc(s.push.status)}</td><td>${esc(s.finishedAt ?? s.startedAt)}</td></tr>`;
      })
      .join('');
    return rows
      ? `<table><tr><th>session</th><th>state</th><th>labels</th><th class="num">lines</th><th class="num">lines added</th><th>push</th><th>when</th></tr>${rows}</table>`
      : '<p class="muted">No sessions yet: POST /test-started and /test-finished around a test run.</p>';
  }

  return (router: Router) => {
    router.use(async (ctx, next) => {
      await next();
      if (ctx.path === '/' || ctx.path.startsWith('/status/')) {
        ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'");
      }
    });

    router.get('/', (ctx) => {
      const services = deps.query.services(false);
      const rows = services
        .map((s) => {
          const q = qs({ job: s.job, service: s.service });
          return `<tr><td><a href="/status/service?${q}">${esc(s.service)}</a></td><td>${esc(s.job)}</td><td>${sparkline(deps.history.series(s.job, s.service))}</td><td class="num">${pctText(s.summary.lines)}</td><td class="num">${pctText(s.summary.statements)}</td><td class="num">${pctText(s.summary.functions)}</td><td class="num">${pctText(s.summary.branches)}</td><td><a href="/reports/?${q}">report</a></td></tr>`;
        })
        .join('');
      const sessions = deps.sessions.list().slice(-20).reverse();
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = page(
        'status',
        `<h1>Coverage</h1>
<section id="services"><h2>Services</h2>${rows ? `<table><tr><th>service</th><th>job</th><th>lines over time</th><th class="num">lines</th><th class="num">statements</th><th class="num">functions</th><th class="num">branches</th><th></th></tr>${rows}</table>` : '<p class="muted">No coverage yet.</p>'}</section>
<section id="matrix"><h2>Release × test type</h2>${matrix({})}</section>
<section id="sessions"><h2>Recent sessions</h2>${sessionsTable(sessions)}</section>
<section id="targets"><h2>Targets</h2>${targetsTable(() => true)}</section>`,
        deps.version,
      );
    });

    // The points the plots draw, for scripts (extension).
    router.get('/api/v1/history', (ctx) => {
      const job = String(ctx.query.job ?? '');
      const service = String(ctx.query.service ?? '');
      ctx.body = { status: 'success', data: deps.history.series(job, service).map((p) => ({ time: new Date(p.t).toISOString(), covered: p.covered, total: p.total })) };
    });

    router.get('/status/service', (ctx) => {
      const job = String(ctx.query.job ?? '');
      const service = String(ctx.query.service ?? '');
      const found = deps.query.services(false).find((s) => s.job === job && s.service === service);
      if (!found) throw errors.notFound(`no service ${JSON.stringify(service)} in job ${JSON.stringify(job)}`);
      const history = deps.history.series(job, service);
      const sessions = deps.sessions
        .list()
        .filter((s) => s.services?.[service] !== undefined)
        .reverse();
      const q = qs({ job, service });
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = page(
        service,
        `<h1>${esc(service)} <small class="muted">job ${esc(job)}</small></h1>
<section id="plot"><h2>Line coverage over time</h2>${plot(history)}<p>Now: lines ${pctText(found.summary.lines)}, statements ${pctText(found.summary.statements)}, functions ${pctText(found.summary.functions)}, branches ${pctText(found.summary.branches)} · <a href="/reports/?${q}">HTML report</a></p></section>
<section id="matrix"><h2>Release × test type</h2>${matrix({ job, service })}</section>
<section id="sessions"><h2>Sessions</h2>${sessionsTable(sessions, service)}</section>
<section id="targets"><h2>Targets</h2>${targetsTable((t) => t.job === job && (t.labels.service ?? t.job) === service)}</section>`,
        deps.version,
      );
    });

    router.get('/status/session', (ctx) => {
      const id = String(ctx.query.id ?? '');
      const s = deps.sessions.get(id); // 404 when unknown
      const added = s.state === 'finished' ? sessionAdditions().get(s.id) : undefined;
      const kinds = (sum: Summary | undefined) =>
        sum ? `lines ${pctText(sum.lines)} (${sum.lines.covered}/${sum.lines.total}), statements ${pctText(sum.statements)}, functions ${pctText(sum.functions)}, branches ${pctText(sum.branches)}` : '<span class="muted">running</span>';
      const perService = Object.entries(s.services ?? {})
        .map(([svc, sum]) => `<tr><td>${esc(svc)}</td><td class="num">${pctText(sum.lines)}</td><td class="num">${pctText(sum.statements)}</td><td class="num">${pctText(sum.functions)}</td><td class="num">${pctText(sum.branches)}</td></tr>`)
        .join('');
      const addedRows = [...(added ?? new Map<string, number[]>())]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([file, lines]) => `<tr><td><code>${esc(file)}</code></td><td class="num">${lines.length}</td><td><code>${esc(ranges(lines))}</code></td></tr>`)
        .join('');
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = page(
        `session ${s.id}`,
        `<h1>Session ${esc(s.id)}</h1>
<section><p>${labelText(s.labels)}</p><p>State: ${esc(s.state)} · started ${esc(s.startedAt)}${s.finishedAt ? ` · finished ${esc(s.finishedAt)}` : ''} · push ${esc(s.push.status)} · <a href="/reports/?${qs({ session: s.id })}">HTML report</a></p><p>${kinds(s.summary)}</p></section>
<section id="services"><h2>Per service</h2>${perService ? `<table><tr><th>service</th><th class="num">lines</th><th class="num">statements</th><th class="num">functions</th><th class="num">branches</th></tr>${perService}</table>` : '<p class="muted">–</p>'}</section>
<section id="added"><h2>Lines this session covered first (${addedCount(added)})</h2>${addedRows ? `<table><tr><th>file</th><th class="num">lines</th><th>where</th></tr>${addedRows}</table>` : '<p class="muted">Nothing new.</p>'}</section>`,
        deps.version,
      );
    });
  };
}
