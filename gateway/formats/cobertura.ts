/**
 * Cobertura XML decoder (coverage.py `coverage xml`, gcovr `--cobertura`,
 * istanbul `cobertura`, JaCoCo/Cobertura for Java, cargo-tarpaulin, …),
 * parsed with fast-xml-parser.
 *
 * Mapping: each `<line>` → one whole-line statement with its `hits`;
 * `branch="true" condition-coverage="50% (1/2)"` → one branch on that line
 * with `total` arms of which the first `covered` count 1 (Cobertura keeps no
 * per-arm counts); each `<method>` → one function (hits from its `hits`
 * attribute as istanbul writes it, else from its first line).
 *
 * File names: a `filename` is kept as given, except that when the report has
 * exactly one `<source>` root and the filename is relative, it is joined to
 * that root (coverage.py, gcovr and istanbul all write one root and relative
 * names, so this yields the real path). With several roots the file could live
 * under any of them, so the name stays relative rather than being guessed.
 *
 * Several `<class>` elements of one file (Java inner classes, coverage.py
 * packages listing the same file twice) are merged; a line reported twice
 * keeps its highest count, since both report the same execution.
 */
import { posix, win32 } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { CoverageMapData } from '../model/index.ts';
import { errors } from '../errors.ts';
import { FileCoverageBuilder, isObject, lineRange, parseCount, parseLine } from './builder.ts';
import type { PayloadDecoder } from './types.ts';

const ARRAYS = new Set(['source', 'package', 'class', 'line', 'method', 'condition']);

interface CoberturaLine {
  hits: number;
  branch?: { covered: number; total: number };
}
interface CoberturaFile {
  lines: Map<number, CoberturaLine>;
  methods: Map<string, { name: string; first: number; last: number; hits: number }>;
}

