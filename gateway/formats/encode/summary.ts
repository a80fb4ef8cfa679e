/**
 * json-summary and text-summary with covgate's summary semantics
 * (model/summary.ts): istanbul-reports renders them, then Go files'
 * statements become Go's statement-weighted figure and kinds a format does
 * not have are marked `available: false` (text: "n/a"). Every summary names
 * its `semantics`. For plain Istanbul coverage the output is istanbul-reports'
 * own plus the `semantics` field.
 */
import { summarize, summarizeFiles, type CoverageMapData, type Summary, type Totals } from '../../model/index.ts';
import { renderReport } from './report.ts';

const KINDS = ['lines', 'statements', 'functions', 'branches'] as const;

function overlay(entry: Record<string, unknown>, s: Summary): Record<string, unknown> {
  const out: Record<string, unknown> = { ...entry };
  for (const kind of KINDS) out[kind] = { ...s[kind] };
  out.semantics = s.semantics ?? 'istanbul';
  return out;
}

export function renderJsonSummary(map: CoverageMapData): string {
  const istanbul = JSON.parse(renderReport(map, 'json-summary')) as Record<string, Record<string, unknown>>;
  const files = summarizeFiles(map);
  const out: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(istanbul)) {
    const s = key === 'total' ? summarize(map) : files.get(key);
    out[key] = s ? overlay(entry, s) : entry;
  }
  return JSON.stringify(out);
}

function line(title: string, t: Totals, semantics: string): string {
  const key = title.padEnd(12, ' ');
  if (t.available === false) return `${key} : n/a (not in this coverage format)`;
  const base = `${key} : ${t.pct}% ( ${t.covered}/${t.total} )`;
  const unit = title === 'Statements' && semantics === 'go-statements' ? ', Go statements' : '';
  return t.skipped > 0 ? `${base}, ${t.skipped} ignored${unit}` : `${base}${unit}`;
}

export function renderTextSummary(map: CoverageMapData): string {
  const s = summarize(map);
  const plain = s.semantics === 'istanbul' && KINDS.every((k) => s[k].available !== false);
  if (plain) return renderReport(map, 'text-summary');
  const semantics = s.semantics ?? 'istanbul';
  return [
    '',
    '=============================== Coverage summary ===============================',
    line('Statements', s.statements, semantics),
    line('Branches', s.branches, semantics),
    line('Functions', s.functions, semantics),
    line('Lines', s.lines, semantics),
    `Semantics    : ${semantics}`,
    '================================================================================',
    '',
  ].join('\n');
}
