import { fileURLToPath } from 'node:url';
import axios from 'axios';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { spawnProcess, type Spawned } from './process.ts';

export const SAMPLE_APP = fileURLToPath(new URL('../fixtures/sample-service/app.cjs', import.meta.url));
const SERVER = fileURLToPath(new URL('../fixtures/sample-service/server.mjs', import.meta.url));

export interface ExporterOptions {
  /** Serve the covgate envelope (instance, build) instead of plain Istanbul JSON. */
  envelope?: boolean;
  /** Serve counters since the last read (delta exporter). */
  delta?: boolean;
  /** Support the structure-once exchange. */
  structure?: boolean;
  instance?: string;
  /** Listen on this port (to restart a process in place); default 0. */
  port?: number;
  /** Answer If-None-Match with 304 when nothing changed. */
  etag?: boolean;
  /** The envelope's build.commit (default abc123) and build.branch. */
  commit?: string;
  branch?: string;
}

export interface ExporterProcess {
  /** Base URL, http://127.0.0.1:<port>. */
  url: string;
  /** host:port, as a static target. */
  address: string;
  instance: string;
  /** Sends one request to the sample app (real traffic). */
  hit(path: string): Promise<void>;
  /** The raw `__coverage__` of the process right now. */
  raw(): Promise<CoverageMapData>;
  /** Test counters of the process: 304s served, and envelope replies with the full map or counters only (--structure). */
  stats(): Promise<{ served304: number; fullReplies: number; countersOnlyReplies: number }>;
  /** Switches the coverage endpoint's behaviour (failure injection in the real process). */
  mode(m: 'ok' | '404' | '500' | 'garbage' | 'slow' | 'huge' | 'hugegzip'): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
  process: Spawned;
}

/** Starts a real sample service process instrumented with istanbul-lib-instrument, on 127.0.0.1 port 0. */
export async function startIstanbulExporter(opts: ExporterOptions = {}): Promise<ExporterProcess> {
  const args = [SERVER];
  if (opts.envelope) args.push('--envelope');
  if (opts.delta) args.push('--delta');
  if (opts.structure) args.push('--structure');
  if (opts.instance) args.push('--instance', opts.instance);
  if (opts.port) args.push('--port', String(opts.port));
  if (opts.etag) args.push('--etag');
  if (opts.commit) args.push('--commit', opts.commit);
  if (opts.branch) args.push('--branch', opts.branch);
  const p = spawnProcess(process.execPath, args);
  const m = await p.waitForLine(/^LISTENING (\d+) (\S+)/);
  const address = `127.0.0.1:${m[1]}`;
  const url = `http://${address}`;
  return {
    url,
    address,
    instance: m[2]!,
    process: p,
    async hit(path) {
      await axios.get(`${url}${path}`, { validateStatus: () => true, proxy: false });
    },
    async raw() {
      return (await axios.get(`${url}/__raw`, { proxy: false })).data as CoverageMapData;
    },
    async stats() {
      return (await axios.get(`${url}/__stats`, { proxy: false })).data as { served304: number; fullReplies: number; countersOnlyReplies: number };
    },
    async mode(m) {
      await axios.post(`${url}/__mode?m=${m}`, undefined, { proxy: false });
    },
    stop: (signal) => p.kill(signal),
  };
}