function list(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

function attr(node: Record<string, unknown>, name: string): string | undefined {
  const v = node[name];
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

function isAbsolutePath(p: string): boolean {
  return p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\');
}

function joinRoot(root: string, filename: string): string {
  if (isAbsolutePath(filename)) return filename;
  const windows = root.includes('\\') && !root.includes('/');
  return windows ? win32.join(root, filename) : posix.join(root, filename);
}

function readLines(nodes: Record<string, unknown>[], where: string): Map<number, CoberturaLine> {
  const out = new Map<number, CoberturaLine>();
  for (const node of nodes) {
    const numberText = attr(node, 'number');
    if (numberText === undefined) throw errors.badCoverage(`${where}: <line> without a "number" attribute`);
    const line = parseLine(numberText, `${where} <line number>`);
    const hitsText = attr(node, 'hits');
    if (hitsText === undefined) throw errors.badCoverage(`${where} line ${line}: <line> without a "hits" attribute`);
    const entry: CoberturaLine = { hits: parseCount(hitsText, `${where} line ${line} hits`) };
    const isBranch = attr(node, 'branch') === 'true';
    const cc = attr(node, 'condition-coverage');
    if (isBranch && cc !== undefined) {
      const m = /\((\d+)\s*\/\s*(\d+)\)/.exec(cc);
      if (!m) throw errors.badCoverage(`${where} line ${line}: condition-coverage must look like "50% (1/2)", got ${JSON.stringify(cc)}`);
      const covered = Number(m[1]);
      const total = Number(m[2]);
      if (covered > total) throw errors.badCoverage(`${where} line ${line}: condition-coverage covers ${covered} of only ${total} branches`);
      if (total > 0) entry.branch = { covered, total };
    }
    out.set(line, entry);
  }
  return out;
}

function mergeLine(into: Map<number, CoberturaLine>, line: number, entry: CoberturaLine): void {
  const prev = into.get(line);
  if (!prev) {
    into.set(line, { ...entry });
    return;
  }
  prev.hits = Math.max(prev.hits, entry.hits);
  if (entry.branch && (!prev.branch || entry.branch.covered > prev.branch.covered)) prev.branch = entry.branch;
}

export function parseCobertura(text: string): CoverageMapData {
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw errors.badCoverage(`cobertura: invalid XML at line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg}`);
  const doc = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseTagValue: false,
    parseAttributeValue: false,
    isArray: (name) => ARRAYS.has(name),
  }).parse(text) as Record<string, unknown>;
  const coverage = doc.coverage;
  if (!isObject(coverage)) throw errors.badCoverage('cobertura: no <coverage> root element');
  const sources = isObject(coverage.sources) ? (Array.isArray(coverage.sources.source) ? coverage.sources.source : []) : [];
  const roots = sources.map((s) => (typeof s === 'string' ? s.trim() : isObject(s) && typeof s['#text'] === 'string' ? s['#text'].trim() : '')).filter((s) => s !== '');
  const root = roots.length === 1 ? roots[0] : undefined;

  const files = new Map<string, CoberturaFile>();
  const packages = isObject(coverage.packages) ? list(coverage.packages.package) : [];
  packages.forEach((pkg, pi) => {
    const classes = isObject(pkg.classes) ? list(pkg.classes.class) : [];
    classes.forEach((cls, ci) => {
      const filename = attr(cls, 'filename');
      const clsWhere = `cobertura package ${JSON.stringify(attr(pkg, 'name') ?? String(pi))} class ${JSON.stringify(attr(cls, 'name') ?? String(ci))}`;
      if (filename === undefined || filename === '') throw errors.badCoverage(`${clsWhere}: missing "filename" attribute`);
      const path = root !== undefined ? joinRoot(root, filename) : filename;
      const where = `cobertura file ${JSON.stringify(filename)}`;
      let file = files.get(path);
      if (!file) files.set(path, (file = { lines: new Map(), methods: new Map() }));
      const classLines = readLines(isObject(cls.lines) ? list(cls.lines.line) : [], where);
      const classHasNoLines = classLines.size === 0;
      const methods = isObject(cls.methods) ? list(cls.methods.method) : [];
      for (const method of methods) {
        const name = attr(method, 'name') ?? '(anonymous)';
        const methodLines = readLines(isObject(method.lines) ? list(method.lines.line) : [], `${where} method ${JSON.stringify(name)}`);
        // Class <lines> normally repeat method lines; only when a class lists none (some generators put
        // every line under its methods) are method lines its statements. istanbul's own output adds each
        // function's declaration line to its method, which is not a statement.
        if (classHasNoLines) for (const [line, entry] of methodLines) if (!classLines.has(line)) classLines.set(line, entry);
        const numbers = [...methodLines.keys()].sort((a, b) => a - b);
        if (numbers.length === 0) continue; // no location to report it at
        const hitsText = attr(method, 'hits');
        const hits = hitsText !== undefined ? parseCount(hitsText, `${where} method ${JSON.stringify(name)} hits`) : methodLines.get(numbers[0]!)!.hits;
        const key = `${name}\0${attr(method, 'signature') ?? ''}\0${numbers[0]}`;
        const prev = file.methods.get(key);
        if (prev) prev.hits = Math.max(prev.hits, hits);
        else file.methods.set(key, { name, first: numbers[0]!, last: numbers[numbers.length - 1]!, hits });
      }
      for (const [line, entry] of classLines) mergeLine(file.lines, line, entry);
    });
  });

  const out: CoverageMapData = {};
  for (const [path, file] of files) {
    const b = new FileCoverageBuilder(path);
    const numbers = [...file.lines.keys()].sort((x, y) => x - y);
    for (const line of numbers) b.statement(lineRange(line), file.lines.get(line)!.hits);
    for (const m of [...file.methods.values()].sort((x, y) => x.first - y.first)) b.fn(m.name, lineRange(m.first), lineRange(m.first, m.last), m.hits);
    for (const line of numbers) {
      const br = file.lines.get(line)!.branch;
      if (!br) continue;
      const arms = Array.from({ length: br.total }, (_, i) => (i < br.covered ? 1 : 0));
      b.branch(lineRange(line), 'branch', arms.map(() => lineRange(line)), arms);
    }
    out[path] = b.build();
  }
  return out;
}

export const coberturaDecoder: PayloadDecoder = {
  format: 'cobertura',
  input: 'text',
  sniff(body) {
    // XML (starts with '<') whose root is <coverage …>; the prolog may hold a declaration, comments, a DOCTYPE.
    return typeof body === 'string' && /^\s*</.test(body) && /<coverage[\s>/]/.test(body.slice(0, 4096));
  },
  async decode(payload) {
    if (typeof payload !== 'string') throw errors.badCoverage('cobertura: expected XML text');
    return parseCobertura(payload);
  },
};
