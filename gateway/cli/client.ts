/**
 * The CLI's view of a running gateway: its HTTP API (docs/contract.md §2).
 * Base URL from --gateway, $COVGATE_URL, or the default listen address; the
 * bearer token from --token, --token-file or $COVGATE_TOKEN.
 */
import { readFileSync } from 'node:fs';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { CliError, EXIT } from './output.ts';

export interface ClientOptions {
  gateway?: string;
  token?: string;
  'token-file'?: string;
}

export const DEFAULT_GATEWAY = 'http://127.0.0.1:9464';

export interface Client {
  base: string;
  get(path: string, params?: Record<string, string | string[]>): Promise<AxiosResponse>;
  post(path: string, body?: unknown, params?: Record<string, string | string[]>, headers?: Record<string, string>): Promise<AxiosResponse>;
  delete(path: string): Promise<AxiosResponse>;
}

export function createClient(opts: ClientOptions): Client {
  const base = (opts.gateway ?? process.env.COVGATE_URL ?? DEFAULT_GATEWAY).replace(/\/+$/, '');
  try {
    const u = new URL(base);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new CliError(EXIT.usage, `--gateway ${JSON.stringify(base)} is not an http(s) URL`);
  }
  let token = opts.token ?? process.env.COVGATE_TOKEN;
  if (opts['token-file']) {
    try {
      token = readFileSync(opts['token-file'], 'utf8').trim();
    } catch (err) {
      throw new CliError(EXIT.usage, `cannot read --token-file: ${(err as Error).message}`);
    }
  }
  const http: AxiosInstance = axios.create({
    baseURL: base,
    proxy: false,
    maxRedirects: 0,
    timeout: 10 * 60_000,
    maxBodyLength: Infinity,
    maxContentLength: Infinity,
    validateStatus: () => true,
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    paramsSerializer: { indexes: null },
  });
  const call = async (run: () => Promise<AxiosResponse>): Promise<AxiosResponse> => {
    let res: AxiosResponse;
    try {
      res = await run();
    } catch (err) {
      throw new CliError(EXIT.unreachable, `cannot reach the gateway at ${base}: ${(err as Error).message}`);
    }
    if (res.status >= 400) {
      const data = res.data as { error?: string } | string | undefined;
      let why = typeof data === 'object' && data && typeof data.error === 'string' ? data.error : '';
      if (!why && Buffer.isBuffer(data)) why = data.toString('utf8').slice(0, 300);
      if (!why && typeof data === 'string') why = data.slice(0, 300);
      throw new CliError(EXIT.failed, `gateway answered HTTP ${res.status}${why ? `: ${why}` : ''}`);
    }
    return res;
  };
  return {
    base,
    get: (path, params) => call(() => http.get(path, { params, responseType: 'arraybuffer' })),
    post: (path, body, params, headers) => call(() => http.post(path, body, { params, headers, responseType: 'arraybuffer' })),
    delete: (path) => call(() => http.delete(path, { responseType: 'arraybuffer' })),
  };
}

/** A response body parsed as JSON (the API's answers). */
export function json<T = any>(res: AxiosResponse): T {
  const text = Buffer.isBuffer(res.data) ? res.data.toString('utf8') : String(res.data);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CliError(EXIT.failed, `gateway answered something that is not JSON (HTTP ${res.status})`);
  }
}
