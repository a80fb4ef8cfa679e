/**
 * `gocovdata`: Go 1.20+ native coverage (docs/contract.md §1), the files a
 * binary built with `go build -cover` writes into GOCOVERDIR, read without a
 * Go toolchain (binary readers in gocovdata-binary.ts).
 *
 * Transport, all carrying the same files:
 *   - JSON `{"meta":"<base64 covmeta>","counters":["<base64 covcounters>",…]}`
 *     (`application/vnd.covgate.gocovdata+json`), alone or as the `data` of a
 *     covgate envelope. `meta` may also be an array (several binaries).
 *     In an envelope with `structure` (= the meta hash), a reply with
 *     `counters` and no `meta` is the counters-only reply of the
 *     structure-once exchange: its counters are placed on the stored
 *     structure by the Go package/function/unit ids kept on each statement.
 *   - a tar of a GOCOVERDIR (`application/x-tar`, push ingest), or a
 *     `multipart/form-data` upload of its files: every `covmeta.*` and
 *     `covcounters.*` file in it (by file name), other files ignored.
 *
 * Mapping, the same as the gocover decoder's so both formats merge and
 * summarise alike: each Go coverable unit (block) is one Istanbul statement
 * at its range (Go columns 1-based, Istanbul's 0-based) with `numStmts` on
 * the range, so summaries are Go's statement-weighted figures
 * (`go tool cover -func` / `go tool covdata percent`). File names are Go's
 * (import path + file name), as in `go tool covdata textfmt`. Units are
 * merged as cmd/covdata does (internal/coverage/cformat AddUnit, cmerge):
 * by file, function and range; counts summed (saturating at 2^32-1) in
 * count/atomic mode, OR-ed in set mode. Unlike a coverprofile, covdata knows
 * functions: each named Go function or method is an Istanbul function
 * spanning its units, hit when its first (entry) block ran (literals count
 * toward their enclosing function, as in Go's reports).
 */
import type { CoverageMapData, FileCounters, FileStructure, FunctionMapping, Range } from '../model/index.ts';
import { errors } from '../errors.ts';
import { FileCoverageBuilder, isObject } from './builder.ts';
import { decodeCounterFile, decodeMetaFile, type GoCounterFile, type GoCounterMode, type GoMetaFile } from './gocovdata-binary.ts';
import { multipartBoundary, readMultipart } from './multipart.ts';
import { readTar } from './tar.ts';
import type { PayloadDecoder } from './types.ts';

export const GOCOVDATA_CONTENT_TYPE = 'application/vnd.covgate.gocovdata+json';
const TAR_CONTENT_TYPES = new Set(['application/x-tar', 'application/tar']);

/** A Go unit's range as stored: `numStmts` like gocover, plus where its counter lives ([package, function, unit] in its meta-data file). */
export type GoDataRange = Range & { numStmts: number; goUnit?: [number, number, number] };
/** A Go function's mapping as stored, with its [package, function] ids. */
type GoFunctionMapping = FunctionMapping & { goFunc?: [number, number] };

/** The raw files of one GOCOVERDIR (or one exporter reply). */
export interface GoCoverFiles {
  metas: Array<{ name: string; data: Buffer }>;
  counters: Array<{ name: string; data: Buffer }>;
}

const SATURATE = 0xffffffff;

interface Unit {
  file: string;
  fnKey: string;
  stLine: number;
  stCol: number;
  enLine: number;
  enCol: number;
  nx: number;
  count: number;
  ids?: [number, number, number];
}

interface Fn {
  file: string;
  name: string;
  lit: boolean;
  entryCount: number;
  units: Unit[];
  ids?: [number, number];
}

function addCount(mode: GoCounterMode, a: number, b: number): number {
  if (mode === 'set') return a !== 0 || b !== 0 ? 1 : 0;
  return Math.min(SATURATE, a + b); // cmerge.SaturatingAdd
}

/**
 * Counters per [package, function] of one meta-data file, merged over its
 * counter files as cmd/covdata does (dump.go VisitFuncCounterData, cmerge).
 * A package or function index the meta-data does not have, or a counter
 * array that does not fit the function's units, is refused (Go's tool warns
 * and skips; a half-read profile is worse than a clear error here).
 */
