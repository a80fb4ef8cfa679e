/**
 * YAML text → a plain tree of strings, lists and mappings, with the source
 * line of every key path and `${VAR}` expanded from the environment.
 *
 * Why a tree of strings: every scalar is handed to validation as the text the
 * user wrote (like Go's yaml into typed fields), so `release: 2026.10` stays
 * "2026.10" as a label value and `max_attempts: 5` is parsed by the schema that
 * knows it is an integer. `~`, `null` and empty values become null; null map
 * values are dropped so that `global:` with nothing under it means defaults.
 *
 * Why expand after parsing: expansion happens inside scalar values only, so a
 * variable can never inject YAML structure and line numbers stay those of the
 * file.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

export type ConfigPath = (string | number)[];

/** One problem found while reading or validating a config; formatted by load.ts. */
export interface ConfigIssue {
  path: ConfigPath;
  message: string;
  /** Set when the line is known directly (YAML syntax errors); otherwise looked up from `path`. */
  line?: number;
}

export interface YamlSource {
  /** The plain tree (null for an empty document). */
  value: unknown;
  /** YAML syntax errors and `${VAR}` errors, in file order. */
  issues: ConfigIssue[];
  /**
   * Line (1-based) of the key at `path`; for a path that does not exist
   * (a missing required key), the line of its nearest existing ancestor.
   */
  lineOf(path: ConfigPath): number;
}

/** Guard against alias bombs and alias cycles. */
const MAX_NODES = 200_000;
const MAX_DEPTH = 64;

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses YAML text. Never throws for bad input: problems are returned in
 * `issues`. When the YAML itself is malformed, `value` is null and `issues`
 * holds the syntax errors only.
 */
export function readYaml(text: string, env: NodeJS.ProcessEnv): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, keepSourceTokens: false });
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line;
  const lines = new Map<string, number>();
  const lineOf = (path: ConfigPath): number => {
    for (let i = path.length; i > 0; i--) {
      const line = lines.get(pathKey(path.slice(0, i)));
      if (line !== undefined) return line;
    }
    return 1;
  };

  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e) => {
      let message = `YAML syntax error: ${firstLine(e.message)}`;
      if (e.code === 'MULTIPLE_DOCS') message = 'YAML syntax error: expected a single document, found another after ---';
      if (e.code === 'DUPLICATE_KEY') {
        const key = /^[^:\n]*/.exec(text.slice(e.pos[0]))![0].trim();
        if (key) message = `YAML syntax error: duplicate key ${key.startsWith('"') || key.startsWith("'") ? key : JSON.stringify(key)}`;
      }
      return { path: [], line: lineAt(e.pos[0]), message };
    });
    return { value: null, issues, lineOf };
  }

  const issues: ConfigIssue[] = [];
  let built = 0;
  const build = (node: unknown, path: ConfigPath, line: number, depth: number): unknown => {
    if (++built > MAX_NODES || depth > MAX_DEPTH) {
      throw new TooDeep(path, line);
    }
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      const target = node.resolve(doc as Document);
      if (!target) {
        issues.push({ path, line, message: `unknown alias *${node.source}` });
        return null;
      }
      return build(target, path, line, depth + 1);
    }
    if (isMap(node)) {
      const obj: Record<string, unknown> = {};
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as Node | null;
        const keyLine = keyNode?.range ? lineAt(keyNode.range[0]) : line;
        if (!isScalar(keyNode)) {
          issues.push({ path, line: keyLine, message: 'mapping keys must be plain strings' });
          continue;
        }
        const key = String(keyNode.value ?? '');
        const childPath = [...path, key];
        lines.set(pathKey(childPath), keyLine);
        const value = build(pair.value, childPath, keyLine, depth + 1);
        // `key:` with nothing after it means "not set", so defaults apply.
        if (value === null) continue;
        // defineProperty, so a key named __proto__ is data (and reported as unknown), not a prototype.
        Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
      }
      return obj;
    }
    if (isSeq(node)) {
      return node.items.map((item, i) => {
        const itemNode = item as Node | null;
        const itemLine = itemNode?.range ? lineAt(itemNode.range[0]) : line;
        const childPath = [...path, i];
        lines.set(pathKey(childPath), itemLine);
        return build(item, childPath, itemLine, depth + 1);
      });
    }
    if (isScalar(node)) {
      const v = node.value;
      if (v === null || v === undefined) return null;
      if (typeof v === 'string') {
        return expandEnv(v, env, (message) => issues.push({ path, line, message }));
      }
      // Numbers, booleans, dates: the text as written ("2026.10", not 2026.1).
      return node.source ?? String(v);
    }
    issues.push({ path, line, message: 'unsupported YAML node' });
    return null;
  };

  let value: unknown = null;
  try {
    const root = doc.contents as Node | null;
    value = build(root, [], root?.range ? lineAt(root.range[0]) : 1, 0);
  } catch (err) {
    if (!(err instanceof TooDeep)) throw err;
    // The path where it blew up may be deep and repetitive; name the top-level key.
    issues.push({ path: err.path.slice(0, 1), line: err.line, message: 'document too large or too deeply nested (alias loop?)' });
    value = null;
  }
  return { value, issues, lineOf };
}

class TooDeep extends Error {
  constructor(
    readonly path: ConfigPath,
    readonly line: number,
  ) {
    super('too deep');
  }
}

/**
 * Expands `${VAR}`, `${VAR:-default}` (unset or empty → default) and
 * `${VAR-default}` (unset → default). `$${` is a literal `${`. Anything else
 * with a `$` is left alone, so relabel replacements like `$1`, `${1}` and
 * regex anchors survive. Reports problems through `report` and returns the
 * text with the problem reference left empty.
 */
export function expandEnv(s: string, env: NodeJS.ProcessEnv, report: (message: string) => void): string {
  if (!s.includes('${')) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const at = s.indexOf('$', i);
    if (at < 0) {
      out += s.slice(i);
      break;
    }
    out += s.slice(i, at);
    if (s.startsWith('$${', at)) {
      out += '${';
      i = at + 3;
      continue;
    }
    if (s[at + 1] !== '{') {
      out += '$';
      i = at + 1;
      continue;
    }
    const close = s.indexOf('}', at + 2);
    if (close < 0) {
      report(`unterminated \${ in ${JSON.stringify(s)} (write $\${ for a literal \${)`);
      return out + s.slice(at);
    }
    const inner = s.slice(at + 2, close);
    i = close + 1;
    // ${1}, ${2}: regex capture groups in relabel replacements, not variables.
    if (/^\d+$/.test(inner)) {
      out += s.slice(at, close + 1);
      continue;
    }
    const m = /^([^:-]*)(?:(:?-)(.*))?$/s.exec(inner)!;
    const name = m[1]!;
    if (!VAR_NAME.test(name)) {
      report(`bad variable reference \${${inner}} (names are letters, digits and _)`);
      continue;
    }
    const value = env[name];
    const op = m[2];
    if (op === ':-') out += value === undefined || value === '' ? m[3]! : value;
    else if (op === '-') out += value === undefined ? m[3]! : value;
    else if (value === undefined) report(`environment variable ${name} is not set (use \${${name}:-default} to give a default)`);
    else out += value;
  }
  return out;
}

function pathKey(path: ConfigPath): string {
  return JSON.stringify(path);
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0]!.trim();
}
