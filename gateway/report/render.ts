/**
 * One HTML report rendered into `dir` with istanbul-reports' `html`. Runs in
 * the render worker (render-worker.ts), never on the gateway's event loop:
 * istanbul-reports writes synchronously and a big selection takes seconds.
 */
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
}