function mergeCounters(meta: GoMetaFile, files: Array<{ name: string; file: GoCounterFile }>): Map<string, number[]> {
  const merged = new Map<string, number[]>();
  for (const { name, file } of files) {
    for (const f of file.funcs) {
      const pkg = meta.packages[f.pkg];
      const fn = pkg?.funcs[f.fn];
      if (!pkg || !fn) throw errors.badCoverage(`gocovdata ${name}: counters for package ${f.pkg} function ${f.fn}, which meta-data ${meta.hash} does not have`);
      if (f.counters.length !== fn.units.length) {
        throw errors.badCoverage(`gocovdata ${name}: ${f.counters.length} counters for ${pkg.path}.${fn.name}, whose meta-data has ${fn.units.length} blocks`);
      }
      const key = `${f.pkg}:${f.fn}`;
      const prev = merged.get(key);
      if (!prev) merged.set(key, f.counters.map((c) => (meta.mode === 'set' && c !== 0 ? 1 : c)));
      else for (let i = 0; i < prev.length; i++) prev[i] = addCount(meta.mode, prev[i]!, f.counters[i]!);
    }
  }
  return merged;
}

function compareUnits(a: Unit, b: Unit): number {
  // cformat sortUnits: file, start line, end line, start column, end column, statements.
  return (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.stLine - b.stLine || a.enLine - b.enLine || a.stCol - b.stCol || a.enCol - b.enCol || a.nx - b.nx;
}

const goRange = (stLine: number, stCol: number, enLine: number, enCol: number): Range => ({
  start: { line: stLine, column: Math.max(0, stCol - 1) },
  end: { line: enLine, column: Math.max(0, enCol - 1) },
});

/**
 * Decoded meta-data and counter files → Istanbul map. Counter files are
 * matched to their meta-data by hash; all meta-data files must agree on the
 * counter mode (cmerge's strict policy, as `go tool covdata textfmt`).
 * `warn` receives counter files whose meta-data is missing (skipped, as Go's
 * pods.go leaves orphaned counter files out). `withIds` keeps each unit's
 * [package, function, unit] on its range for counters-only replies; it is
 * only meaningful with a single meta-data file.
 */
export function goCovDataToIstanbul(metas: GoMetaFile[], counterFiles: Array<{ name: string; file: GoCounterFile }>, opts: { warn?: (m: string) => void; withIds?: boolean } = {}): CoverageMapData {
  if (metas.length === 0) throw errors.badCoverage('gocovdata: no meta-data file (covmeta.<hash>); the counters cannot be placed without it');
  const mode = metas[0]!.mode;
  for (const m of metas) {
    if (m.mode !== mode) throw errors.badCoverage(`gocovdata: counter mode clash: meta-data ${metas[0]!.hash} is ${mode}, ${m.hash} is ${m.mode}`);
  }
  const byHash = new Map(metas.map((m) => [m.hash, m]));
  const countersByMeta = new Map<string, Array<{ name: string; file: GoCounterFile }>>();
  for (const c of counterFiles) {
    if (!byHash.has(c.file.metaHash)) {
      opts.warn?.(`gocovdata ${c.name}: no meta-data file covmeta.${c.file.metaHash}; counter file skipped`);
      continue;
    }
    const list = countersByMeta.get(c.file.metaHash) ?? [];
    list.push(c);
    countersByMeta.set(c.file.metaHash, list);
  }

  // cformat.AddUnit: units keyed by (file, function, literal, range, statements).
  const units = new Map<string, Unit>();
  const fns = new Map<string, Fn>();
  for (const meta of byHash.values()) {
    const counters = mergeCounters(meta, countersByMeta.get(meta.hash) ?? []);
    meta.packages.forEach((pkg, p) => {
      pkg.funcs.forEach((fd, f) => {
        if (fd.units.length === 0) return;
        const ctrs = counters.get(`${p}:${f}`);
        const fnKey = `${fd.file}\0${fd.name}\0${fd.lit ? 1 : 0}`;
        let fn = fns.get(fnKey);
        if (!fn) fns.set(fnKey, (fn = { file: fd.file, name: fd.name, lit: fd.lit, entryCount: 0, units: [], ...(opts.withIds ? { ids: [p, f] as [number, number] } : {}) }));
        fn.entryCount = addCount(mode, fn.entryCount, ctrs?.[0] ?? 0);
        fd.units.forEach((u, k) => {
          const count = ctrs?.[k] ?? 0;
          const key = `${fnKey}\0${u.stLine}.${u.stCol},${u.enLine}.${u.enCol} ${u.nxStmts}`;
          const prev = units.get(key);
          if (prev) {
            prev.count = addCount(mode, prev.count, count);
            return;
          }
          const unit: Unit = { file: fd.file, fnKey, stLine: u.stLine, stCol: u.stCol, enLine: u.enLine, enCol: u.enCol, nx: u.nxStmts, count, ...(opts.withIds ? { ids: [p, f, k] as [number, number, number] } : {}) };
          units.set(key, unit);
          fn!.units.push(unit);
        });
      });
    });
  }

  const files = new Map<string, FileCoverageBuilder>();
  const builder = (file: string) => {
    let b = files.get(file);
    if (!b) files.set(file, (b = new FileCoverageBuilder(file)));
    return b;
  };
  for (const unit of [...units.values()].sort(compareUnits)) {
    const loc: GoDataRange = { ...goRange(unit.stLine, unit.stCol, unit.enLine, unit.enCol), numStmts: unit.nx, ...(unit.ids ? { goUnit: unit.ids } : {}) };
    builder(unit.file).statement(loc, unit.count);
  }
  // Function literals are not functions of their own in Go's reports (`go tool covdata func`
  // and `go tool cover -func` count their blocks toward the enclosing function), so only
  // named functions and methods become Istanbul functions.
  const fnList = [...fns.values()].filter((f) => f.units.length > 0 && !f.lit);
  fnList.sort((a, b) => compareUnits(a.units.reduce((m, u) => (compareUnits(u, m) < 0 ? u : m)), b.units.reduce((m, u) => (compareUnits(u, m) < 0 ? u : m))));
  const fnIds: Array<{ file: string; id: number; ids: [number, number] }> = [];
  for (const fn of fnList) {
    const first = fn.units.reduce((m, u) => (compareUnits(u, m) < 0 ? u : m));
    const last = fn.units.reduce((m, u) => (u.enLine > m.enLine || (u.enLine === m.enLine && u.enCol > m.enCol) ? u : m));
    const decl = goRange(first.stLine, first.stCol, first.stLine, first.stCol);
    const loc = goRange(first.stLine, first.stCol, last.enLine, last.enCol);
    const id = builder(fn.file).fn(fn.name, decl, loc, fn.entryCount);
    if (fn.ids) fnIds.push({ file: fn.file, id, ids: fn.ids });
  }
  const out: CoverageMapData = {};
  for (const [file, b] of [...files.entries()].sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0))) out[file] = b.build();
  // Keep [package, function] on each function mapping, for counters-only replies.
  for (const { file, id, ids } of fnIds) (out[file]!.fnMap[id] as GoFunctionMapping).goFunc = ids;
  return out;
}

