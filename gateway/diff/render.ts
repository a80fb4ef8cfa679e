import type { DiffCoverageReport } from './diff-coverage.ts';

const pct = (ratio: number) => `${(Math.floor(ratio * 10000) / 100).toFixed(2)}%`;

/** Plain-text diff coverage: one row per file, the total, then the missed lines of each file as ranges. */
export function renderDiffText(r: DiffCoverageReport, title: string): string {
  const rows = [['file', 'changed', 'coverable', 'covered', 'missed', 'coverage']];
  for (const f of r.files) rows.push([f.path, String(f.changed), String(f.coverable), String(f.covered), String(f.missed), pct(f.ratio)]);
  const t = r.totals;
  rows.push(['TOTAL', String(t.changed), String(t.coverable), String(t.covered), String(t.missed), pct(t.ratio)]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const fmt = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const out = [`Diff coverage: ${title}`, fmt(rows[0]!), ...rows.slice(1, -1).map(fmt), fmt(rows[rows.length - 1]!)];
  for (const f of r.files) {
    const missed = f.lines.filter((l) => l.hits === 0).map((l) => l.line);
    if (missed.length > 0) out.push(`missed in ${f.path}: ${ranges(missed)}`);
  }
  // Lines covered only by counts carried from older builds, with when they were last seen run.
  for (const f of r.files) {
    const only = f.lines.filter((l) => l.carried && l.hits !== null && l.hits > 0 && l.carried.observed === 0);
    const byRun = new Map<string, number[]>();
    for (const l of only) {
      const k = `${l.carried!.from.slice(0, 12)}, last run ${l.carried!.lastSeen}`;
      byRun.set(k, [...(byRun.get(k) ?? []), l.line]);
    }
    for (const [k, lines] of byRun) out.push(`carried in ${f.path}: ${ranges(lines)} (from ${k})`);
  }
  if (t.carried !== undefined) out.push(`covered: ${t.observed} observed on the newest build, ${t.carried} only carried from older builds`);
  if (r.unmatched.length > 0) out.push(`not in the coverage (not counted): ${r.unmatched.join(', ')}`);
  return `${out.join('\n')}\n`;
}

function ranges(lines: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < lines.length; ) {
    let j = i;
    while (j + 1 < lines.length && lines[j + 1] === lines[j]! + 1) j++;
    out.push(i === j ? String(lines[i]) : `${lines[i]}-${lines[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/**
 * A server-rendered HTML page of the changed lines: per file, every added line
 * with its text and hit count, covered lines green, missed red, not coverable
 * grey. Everything from the diff and the coverage is escaped; no scripts.
 */
export function renderDiffHtml(r: DiffCoverageReport, title: string): string {
  const t = r.totals;
  const parts: string[] = [
    '<!doctype html><html><head><meta charset="utf-8">',
    `<title>Diff coverage: ${escapeHtml(title)}</title>`,
    '<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{padding:0 .5em;text-align:right}' +
      'td.carried{color:#555;font-size:smaller}td.src{text-align:left;font-family:monospace;white-space:pre}tr.hit{background:#dfd}tr.miss{background:#fdd}tr.none{color:#888}' +
      'th.path{text-align:left}</style></head><body>',
    `<h1>Diff coverage: ${escapeHtml(title)}</h1>`,
    `<p id="total">${t.covered} of ${t.coverable} coverable changed lines covered (${pct(t.ratio)}); ${t.missed} missed; ${t.changed} changed lines in ${r.files.length} files.</p>`,
    t.carried !== undefined ? `<p id="carried">${t.observed} covered lines observed on the newest build, ${t.carried} only carried from older builds.</p>` : '',
    '<table class="summary"><tr><th class="path">file</th><th>changed</th><th>coverable</th><th>covered</th><th>missed</th><th>coverage</th></tr>',
  ];
  for (const f of r.files) {
    parts.push(
      `<tr><th class="path"><a href="#f-${escapeHtml(encodeURIComponent(f.path))}">${escapeHtml(f.path)}</a></th><td>${f.changed}</td><td>${f.coverable}</td><td>${f.covered}</td><td>${f.missed}</td><td>${pct(f.ratio)}</td></tr>`,
    );
  }
  parts.push('</table>');
  for (const f of r.files) {
    const renamed = f.oldPath ? ` (renamed from ${escapeHtml(f.oldPath)})` : '';
    parts.push(`<h2 id="f-${escapeHtml(encodeURIComponent(f.path))}">${escapeHtml(f.path)}${renamed}</h2><table class="lines">`);
    for (const l of f.lines) {
      const cls = l.hits === null ? 'none' : l.hits > 0 ? 'hit' : 'miss';
      const carried = l.carried ? `<td class="carried" title="carried from ${escapeHtml(l.carried.from)}">${l.carried.hits}× carried, last run ${escapeHtml(l.carried.lastSeen)}</td>` : '<td></td>';
      parts.push(`<tr class="${cls}"><td>${l.line}</td><td>${l.hits === null ? '' : `${l.hits}×`}</td>${carried}<td class="src">${escapeHtml(l.text)}</td></tr>`);
    }
    parts.push('</table>');
  }
  if (r.unmatched.length > 0) parts.push(`<p>Not in the coverage (not counted): ${r.unmatched.map(escapeHtml).join(', ')}</p>`);
  parts.push('</body></html>\n');
  return parts.join('\n');
}
