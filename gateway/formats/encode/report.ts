/**
 * Renders an istanbul-reports report (lcovonly, cobertura, json-summary,
 * text-summary) into a string through the in-memory writer.
 */
import libCoverage from 'istanbul-lib-coverage';
import libReport from 'istanbul-lib-report';
import reports from 'istanbul-reports';
import type { CoverageMapData } from '../../model/index.ts';
import { MemoryWriter } from './memory-writer.ts';

export type IstanbulReportName = 'lcovonly' | 'cobertura' | 'json-summary' | 'text-summary';

export function renderReport(map: CoverageMapData, name: IstanbulReportName, reportOptions: Record<string, unknown> = {}): string {
  const context = libReport.createContext({
    dir: 'coverage',
    coverageMap: libCoverage.createCoverageMap(map),
    // Reports that look at sources (HTML) are not rendered here; never read the disk.
    sourceFinder: () => '',
  } as unknown as libReport.ContextOptions);
  const writer = new MemoryWriter();
  // context.writer is a lazy getter creating a FileWriter on disk; shadow it on this instance.
  Object.defineProperty(context, 'writer', { value: writer, configurable: true });
  const report = reports.create(name as never, reportOptions as never) as unknown as { execute(ctx: unknown): void };
  report.execute(context);
  return writer.all();
}
