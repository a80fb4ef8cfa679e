import type { FileLines } from './lines.ts';

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);

/**
 * SonarQube's Generic Test Coverage report
 * (https://docs.sonarsource.com/sonarqube-server/latest/analyzing-source-code/test-coverage/generic-test-data/):
 * `<coverage version="1"><file path="…"><lineToCover lineNumber="N" covered="true|false"
 * [branchesToCover="T" coveredBranches="C"]/></file></coverage>`, read by the
 * scanner through `sonar.coverageReportPaths`. Written by hand: it is five
 * elements and no library for it exists on npm that we would trust more.
 * Files without a coverable line are left out (the XSD requires no empty
 * files, but SonarQube warns about them).
 */
export function encodeSonarGenericCoverage(files: FileLines[]): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>', '<coverage version="1">'];
  for (const f of files) {
    if (f.lines.length === 0) continue;
    out.push(`  <file path="${escapeXml(f.path)}">`);
    for (const [line, hit] of f.lines) {
      const branches = hit.branches ? ` branchesToCover="${hit.branches.total}" coveredBranches="${hit.branches.covered}"` : '';
      out.push(`    <lineToCover lineNumber="${line}" covered="${hit.hits > 0}"${branches}/>`);
    }
    out.push('  </file>');
  }
  out.push('</coverage>', '');
  return out.join('\n');
}
