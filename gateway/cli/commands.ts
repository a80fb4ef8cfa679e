/**
 * `covgate <command>`: the client subcommands (goc's profile/list/clear,
 * nyc's merge/report/check-coverage). Each parses its own flags with Node's
 * parseArgs, has `--help`, and exits with the codes in output.ts.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createClient, DEFAULT_GATEWAY, json, type Client } from './client.ts';
import { CliError, EXIT, printJson, progress, table } from './output.ts';

/** Local-file work loads the formats, model and renderer: only for the commands that need them. */
const local = () => import('./local.ts');
/** Output formats of merge and report (local.ts LOCAL_OUTPUTS; checked there too). */
const LOCAL_OUTPUTS = ['istanbul', 'lcov', 'cobertura', 'gocover', 'json-summary', 'text-summary', 'html'] as const;
type LocalOutput = (typeof LOCAL_OUTPUTS)[number];
import type { CoverageMapData } from '../model/index.ts';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | string[] | undefined>;

const GATEWAY_FLAGS: Options = {
  gateway: { type: 'string', short: 'g' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
};
const GATEWAY_HELP = `  -g, --gateway <url>      gateway base URL (default $COVGATE_URL or ${DEFAULT_GATEWAY})
      --token <token>      bearer token for write endpoints (default $COVGATE_TOKEN)
      --token-file <file>  read the bearer token from a file`;

interface Command {
  summary: string;
  usage: string;
  flags: Options;
  help: string;
  run(values: Values, positionals: string[]): Promise<number>;
}

/** `key=value` arguments → a selector (query parameters); a comma means "any of". */
function selectorOf(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of args) {
    const i = a.indexOf('=');
    if (i <= 0) throw new CliError(EXIT.usage, `selector terms are label=value, got ${JSON.stringify(a)}`);
    out[a.slice(0, i)] = a.slice(i + 1);
  }
  return out;
}

function labelsOf(values: Values): Record<string, string> {
  return selectorOf((values.label as string[] | undefined) ?? []);
}

const clientOf = (v: Values): Client => createClient(v as never);
const text = (res: { data: unknown }) => (Buffer.isBuffer(res.data) ? res.data.toString('utf8') : String(res.data));

function pct(n: number | null | undefined): string {
  return typeof n === 'number' ? `${n.toFixed(2)}%` : 'n/a';
}

const outputFlag = (v: Values, fallback: LocalOutput): LocalOutput => {
  const f = (v.format as string | undefined) ?? fallback;
  if (!(LOCAL_OUTPUTS as readonly string[]).includes(f)) throw new CliError(EXIT.usage, `--format ${f}: known ${LOCAL_OUTPUTS.join(', ')}`);
  return f as LocalOutput;
};

/** Thresholds of `check`, as nyc check-coverage names them. */
const KINDS = ['lines', 'statements', 'functions', 'branches'] as const;

interface SummaryTotals {
  total?: number;
  covered?: number;
  pct?: number | null;
  available?: boolean;
}

/** Compares a json-summary `total` with thresholds; one message per failure. */
export function checkThresholds(total: Record<string, SummaryTotals>, thresholds: Partial<Record<(typeof KINDS)[number], number>>): string[] {
  const failures: string[] = [];
  for (const kind of KINDS) {
    const want = thresholds[kind];
    if (want === undefined) continue;
    const t = total[kind];
    if (!t || t.available === false || typeof t.pct !== 'number') {
      failures.push(`coverage for ${kind} is not available in this data (threshold ${want}%)`);
    } else if (t.pct < want) {
      failures.push(`coverage for ${kind} (${t.pct}%) does not meet the threshold (${want}%)`);
    }
  }
  return failures;
}

/** Flags of the commands that work on local files (merge, subtract, intersect). */
const LOCAL_FILE_FLAGS: Options = { output: { type: 'string', short: 'o' }, format: { type: 'string', short: 'f' }, 'input-format': { type: 'string' } };
const LOCAL_FILE_HELP = `  -o, --output <file>      where to write (default stdout; a folder for html)
  -f, --format <f>         ${LOCAL_OUTPUTS.join(', ')} (default istanbul)
      --input-format <f>   the inputs' format (default: recognised from each file)`;

