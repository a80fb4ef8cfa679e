/**
 * A small parser of the Prometheus text exposition format (0.0.4), strict
 * enough to catch what Prometheus would reject: malformed lines, samples
 * without a preceding TYPE, bad label escapes, non-numeric values.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export function parseExposition(text: string): Exposition {
  const out: Exposition = { help: new Map(), type: new Map(), samples: [] };
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, what, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
      if (what === 'HELP') out.help.set(name, rest);
      else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`${where}: bad type`);
        out.type.set(name, rest);
      }
      return;
    }
    out.samples.push(parseSample(line, where));
  });
  for (const s of out.samples) {
    if (!out.type.has(familyOf(s.name, out.type))) throw new Error(`sample ${s.name} has no TYPE line`);
  }
  return out;
}

/** The metric family a sample belongs to (histogram/summary samples carry suffixes). */
export function familyOf(sample: string, types: Map<string, string>): string {
  if (types.has(sample)) return sample;
  const m = /^(.*)_(bucket|sum|count)$/.exec(sample);
  if (m && types.has(m[1]!)) return m[1]!;
  return sample;
}

function parseSample(line: string, where: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (!m) throw new Error(`${where}: no metric name`);
  const name = m[1]!;
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === '{') {
    pos++;
    while (line[pos] !== '}') {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(pos));
      if (!lm) throw new Error(`${where}: bad label at ${pos}`);
      pos += lm[0].length;
      let value = '';
      for (;;) {
        const c = line[pos];
        if (c === undefined) throw new Error(`${where}: unterminated label value`);
        pos++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[pos++];
          if (e === 'n') value += '\n';
          else if (e === '\\' || e === '"') value += e;
          else throw new Error(`${where}: bad escape \\${e}`);
        } else value += c;
      }
      if (lm[1]! in labels) throw new Error(`${where}: duplicate label ${lm[1]}`);
      labels[lm[1]!] = value;
      if (line[pos] === ',') pos++;
      else if (line[pos] !== '}') throw new Error(`${where}: expected , or } at ${pos}`);
    }
    pos++;
  }
  const rest = line.slice(pos).trim().split(/\s+/);
  if (line[pos] !== ' ' || rest.length < 1 || rest.length > 2) throw new Error(`${where}: expected " value [timestamp]"`);
  const raw = rest[0]!;
  // Prometheus parses values with Go's ParseFloat, which takes NaN and Inf in any case (prom-client writes "Nan").
  const special: Record<string, number> = { nan: NaN, '+inf': Infinity, inf: Infinity, '-inf': -Infinity };
  const value = raw.toLowerCase() in special ? special[raw.toLowerCase()]! : Number(raw);
  if (raw === '' || (Number.isNaN(value) && raw.toLowerCase() !== 'nan')) throw new Error(`${where}: bad value ${raw}`);
  return { name, labels, value };
}

/** The value of the one sample with exactly these labels (a subset match must be unique), or undefined. */
export function valueOf(exp: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = exp.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${hits.length} samples`);
  return hits[0]?.value;
}

export function seriesOf(exp: Exposition, name: string): Sample[] {
  return exp.samples.filter((s) => s.name === name);
}
