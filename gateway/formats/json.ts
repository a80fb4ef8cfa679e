import { errors } from '../errors.ts';

/**
 * Parses JSON text, turning a syntax error into COVGATE_BAD_COVERAGE that
 * names the line and column (from V8's "at position N" message).
 */
export function parseJson(text: string, what: string): unknown {
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
