import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import axios, { type AxiosInstance } from 'axios';
import { spawnProcess, type Spawned } from './process.ts';

const BIN = fileURLToPath(new URL('../../bin/covgate.js', import.meta.url));

export interface GatewayProcessOptions {
  /** Contents of gateway.yaml (storage.path and server.listen are overridden). */
  configYaml: string;
  /** Reuse a data directory (to restart a gateway on the same store). */
  dataDir?: string;
  /** Keep scrape loops from firing on their own; tests trigger scrapes with POST /api/v1/scrape. Default true. */
  manualScrapes?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Listen address; default 127.0.0.1:0. Restarting a gateway in place passes the address the OS gave it before. */
  listen?: string;
}

export interface GatewayProcess {
  url: string;
  dataDir: string;
  configPath: string;
  api: AxiosInstance;
  process: Spawned;
  /** Overwrites gateway.yaml (for reload tests). */
  writeConfig(yaml: string): void;
  kill(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the real `covgate` binary as a child process on 127.0.0.1 port 0 and waits until it listens. */
export async function startGatewayProcess(opts: GatewayProcessOptions): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'covgate-gw-'));
  const dataDir = opts.dataDir ?? join(dir, 'data');
  const configPath = join(dir, 'gateway.yaml');
  writeFileSync(configPath, opts.configYaml);
  const args = [BIN, '--config', configPath, '--listen', opts.listen ?? '127.0.0.1:0', '--storage.path', dataDir];
  if (opts.manualScrapes ?? true) args.push('--test.manual-scrapes');
  const p = spawnProcess(process.execPath, args, { env: { COVGATE_LOG_LEVEL: 'info', ...opts.env } });
  const m = await p.waitForLine(/"url":"(http:\/\/[^"]+)".*covgate listening/, 30_000);
  const url = m[1]!;
  return {
    url,
    dataDir,
    configPath,
    process: p,
    api: axios.create({ baseURL: url, validateStatus: () => true, proxy: false }),
    writeConfig: (yaml) => writeFileSync(configPath, yaml),
    kill: (signal = 'SIGKILL') => p.kill(signal),
    stop: () => p.kill('SIGTERM'),
  };
}
