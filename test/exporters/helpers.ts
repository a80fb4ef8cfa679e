import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import libCoverage from 'istanbul-lib-coverage';
import type { FileCoverageData } from 'istanbul-lib-coverage';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(ROOT, 'test', 'fixtures', 'apps');
/** The plain-JS preload entry: apps need neither tsx nor a code change. */
export const REGISTER = join(ROOT, 'exporters', 'node', 'register.mjs');

/** Line number of the line carrying `@mark:<name>`. */
export function markLine(file: string, name: string): number {
  const lines = readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(`@mark:${name}`) && !l.includes(`@mark:${name}-`));
  if (i < 0) throw new Error(`no @mark:${name} in ${file}`);
  return i + 1;
}

/** Line → hits of one Istanbul file coverage. */
export function lineHits(file: FileCoverageData): Record<string, number> {
  return libCoverage.createFileCoverage(file).getLineCoverage() as Record<string, number>;
}

/** Resolves with the first line of `stream` matching `re` (event-driven; rejects on close). */
export function waitForLine(child: ChildProcess, which: 'stdout' | 'stderr', re: RegExp): Promise<RegExpMatchArray> {
  const stream = child[which]!;
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString();
      const m = buf.match(re);
      if (m) {
        stream.off('data', onData);
        child.off('exit', onExit);
        resolve(m);
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      reject(new Error(`process exited (${code ?? signal}) before printing ${re}; ${which}: ${buf}`));
    };
    stream.on('data', onData);
    child.once('exit', onExit);
  });
}

export interface RunningApp {
  child: ChildProcess;
  appUrl: string;
  exporterUrl: string;
  stderr: () => string;
  stdout: () => string;
  /** Resolves once stderr (so far or later) matches `re`. */
  waitStderr(re: RegExp): Promise<void>;
  /** SIGKILL if still running; resolves when it exited. */
  kill(): Promise<void>;
}

/** Starts `entry` as a real child process with the exporter preloaded via --import. */
export async function startApp(entry: string, env: Record<string, string> = {}, cwd?: string): Promise<RunningApp> {
  const child = spawn(process.execPath, ['--import', REGISTER, entry], {
    cwd: cwd ?? dirname(entry),
    env: { ...process.env, COVGATE_EXPORTER_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = once(child, 'exit');
  try {
    const [listening, serving] = await Promise.all([
      waitForLine(child, 'stdout', /listening (\d+)/),
      waitForLine(child, 'stderr', /serving coverage on (http:\/\/[^/\s]+)\/coverage/),
    ]);
    return {
      child,
      appUrl: `http://127.0.0.1:${listening[1]}`,
      exporterUrl: serving[1]!,
      stderr: () => err,
      stdout: () => out,
      waitStderr: (re) =>
        new Promise<void>((resolve, reject) => {
          if (re.test(err)) return resolve();
          const onData = (): void => {
            if (!re.test(err)) return;
            child.stderr!.off('data', onData);
            resolve();
          };
          child.stderr!.on('data', onData);
          child.once('exit', () => reject(new Error(`exited before stderr matched ${re}: ${err}`)));
        }),
      async kill() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
    };
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\nstderr: ${err}`);
  }
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  json: <T = any>() => T;
}

/** Minimal HTTP client that shows raw responses (gzip, 304) as they came. */
export function http(method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const plain = res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        const text = plain.toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Envelope as the node exporter serves it. */
export interface Envelope {
  format: string;
  instance: string;
  startTime: string;
  build: Record<string, string>;
  counters: string;
  structure: string;
  data?: Record<string, FileCoverageData>;
  hits?: Record<string, { s: number[]; f: number[]; b: number[][] }>;
}

export async function scrape(exporterUrl: string, headers: Record<string, string> = {}): Promise<Envelope> {
  const res = await http('GET', `${exporterUrl}/coverage`, headers);
  if (res.status !== 200) throw new Error(`scrape answered ${res.status}: ${res.text}`);
  return res.json<Envelope>();
}
