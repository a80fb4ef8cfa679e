import { XMLParser } from 'fast-xml-parser';

export interface SonarLine {
  covered: boolean;
  branchesToCover?: number;
  coveredBranches?: number;
}

/** path → line → what a generic-coverage report says, read with a real XML parser. */
export function parseSonarCoverage(xml: string): Record<string, Record<string, SonarLine>> {
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => name === 'file' || name === 'lineToCover' }).parse(xml) as {
    coverage: { version: string; file?: Array<{ path: string; lineToCover?: Array<Record<string, string>> }> };
  };
  if (doc.coverage?.version !== '1') throw new Error('not a generic coverage report (coverage version="1")');
  const out: Record<string, Record<string, SonarLine>> = {};
  for (const f of doc.coverage.file ?? []) {
    const lines: Record<string, SonarLine> = {};
    for (const l of f.lineToCover ?? []) {
      const line: SonarLine = { covered: l.covered === 'true' };
      if (l.branchesToCover !== undefined) line.branchesToCover = Number(l.branchesToCover);
      if (l.coveredBranches !== undefined) line.coveredBranches = Number(l.coveredBranches);
      lines[l.lineNumber!] = line;
    }
    out[f.path] = lines;
  }
  return out;
}
