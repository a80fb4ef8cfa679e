/**
 * One HTML report rendered into `dir` with istanbul-reports' `html`. Runs in
 * the render worker (render-worker.ts), never on the gateway's event loop:
 * istanbul-reports writes synchronously and a big selection takes seconds.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import libCoverage from 'istanbul-lib-coverage';
import libReport from 'istanbul-lib-report';
import reports from 'istanbul-reports';
import { findSource } from './sources.ts';

export interface RenderJob {
  /** Empty folder to render into (created by the caller). */
  dir: string;
  /** Coverage keyed by sanitised relative path (safeReportPath), Go statements already expanded. */
  map: Record<string, unknown>;
  /** Sanitised path → the original coverage path, for the source lookup. */
  originals: Record<string, string>;
  /** Source roots this selection may read from. */
  roots: string[];
  /** HTML (already escaped) put at the top of every page: the gateway's link back and the selection shown. */
  banner?: string;
  /** Lines to highlight per sanitised path (the changed lines of a diff). */
  highlight?: Record<string, number[]>;
}

/** CSS marking `lines` of an istanbul-reports file page: the line number and its hit count. */
function highlightCss(lines: number[]): string {
  const nums = lines.filter((n) => Number.isInteger(n) && n > 0);
  if (!nums.length) return '';
  const numbers = nums.map((n) => `td.line-count a[href='#L${n}']`).join(',');
  const counts = nums.map((n) => `td.line-coverage span:nth-of-type(${n})`).join(',');
  return `<style>${numbers}{background:#ffd33d;color:#000;font-weight:bold;padding:0 3px}${counts}{outline:2px solid #d4a72c}</style>`;
}

/** Puts `banner` right after <body> of every page istanbul-reports wrote. */
function addBanner(dir: string, banner: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.html')) continue;
    const file = join(e.parentPath, e.name);
    const html = readFileSync(file, 'utf8');
    const at = html.indexOf('<body>');
    if (at >= 0) writeFileSync(file, `${html.slice(0, at + 6)}\n${banner}${html.slice(at + 6)}`);
  }
}

/** The folder every path lies in (segments shared by all their folders), '' when none. */
function commonFolder(paths: string[]): string {
  if (!paths.length) return '';
  let parts = paths[0]!.split('/').slice(0, -1);
  for (const p of paths.slice(1)) {
    const other = p.split('/').slice(0, -1);
    let i = 0;
    while (i < parts.length && i < other.length && parts[i] === other[i]) i++;
    parts = parts.slice(0, i);
  }
  return parts.join('/');
}

export function renderHtml(job: RenderJob): void {
  const context = libReport.createContext({
    dir: job.dir,
    coverageMap: libCoverage.createCoverageMap(job.map as never),
    defaultSummarizer: 'nested',
    sourceFinder: (safe: string) => {
      const original = Object.hasOwn(job.originals, safe) ? job.originals[safe] : undefined;
      const text = original === undefined ? undefined : findSource(original, job.map[safe], job.roots);
      if (text === undefined) {
        // istanbul-reports then shows this message (unescaped, with the stack) instead of the source
        const e = new Error('source not available');
        e.stack = '';
        throw e;
      }
      return text;
    },
  } as never);
  reports.create('html', { subdir: '', skipEmpty: false } as never).execute(context);
  if (job.banner) addBanner(job.dir, job.banner);
  // istanbul-lib-report roots the tree at the files' common folder: pages are named relative to it
  const common = commonFolder(Object.keys(job.map));
  for (const [safe, lines] of Object.entries(job.highlight ?? {})) {
    const file = join(job.dir, `${common ? safe.slice(common.length + 1) : safe}.html`);
    if (!file.startsWith(job.dir + sep)) continue;
    let html: string;
    try {
      html = readFileSync(file, 'utf8');
    } catch {
      continue; // no page for it (not in the coverage)
    }
    const at = html.indexOf('</head>');
    if (at >= 0) writeFileSync(file, `${html.slice(0, at)}${highlightCss(lines)}${html.slice(at)}`);
  }
}
