/**
 * Server-rendered SVG plots of line coverage over time (no script, no build
 * step). Every point of a plot is a <circle class="point"> so what is drawn
 * can be counted; sparklines carry data-points.
 */
import type { HistoryPoint } from './history.ts';

const pctOf = (p: HistoryPoint) => (p.total > 0 ? (p.covered / p.total) * 100 : 0);
const fmt = (n: number) => n.toFixed(1);

function scale(points: HistoryPoint[], w: number, h: number, pad: { l: number; r: number; t: number; b: number }) {
  const t0 = points[0]?.t ?? 0;
  const t1 = points.at(-1)?.t ?? 1;
  const span = Math.max(1, t1 - t0);
  const x = (t: number) => pad.l + (points.length === 1 ? (w - pad.l - pad.r) / 2 : ((t - t0) / span) * (w - pad.l - pad.r));
  const y = (pct: number) => pad.t + (1 - pct / 100) * (h - pad.t - pad.b);
  return { x, y };
}

/** A small line of coverage over time for tables. */
export function sparkline(points: HistoryPoint[], w = 120, h = 24): string {
  if (!points.length) return `<svg class="spark" width="${w}" height="${h}" data-points="0" role="img" aria-label="no history yet"></svg>`;
  const { x, y } = scale(points, w, h, { l: 2, r: 2, t: 2, b: 2 });
  const path = points.map((p) => `${fmt(x(p.t))},${fmt(y(pctOf(p)))}`).join(' ');
  const last = points.at(-1)!;
  return `<svg class="spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" data-points="${points.length}" role="img" aria-label="line coverage over time, now ${fmt(pctOf(last))}%">
<polyline fill="none" stroke="#2a7ae2" stroke-width="1.5" points="${path}"/><circle cx="${fmt(x(last.t))}" cy="${fmt(y(pctOf(last)))}" r="2" fill="#2a7ae2"/></svg>`;
}

/** A plot with axes: y 0–100 %, x from the first to the last point; one circle per point. */
export function plot(points: HistoryPoint[], w = 640, h = 220): string {
  const pad = { l: 40, r: 12, t: 10, b: 28 };
  const { x, y } = scale(points, w, h, pad);
  const grid = [0, 25, 50, 75, 100]
    .map((g) => `<line x1="${pad.l}" x2="${w - pad.r}" y1="${fmt(y(g))}" y2="${fmt(y(g))}" stroke="#e5e5e5"/><text x="${pad.l - 6}" y="${fmt(y(g) + 4)}" text-anchor="end" font-size="10" fill="#666">${g}%</text>`)
    .join('');
  const when = (t: number) => new Date(t).toISOString().replace('T', ' ').slice(0, 16);
  const axis = points.length
    ? `<text x="${pad.l}" y="${h - 8}" font-size="10" fill="#666">${when(points[0]!.t)}</text><text x="${w - pad.r}" y="${h - 8}" font-size="10" fill="#666" text-anchor="end">${when(points.at(-1)!.t)} UTC</text>`
    : `<text x="${w / 2}" y="${h / 2}" text-anchor="middle" fill="#666">no history yet</text>`;
  const line = points.length > 1 ? `<polyline fill="none" stroke="#2a7ae2" stroke-width="2" points="${points.map((p) => `${fmt(x(p.t))},${fmt(y(pctOf(p)))}`).join(' ')}"/>` : '';
  const dots = points
    .map((p) => `<circle class="point" cx="${fmt(x(p.t))}" cy="${fmt(y(pctOf(p)))}" r="3" fill="#2a7ae2"><title>${when(p.t)}: ${p.covered}/${p.total} lines (${fmt(pctOf(p))}%)</title></circle>`)
    .join('');
  return `<svg class="plot" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" data-points="${points.length}" role="img" aria-label="line coverage over time">${grid}${axis}${line}${dots}</svg>`;
}
