/**
 * The V8 decoder against REAL V8 coverage: scripts run in a child process
 * under NODE_V8_COVERAGE, or in this process under the inspector's Profiler,
 * then decoded and checked line by line. Source-mapped cases compile a small
 * TypeScript file with esbuild so coverage must land on the original source.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { transformSync } from 'esbuild';
import { decodePayload } from '../../gateway/formats/index.ts';
import type { DecodeContext } from '../../gateway/formats/index.ts';
import { describeFile } from './fixtures.ts';

const CLASSIFY = `export function classify(n) {
  if (n > 10) {
    return 'big';
  }
  return 'small';
}
export function unused() {
  return 42;
}
classify(3);
classify(4);
`;

const ORDER_TS = `interface Order { total: number; vip: boolean }
export function price(o: Order): number {
  if (o.vip) {
    return o.total * 0.9;
  }
  return o.total;
}
export function neverCalled(): string {
  return 'x';
}
globalThis.__covgateResult = price({ total: 10, vip: false });
`;

/** A loadSource that reads file:// URLs (what a gateway next to the service would do). */
const fromDisk: DecodeContext['loadSource'] = async (url) => {
  try {
    return readFileSync(url.startsWith('file:') ? fileURLToPath(url) : url, 'utf8');
  } catch {
    return undefined;
  }
};

/** Runs a script under NODE_V8_COVERAGE and returns the coverage file's JSON. */
function runWithV8Coverage(dir: string, script: string, nodeArgs: string[] = []): unknown {
  const covDir = join(dir, 'v8cov');
  execFileSync(process.execPath, [...nodeArgs, script], { env: { ...process.env, NODE_V8_COVERAGE: covDir, NODE_OPTIONS: '' } });
  const file = readdirSync(covDir).find((f) => f.startsWith('coverage-') && f.endsWith('.json'));
  expect(file, 'NODE_V8_COVERAGE wrote a file').to.be.a('string');
  return JSON.parse(readFileSync(join(covDir, file!), 'utf8'));
}