/** `covgate subtract|intersect A B...`: model/set-ops.ts on local files of any format. */
function setOpCommand(op: 'subtract' | 'intersect', summary: string): Command {
  return {
    summary,
    usage: `covgate ${op} A B... [-o out] [--format F]`,
    flags: LOCAL_FILE_FLAGS,
    help: LOCAL_FILE_HELP,
    async run(v, files) {
      if (files.length < 2) throw new CliError(EXIT.usage, `${op} needs at least two files`);
      const { readAll, mergeMaps, writeCoverage } = await local();
      const { combineCoverage } = await import('../model/index.ts');
      const format = outputFlag(v, 'istanbul');
      const [a, ...rest] = await readAll(files, v['input-format'] as string | undefined);
      // subtract: A minus what any other covers; intersect: A within each of the others
      const result = op === 'subtract' ? combineCoverage(a!, mergeMaps(rest), 'subtract') : rest.reduce((acc, b) => combineCoverage(acc, b, 'intersect'), a!);
      const out = writeCoverage(result, format, v.output as string | undefined);
      if (out !== undefined) process.stdout.write(out);
      return EXIT.ok;
    },
  };
}

export const COMMANDS: Record<string, Command> = {
  profile: {
    summary: 'merged coverage of a selection from the gateway',
    usage: 'covgate profile [label=value ...] [--format F] [-o file]',
    flags: { ...GATEWAY_FLAGS, format: { type: 'string', short: 'f' }, output: { type: 'string', short: 'o' } },
    help: `  -f, --format <f>         istanbul (default), lcov, cobertura, gocover, json-summary, text-summary
  -o, --output <file>      write to a file instead of stdout`,
    async run(v, pos) {
      const res = await clientOf(v).get('/api/v1/coverage', { ...selectorOf(pos), format: (v.format as string) ?? 'istanbul' });
      if (v.output) await writeFile(v.output as string, res.data as Buffer);
      else process.stdout.write(text(res));
      return EXIT.ok;
    },
  },
  list: {
    summary: 'targets with health, last scrape, last error and line coverage',
    usage: 'covgate list [label=value ...] [--json]',
    flags: { ...GATEWAY_FLAGS, json: { type: 'boolean' } },
    help: '      --json               the API answer as JSON',
    async run(v, pos) {
      const sel = selectorOf(pos);
      const data = json(await clientOf(v).get('/api/v1/targets', { state: 'any' })).data as { activeTargets: any[]; droppedTargets: any[] };
      const active = data.activeTargets.filter((t) => Object.entries(sel).every(([k, want]) => want.split(',').includes(String(t.labels?.[k] ?? (k === 'job' ? t.scrapePool : '')))));
      if (v.json) {
        printJson(active);
        return EXIT.ok;
      }
      const rows = [['JOB', 'INSTANCE', 'HEALTH', 'LAST SCRAPE', 'LINES', 'LAST ERROR']];
      for (const t of active) {
        rows.push([t.scrapePool, t.labels?.instance ?? t.scrapeUrl, t.health, t.lastScrape ?? '', pct(t.coverage?.lines?.pct), t.lastError ?? '']);
      }
      process.stdout.write(table(rows));
      return EXIT.ok;
    },
  },
  register: {
    summary: 'register a target with the gateway (self-registration)',
    usage: 'covgate register --job J --url URL [--label k=v ...] [--ttl 60s] [--json]',
    flags: { ...GATEWAY_FLAGS, job: { type: 'string' }, url: { type: 'string' }, label: { type: 'string', multiple: true }, ttl: { type: 'string' }, json: { type: 'boolean' } },
    help: `      --job <name>         job the target belongs to (required)
      --url <url>          the target's coverage URL (required)
      --label <k=v>        a target label (repeatable)
      --ttl <duration>     lease length; register again before it ends`,
    async run(v) {
      if (!v.job || !v.url) throw new CliError(EXIT.usage, 'register needs --job and --url');
      const body: Record<string, unknown> = { job: v.job, url: v.url, labels: labelsOf(v) };
      if (v.ttl) body.ttl = v.ttl;
      const data = json(await clientOf(v).post('/api/v1/targets', body)).data as { id: string; expiresAt: string };
      if (v.json) printJson(data);
      else process.stdout.write(`${data.id}\texpires ${data.expiresAt}\n`);
      return EXIT.ok;
    },
  },
  deregister: {
    summary: 'deregister a target (after one final scrape)',
    usage: 'covgate deregister <id>',
    flags: { ...GATEWAY_FLAGS },
    help: '',
    async run(v, pos) {
      if (pos.length !== 1) throw new CliError(EXIT.usage, 'deregister takes one target id');
      await clientOf(v).delete(`/api/v1/targets/${encodeURIComponent(pos[0]!)}`);
      return EXIT.ok;
    },
  },
  clear: {
    summary: 'reset the counters of the selected targets and start a new window',
    usage: 'covgate clear [label=value ...] [--json]',
    flags: { ...GATEWAY_FLAGS, json: { type: 'boolean' } },
    help: '      --json               per-target results as JSON',
    async run(v, pos) {
      const data = json(await clientOf(v).post('/api/v1/clear', selectorOf(pos)));
      if (v.json) printJson(data);
      else process.stdout.write(`cleared\n`);
      return EXIT.ok;
    },
  },
  session: {
    summary: 'start or finish a test session (POST /test-started, /test-finished)',
    usage: 'covgate session start|finish [--session id] [--label k=v ...] [label=value ...] [--wait] [--json]',
    flags: { ...GATEWAY_FLAGS, session: { type: 'string' }, label: { type: 'string', multiple: true }, wait: { type: 'boolean' }, json: { type: 'boolean' } },
    help: `      --session <id>       session id (default: the gateway's current one)
      --label <k=v>        a session label such as test_type=AT (repeatable)
      label=value          selector of the targets the session covers
      --wait               finish: wait for the push to the upstream
      --json               the API answer as JSON`,
    async run(v, pos) {
      const [verb, ...rest] = pos;
      if (verb !== 'start' && verb !== 'finish') throw new CliError(EXIT.usage, 'session takes start or finish');
      const body: Record<string, unknown> = {};
      if (v.session) body.session = v.session;
      const labels = labelsOf(v);
      if (Object.keys(labels).length) body.labels = labels;
      const sel = selectorOf(rest);
      if (Object.keys(sel).length) body.selector = sel;
      if (verb === 'finish' && v.wait) body.wait = true;
      const data = json(await clientOf(v).post(verb === 'start' ? '/test-started' : '/test-finished', body));
      if (v.json) printJson(data);
      else if (verb === 'start') process.stdout.write(`${data.session}\n`);
      else process.stdout.write(`${data.session}\tlines ${pct(data.summary?.lines?.pct)}\tpush ${data.push?.status ?? 'none'}\n`);
      return EXIT.ok;
    },
  },
  push: {
    summary: 'push coverage files to the gateway (push ingest)',
    usage: 'covgate push FILES... | --gocoverdir DIR  --job J [--label k=v ...] [--format F] [--json]',
    flags: { ...GATEWAY_FLAGS, job: { type: 'string' }, label: { type: 'string', multiple: true }, format: { type: 'string', short: 'f' }, gocoverdir: { type: 'string' }, json: { type: 'boolean' } },
    help: `      --job <name>         job the coverage belongs to (required)
      --label <k=v>        a label such as service=orders (repeatable)
  -f, --format <f>         the files' format (default: recognised from the content)
      --gocoverdir <dir>   push a Go GOCOVERDIR (covmeta.* and covcounters.* of binaries run to exit) in one upload`,
    async run(v, files) {
      if (!v.job) throw new CliError(EXIT.usage, 'push needs --job');
      if (v.gocoverdir !== undefined) {
        if (files.length) throw new CliError(EXIT.usage, 'push takes files or --gocoverdir, not both');
        const res = await pushGoCoverDir(clientOf(v), v.gocoverdir as string, { ...labelsOf(v), job: v.job as string });
        if (v.json) printJson(json(res));
        else process.stdout.write(`pushed ${v.gocoverdir}\n`);
        return EXIT.ok;
      }
      if (!files.length) throw new CliError(EXIT.usage, 'push needs at least one file');
      const client = clientOf(v);
      const params: Record<string, string> = { ...labelsOf(v), job: v.job as string };
      if (v.format) params.format = v.format as string;
      const results: unknown[] = [];
      const bar = progress('pushing', files.length);
      for (const f of files) {
        const body = await readFile(f).catch((err: Error) => {
          throw new CliError(EXIT.failed, `${f}: ${err.message}`);
        });
        const res = await client.post('/api/v1/coverage', body, params, { 'Content-Type': 'application/octet-stream' });
        results.push({ file: f, ...(json(res) as object) });
        bar.tick();
      }
      bar.done();
      if (v.json) printJson(results);
      else process.stdout.write(`pushed ${files.length} file(s)\n`);
      return EXIT.ok;
    },
  },
  merge: {
    summary: 'merge local coverage files of any format (no gateway needed)',
    usage: 'covgate merge FILES... [-o out] [--format F]',
    flags: LOCAL_FILE_FLAGS,
    help: LOCAL_FILE_HELP,
    async run(v, files) {
      const { readAndMerge, writeCoverage } = await local();
      const map = await readAndMerge(files, v['input-format'] as string | undefined);
      const out = writeCoverage(map, outputFlag(v, 'istanbul'), v.output as string | undefined);
      if (out !== undefined) process.stdout.write(out);
      return EXIT.ok;
    },
  },
  subtract: setOpCommand('subtract', "what A covers that the others do not: A's counts where theirs are 0 (go tool covdata subtract)"),
  intersect: setOpCommand('intersect', "what every file covers: A's counts where each other file's are above 0 (go tool covdata intersect)"),
  report: {
    summary: 'render a report of local files, or of a selection on the gateway',
    usage: 'covgate report FILES... | --from-gateway [label=value ...]  --format html|lcov|... [-o dir|file]',
    flags: { ...GATEWAY_FLAGS, 'from-gateway': { type: 'boolean' }, output: { type: 'string', short: 'o' }, format: { type: 'string', short: 'f' } },
    help: `      --from-gateway       report the gateway's coverage of the selector (label=value args)
  -o, --output <path>      folder for html (default ./coverage), file for the others (default stdout)
  -f, --format <f>         ${LOCAL_OUTPUTS.join(', ')} (default html)`,
    async run(v, pos) {
      const format = outputFlag(v, 'html');
      const { readAndMerge, writeCoverage } = await local();
      let map: CoverageMapData;
      if (v['from-gateway'] || (v.gateway && pos.every((p) => p.includes('=')))) {
        const res = await clientOf(v).get('/api/v1/coverage', { ...selectorOf(pos), format: 'istanbul' });
        map = json(res);
      } else {
        map = await readAndMerge(pos);
      }
      const dest = (v.output as string | undefined) ?? (format === 'html' ? 'coverage' : undefined);
      const out = writeCoverage(map, format, dest);
      if (out !== undefined) process.stdout.write(out);
      else if (format === 'html') process.stdout.write(`report written to ${dest}/index.html\n`);
      return EXIT.ok;
    },
  },
  diff: {
    summary: 'coverage of the lines a patch changed (gateway /api/v1/diff-coverage)',
    usage: 'covgate diff --patch file.diff [label=value ...] [--format json|text|html] [-o file]',
    flags: { ...GATEWAY_FLAGS, patch: { type: 'string' }, format: { type: 'string', short: 'f' }, output: { type: 'string', short: 'o' } },
    help: `      --patch <file>       a unified diff (git diff base...head); - reads stdin
  -f, --format <f>         json, text (default) or html
  -o, --output <file>      write to a file instead of stdout`,
    async run(v, pos) {
      if (!v.patch) throw new CliError(EXIT.usage, 'diff needs --patch <file>');
      const patch = v.patch === '-' ? await readStdin() : await readFile(v.patch as string).catch((err: Error) => {
        throw new CliError(EXIT.failed, `${v.patch}: ${err.message}`);
      });
      const res = await clientOf(v).post('/api/v1/diff-coverage', patch, { ...selectorOf(pos), format: (v.format as string) ?? 'text' }, { 'Content-Type': 'text/x-diff' });
      if (v.output) await writeFile(v.output as string, res.data as Buffer);
      else process.stdout.write(text(res));
      return EXIT.ok;
    },
  },
  check: {
    summary: 'exit non-zero when coverage is below thresholds (like nyc check-coverage)',
    usage: 'covgate check [--lines N] [--statements N] [--functions N] [--branches N] [label=value ... | --files FILES...] [--json]',
    flags: {
      ...GATEWAY_FLAGS,
      lines: { type: 'string' },
      statements: { type: 'string' },
      functions: { type: 'string' },
      branches: { type: 'string' },
      files: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    help: `      --lines|--statements|--functions|--branches <pct>   thresholds (0-100)
      --files              the arguments are local coverage files, not a selector
      --json               {"ok", "total", "failures"}`,
    async run(v, pos) {
      const thresholds: Partial<Record<(typeof KINDS)[number], number>> = {};
      for (const k of KINDS) {
        if (v[k] === undefined) continue;
        const n = Number(v[k]);
        if (!Number.isFinite(n) || n < 0 || n > 100) throw new CliError(EXIT.usage, `--${k} must be a number from 0 to 100`);
        thresholds[k] = n;
      }
      if (!Object.keys(thresholds).length) throw new CliError(EXIT.usage, 'check needs at least one of --lines, --statements, --functions, --branches');
      let total: Record<string, SummaryTotals>;
      if (v.files) {
        const { readAndMerge } = await local();
        const { summarize } = await import('../model/index.ts');
        total = summarize(await readAndMerge(pos)) as never;
      } else {
        const res = await clientOf(v).get('/api/v1/coverage', { ...selectorOf(pos), format: 'json-summary' });
        total = (json(res) as { total: Record<string, SummaryTotals> }).total;
      }
      const failures = checkThresholds(total, thresholds);
      if (v.json) printJson({ ok: failures.length === 0, total, failures });
      else for (const f of failures) process.stderr.write(`ERROR: ${f}\n`);
      return failures.length ? EXIT.failed : EXIT.ok;
    },
  },
};

/** One multipart upload of a GOCOVERDIR's files (the push route reads covmeta.* / covcounters.* parts). */
async function pushGoCoverDir(client: Client, dir: string, params: Record<string, string>) {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /^cov(meta|counters)\./.test(n)).sort();
  } catch (err) {
    throw new CliError(EXIT.failed, `${dir}: ${(err as Error).message}`);
  }
  if (!names.some((n) => n.startsWith('covmeta.'))) throw new CliError(EXIT.failed, `${dir}: no covmeta.* file (is it a GOCOVERDIR a -cover binary wrote?)`);
  const form = new FormData();
  for (const n of names) form.append('f', new Blob([await readFile(join(dir, n))]), n);
  return client.post('/api/v1/coverage', form, { ...params, format: 'gocovdata' });
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export const COMMANDS_HELP = Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(11)}${c.summary}`)
  .join('\n');

/** Runs `covgate <name> ...`; returns the exit code. */
export async function runCommand(name: string, argv: string[]): Promise<number> {
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`covgate: unknown command ${JSON.stringify(name)}\n\nCommands:\n${COMMANDS_HELP}\n  server     run the gateway (the default)\n`);
    return EXIT.usage;
  }
  const help = `Usage: ${cmd.usage}\n\n${cmd.summary}\n\nFlags:\n${[cmd.help, Object.keys(cmd.flags).includes('gateway') ? GATEWAY_HELP : '', '  -h, --help               show this help'].filter(Boolean).join('\n')}\n`;
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { ...cmd.flags, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    if (values.help) {
      process.stdout.write(help);
      return EXIT.ok;
    }
    return await cmd.run(values as Values, positionals);
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`covgate ${name}: ${err.message}\n`);
      if (err.exitCode === EXIT.usage) process.stderr.write(`\n${help}`);
      return err.exitCode;
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`covgate ${name}: ${(err as Error).message}\n\n${help}`);
      return EXIT.usage;
    }
    process.stderr.write(`covgate ${name}: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.failed;
  }
}