/**
 * Places a counters-only reply on the stored structures of its meta-data
 * (the files the envelope's `structure` named): every statement and
 * function that carries Go ids takes its counter from the merged counter
 * files. Throws COVGATE_BAD_COVERAGE when the counters do not fit.
 */
export function goHitsFromStructures(counterFiles: Array<{ name: string; file: GoCounterFile }>, metaHash: string, mode: GoCounterMode | undefined, structures: Record<string, FileStructure>): Record<string, FileCounters> {
  const merged = new Map<string, number[]>();
  for (const { name, file } of counterFiles) {
    if (file.metaHash !== metaHash) throw errors.badCoverage(`gocovdata ${name}: counters for meta-data ${file.metaHash}, but the reply names structure ${metaHash}`);
    for (const f of file.funcs) {
      const key = `${f.pkg}:${f.fn}`;
      const prev = merged.get(key);
      if (!prev) merged.set(key, [...f.counters]);
      else {
        if (prev.length !== f.counters.length) throw errors.badCoverage(`gocovdata ${name}: package ${f.pkg} function ${f.fn} has ${f.counters.length} counters in one file and ${prev.length} in another`);
        for (let i = 0; i < prev.length; i++) prev[i] = addCount(mode ?? 'count', prev[i]!, f.counters[i]!);
      }
    }
  }
  const used = new Set<string>();
  const out: Record<string, FileCounters> = {};
  for (const [path, st] of Object.entries(structures)) {
    const s: number[] = [];
    for (const range of Object.values(st.statementMap)) {
      const ids = (range as GoDataRange).goUnit;
      if (!Array.isArray(ids) || ids.length !== 3) throw errors.badCoverage(`gocovdata: stored structure of ${JSON.stringify(path)} has no Go unit ids; send the meta-data again`);
      const key = `${ids[0]}:${ids[1]}`;
      const ctrs = merged.get(key);
      if (ctrs) {
        if (ids[2] >= ctrs.length) throw errors.badCoverage(`gocovdata: ${ctrs.length} counters for package ${ids[0]} function ${ids[1]} do not fit its ${ids[2] + 1}+ blocks`);
        used.add(key);
      }
      s.push(ctrs?.[ids[2]] ?? 0);
    }
    const f: number[] = [];
    for (const fn of Object.values(st.fnMap)) {
      const ids = (fn as GoFunctionMapping).goFunc;
      f.push(Array.isArray(ids) ? (merged.get(`${ids[0]}:${ids[1]}`)?.[0] ?? 0) : 0);
    }
    out[path] = { s, f, b: Object.keys(st.branchMap).map(() => []) };
  }
  for (const key of merged.keys()) {
    if (!used.has(key)) throw errors.badCoverage(`gocovdata: counters for package/function ${key}, which structure ${metaHash} does not have`);
  }
  return out;
}