describe('formats/v8 (real V8 coverage)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'covgate-v8-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('decodes a NODE_V8_COVERAGE file: covered and uncovered lines, functions, node: internals skipped', async () => {
    const script = join(dir, 'classify.mjs');
    writeFileSync(script, CLASSIFY);
    const payload = runWithV8Coverage(dir, script);
    const decoded = await decodePayload(JSON.stringify(payload), { declaredFormat: 'auto', loadSource: fromDisk });
    expect(decoded.format).to.equal('v8');
    expect(Object.keys(decoded.coverage!)).to.deep.equal([script]);
    const file = describeFile(decoded.coverage!, script);
    expect(file.lines['2']).to.equal(2); // if (n > 10) ran twice
    expect(file.lines['3']).to.equal(0); // return 'big' never
    expect(file.lines['5']).to.equal(2);
    expect(file.lines['8']).to.equal(0); // unused()
    expect(file.lines['10']).to.equal(1);
    expect(file.functions).to.include({ classify: 2, unused: 0 });
    expect(decoded.warnings).to.deep.equal([]); // node:internal scripts are skipped silently
  });

  it('decodes Profiler.takePreciseCoverage from node:inspector ({callCount, detailed})', async () => {
    const script = join(dir, 'classify-inspector.mjs');
    writeFileSync(script, CLASSIFY);
    const session = new Session();
    session.connect();
    try {
      await session.post('Profiler.enable');
      await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
      await import(pathToFileURL(script).href);
      const { result } = await session.post('Profiler.takePreciseCoverage');
      await session.post('Profiler.stopPreciseCoverage');
      const url = pathToFileURL(script).href;
      // Keep our script plus one internal and one script whose source is gone, as a real payload has.
      const ours = result.filter((r) => r.url === url);
      expect(ours).to.have.length(1);
      const payload = {
        result: [
          ...ours,
          { scriptId: '999', url: 'node:internal/timers', functions: [] },
          { scriptId: '998', url: 'file:///gone/away.js', functions: [{ functionName: '', isBlockCoverage: false, ranges: [{ startOffset: 0, endOffset: 5, count: 1 }] }] },
        ],
      };
      const decoded = await decodePayload(payload, { declaredFormat: 'v8', contentType: 'application/json', loadSource: fromDisk, counters: 'delta' });
      expect(decoded.counters).to.equal('delta');
      expect(Object.keys(decoded.coverage!)).to.deep.equal([script]);
      const file = describeFile(decoded.coverage!, script);
      expect(file.lines).to.include({ '2': 2, '3': 0, '5': 2, '8': 0 });
      expect(decoded.warnings).to.have.length(1);
      expect(decoded.warnings![0]).to.include('v8: skipped file:///gone/away.js: its source is not available');
    } finally {
      session.disconnect();
    }
  });

  it('uses an entry\'s inline "source" without loading anything', async () => {
    const script = join(dir, 'inline.mjs');
    writeFileSync(script, CLASSIFY);
    const payload = runWithV8Coverage(dir, script) as { result: Array<{ url: string; source?: string }> };
    const entry = payload.result.find((r) => r.url === pathToFileURL(script).href)!;
    entry.source = CLASSIFY;
    rmSync(script);
    const decoded = await decodePayload({ result: [entry] }, { declaredFormat: 'auto' });
    expect(describeFile(decoded.coverage!, script).lines).to.include({ '3': 0, '5': 2 });
  });

  describe('source maps (TypeScript compiled with esbuild)', () => {
    function compile(sourcemap: 'external' | 'inline', sourcesContent = true): { js: string; ts: string } {
      const ts = join(dir, 'src', 'order.ts');
      const js = join(dir, 'dist', 'order.js');
      execFileSync('mkdir', ['-p', join(dir, 'src'), join(dir, 'dist')]);
      writeFileSync(ts, ORDER_TS);
      const out = transformSync(ORDER_TS, { loader: 'ts', format: 'esm', sourcemap, sourcefile: '../src/order.ts', sourcesContent });
      if (sourcemap === 'external') {
        writeFileSync(`${js}.map`, out.map);
        writeFileSync(js, `${out.code}//# sourceMappingURL=order.js.map\n`);
      } else {
        writeFileSync(js, out.code);
      }
      // Run as ESM: rename to .mjs semantics through a package.json.
      writeFileSync(join(dir, 'dist', 'package.json'), '{"type":"module"}');
      return { js, ts };
    }

    function checkOriginal(map: Record<string, unknown>, ts: string): void {
      expect(Object.keys(map)).to.deep.equal([ts]);
      const file = describeFile(map as never, ts);
      expect(file.lines['3']).to.equal(1); // if (o.vip)
      expect(file.lines['4']).to.equal(0); // vip discount never ran
      expect(file.lines['6']).to.equal(1);
      expect(file.lines['9']).to.equal(0); // neverCalled
      expect(file.functions).to.include({ price: 1, neverCalled: 0 });
    }

    it('follows a sourceMappingURL comment to an external .map loaded through loadSource', async () => {
      const { js, ts } = compile('external');
      const payload = runWithV8Coverage(dir, js) as Record<string, unknown>;
      // NODE_V8_COVERAGE caches maps it saw; drop the cache so the decoder has to follow the comment.
      delete payload['source-map-cache'];
      const loaded: string[] = [];
      const decoded = await decodePayload(payload, { declaredFormat: 'auto', loadSource: async (u) => (loaded.push(u), fromDisk!(u)) });
      expect(loaded).to.include(pathToFileURL(`${js}.map`).href);
      checkOriginal(decoded.coverage!, ts);
      expect(decoded.warnings).to.deep.equal([]);
    });

    it('reads an inline data: URL source map and loads original sources missing from sourcesContent', async () => {
      const { js, ts } = compile('inline', false);
      const payload = runWithV8Coverage(dir, js) as Record<string, unknown>;
      delete payload['source-map-cache'];
      const decoded = await decodePayload(payload, { declaredFormat: 'v8', loadSource: fromDisk });
      checkOriginal(decoded.coverage!, ts);
    });

    it('uses NODE_V8_COVERAGE\'s source-map-cache (--enable-source-maps) even when the generated file is gone', async () => {
      const { js, ts } = compile('external');
      const payload = runWithV8Coverage(dir, js, ['--enable-source-maps']) as Record<string, unknown>;
      expect(payload).to.have.property('source-map-cache');
      rmSync(join(dir, 'dist'), { recursive: true });
      const decoded = await decodePayload(payload, { declaredFormat: 'auto', loadSource: fromDisk });
      checkOriginal(decoded.coverage!, ts);
    });

    it('resolves a Chrome-style http:// script, its map and its originals as URLs', async () => {
      const { js } = compile('external', false);
      const payload = runWithV8Coverage(dir, js) as { result: Array<Record<string, unknown>> };
      const entry = payload.result.find((r) => r.url === pathToFileURL(js).href)!;
      entry.url = 'http://localhost:3000/dist/order.js';
      const served: Record<string, string> = {
        'http://localhost:3000/dist/order.js': readFileSync(js, 'utf8'),
        'http://localhost:3000/dist/order.js.map': readFileSync(`${js}.map`, 'utf8'),
        'http://localhost:3000/src/order.ts': ORDER_TS,
      };
      const decoded = await decodePayload({ result: [entry] }, { declaredFormat: 'auto', loadSource: async (u) => served[u] });
      expect(decoded.warnings).to.deep.equal([]);
      checkOriginal(decoded.coverage!, 'http://localhost:3000/src/order.ts');
    });

    it('honours an entry "sourceMap" field and falls back to the generated code (with a warning) when originals are missing', async () => {
      const { js } = compile('external', false);
      const payload = runWithV8Coverage(dir, js) as { result: Array<Record<string, unknown>> };
      const entry = payload.result.find((r) => r.url === pathToFileURL(js).href)!;
      entry.source = readFileSync(js, 'utf8');
      entry.sourceMap = JSON.parse(readFileSync(`${js}.map`, 'utf8'));
      rmSync(join(dir, 'src'), { recursive: true });
      const decoded = await decodePayload({ result: [entry] }, { declaredFormat: 'auto', loadSource: fromDisk });
      expect(Object.keys(decoded.coverage!)).to.deep.equal([js]);
      expect(decoded.warnings).to.have.length(1);
      expect(decoded.warnings![0]).to.include('could not be loaded; coverage reported on the generated code');
    });
  });
});
