import { errors } from '../errors.ts';

/**
 * Parses JSON text, turning a syntax error into COVGATE_BAD_COVERAGE that
 * names the line and column (from V8's "at position N" message).
 */
export function parseJson(text: string, what: string): unknown {
  if (jsonTooDeep(text, MAX_COVERAGE_JSON_DEPTH)) throw errors.badCoverage(`${what}: JSON nests deeper than ${MAX_COVERAGE_JSON_DEPTH} levels`);
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const m = /position (\d+)/.exec(message);
    let where = '';
    if (m) {
      const pos = Number(m[1]);
      const before = text.slice(0, pos);
      const line = before.split('\n').length;
      const column = pos - before.lastIndexOf('\n');
      where = ` at line ${line}, column ${column} (position ${pos})`;
    } else if (/end of JSON input/i.test(message)) {
      where = ` at position ${text.length} (unexpected end of input)`;
    }
    throw errors.badCoverage(`${what}: invalid JSON${where}: ${message}`, { cause: err });
  }
}

/** Deepest nesting a coverage payload may have (Istanbul and V8 need under 10, source maps a few more). */
export const MAX_COVERAGE_JSON_DEPTH = 64;

/**
 * Whether JSON text nests objects/arrays deeper than `max`. One pass over the
 * characters, skipping strings: checked before JSON.parse so that no later
 * recursive walk (String(), JSON.stringify, the logger) can overflow the stack.
 */
export function jsonTooDeep(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i++;
        else if (d === 34) break;
      }
    } else if (c === 123 || c === 91 /* { [ */) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