/** Decodes the raw files: meta-data files by content, counter files matched by hash. */
export function decodeGoCoverFiles(files: GoCoverFiles, opts: { warn?: (m: string) => void; withIds?: boolean } = {}): { coverage: CoverageMapData; metas: GoMetaFile[] } {
  const metas = new Map<string, GoMetaFile>();
  for (const m of files.metas) {
    const meta = decodeMetaFile(m.data, m.name);
    metas.set(meta.hash, meta); // the same meta-data twice (two GOCOVERDIRs) is one
  }
  const counters = files.counters.map((c) => ({ name: c.name, file: decodeCounterFile(c.data, c.name) }));
  return { coverage: goCovDataToIstanbul([...metas.values()], counters, { ...opts, withIds: opts.withIds === true && metas.size === 1 }), metas: [...metas.values()] };
}

const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}\s*$/;

function base64(v: unknown, what: string): Buffer {
  if (typeof v !== 'string' || !BASE64.test(v)) throw errors.badCoverage(`gocovdata: ${what} must be a base64 string`);
  return Buffer.from(v, 'base64');
}

/** Parses the JSON transport `{meta, counters}` into raw files. `meta` may be missing (counters-only). */
export function parseGoCovDataJson(body: unknown): GoCoverFiles {
  if (!isObject(body)) throw errors.badCoverage('gocovdata: expected a JSON object {"meta": "<base64 covmeta>", "counters": ["<base64 covcounters>", …]}');
  const metaRaw = body.meta;
  const metaList = metaRaw === undefined || metaRaw === null ? [] : Array.isArray(metaRaw) ? metaRaw : [metaRaw];
  const countersRaw = body.counters ?? [];
  if (!Array.isArray(countersRaw)) throw errors.badCoverage('gocovdata: "counters" must be an array of base64 covcounters files');
  return {
    metas: metaList.map((m, i) => ({ name: `meta[${i}]`, data: base64(m, `meta[${i}]`) })),
    counters: countersRaw.map((c, i) => ({ name: `counters[${i}]`, data: base64(c, `counters[${i}]`) })),
  };
}

/** Whether a binary body is a tar (by media type or the ustar magic at byte 257). */
export function looksLikeTar(body: Buffer, mediaType: string): boolean {
  if (TAR_CONTENT_TYPES.has(mediaType)) return true;
  return body.length >= 512 && body.subarray(257, 262).toString('latin1') === 'ustar';
}

/** Whether a binary body is a GOCOVERDIR upload: a tar, or multipart/form-data. */
export function looksLikeGoCoverDir(body: Buffer, mediaType: string, contentType: string | undefined): boolean {
  return looksLikeTar(body, mediaType) || multipartBoundary(contentType) !== undefined;
}

/** The covmeta/covcounters files of a tar (any directory depth) or multipart upload of a GOCOVERDIR; other files ignored. */
export function goCoverFilesFromUpload(body: Buffer, contentType: string | undefined): GoCoverFiles {
  const boundary = multipartBoundary(contentType);
  const entries = boundary !== undefined ? readMultipart(body, boundary) : readTar(body);
  const what = boundary !== undefined ? 'multipart' : 'tar';
  const files: GoCoverFiles = { metas: [], counters: [] };
  for (const entry of entries) {
    const base = entry.name.split('/').pop() ?? '';
    if (/^covmeta\.[0-9a-f]{32}$/.test(base)) files.metas.push({ name: entry.name, data: entry.data });
    else if (/^covcounters\.[0-9a-f]{32}\.\d+\.\d+$/.test(base)) files.counters.push({ name: entry.name, data: entry.data });
  }
  if (files.metas.length === 0) throw errors.badCoverage(`gocovdata ${what}: no covmeta.<hash> file among ${files.counters.length} counter file(s); send the whole GOCOVERDIR`);
  return files;
}

export const gocovdataDecoder: PayloadDecoder = {
  format: 'gocovdata',
  input: 'json',
  sniff(body, contentType) {
    if ((contentType ?? '').split(';')[0]!.trim().toLowerCase() === GOCOVDATA_CONTENT_TYPE) return true;
    return isObject(body) && typeof body.meta === 'string' && Array.isArray(body.counters);
  },
  async decode(payload, ctx) {
    const files = Buffer.isBuffer(payload) ? goCoverFilesFromUpload(payload, ctx.contentType) : parseGoCovDataJson(payload);
    return decodeGoCoverFiles(files, { warn: ctx.warn, withIds: true }).coverage;
  },
  countersOnly(payload) {
    if (Buffer.isBuffer(payload)) return undefined;
    const files = parseGoCovDataJson(payload);
    if (files.metas.length > 0) return undefined;
    const counters = files.counters.map((c) => ({ name: c.name, file: decodeCounterFile(c.data, c.name) }));
    return (structureId, structures) => goHitsFromStructures(counters, structureId, undefined, structures);
  },
};

