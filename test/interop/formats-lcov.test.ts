/**
 * Interop with lcov's genhtml: our lcov output (from real V8 coverage, with
 * functions and branches) must be accepted by genhtml, which must report the
 * same line and function totals as our own summary. Debian package: lcov.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { decodePayload, encodeCoverage } from '../../gateway/formats/index.ts';
import { requireTools, run } from './formats-tools.ts';

const SCRIPT = `export function classify(n) {
  if (n > 10) {
    return 'big';
  }
  return n < 0 ? 'negative' : 'small';
}
export function unused() {
  return 42;
}
classify(3);
classify(40);
`;

describe('interop: lcov tracefile (genhtml)', function () {
  let dir: string;
  before(function () {
    requireTools(this, ['genhtml'], 'lcov');
    dir = mkdtempSync(join(tmpdir(), 'covgate-lcov-'));
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('genhtml accepts our lcov output and reports the same totals', async () => {
    const script = join(dir, 'classify.mjs');
    writeFileSync(script, SCRIPT);
    const covDir = join(dir, 'v8');
    execFileSync(process.execPath, [script], { env: { ...process.env, NODE_V8_COVERAGE: covDir, NODE_OPTIONS: '' } });
    const file = readdirSync(covDir).find((f) => f.endsWith('.json'))!;
    const decoded = await decodePayload(readFileSync(join(covDir, file)), {
      declaredFormat: 'auto',
      loadSource: async (u) => readFileSync(fileURLToPath(u), 'utf8'),
    });
    const lcov = encodeCoverage(decoded.coverage!, 'lcov').body;
    expect(lcov).to.include(`SF:${script}\n`);
    expect(lcov).to.match(/^FNDA:0,unused$/m);
    writeFileSync(join(dir, 'lcov.info'), lcov);

    const out = run('genhtml', ['--rc', 'lcov_branch_coverage=1', '--rc', 'genhtml_branch_coverage=1', '-o', join(dir, 'html'), join(dir, 'lcov.info')], { cwd: dir });
    expect(existsSync(join(dir, 'html', 'index.html'))).to.equal(true);
    const summary = JSON.parse(encodeCoverage(decoded.coverage!, 'json-summary').body).total;
    expect(out).to.match(new RegExp(`lines\\.+: [\\d.]+% \\(${summary.lines.covered} of ${summary.lines.total} lines\\)`));
    expect(out).to.match(new RegExp(`functions\\.+: [\\d.]+% \\(${summary.functions.covered} of ${summary.functions.total} functions\\)`));

    // lcov's own reader agrees on the line totals.
    const lcovSummary = run('lcov', ['--summary', join(dir, 'lcov.info')], { cwd: dir });
    expect(lcovSummary).to.match(new RegExp(`lines\\.+: [\\d.]+% \\(${summary.lines.covered} of ${summary.lines.total} lines\\)`));
  });
});
