/**
 * Runs report renders on a worker thread so the gateway keeps serving while
 * istanbul-reports writes (seconds for a big selection). One worker, jobs in
 * order; a job that takes longer than `timeoutMs` terminates the worker (it
 * is started again for the next job) and fails with a clear error.
 */
import { systemTimers, type Timers } from '../clock/index.ts';
import { Worker } from 'node:worker_threads';
import { errors } from '../errors.ts';
import type { RenderJob } from './render.ts';

export interface Renderer {
  render(job: RenderJob): Promise<void>;
  stop(): Promise<void>;
}

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: unknown;
}

export function createRenderer(opts: { timeoutMs?: number; timers?: Timers } = {}): Renderer {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const timers = opts.timers ?? systemTimers;
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, Pending>();

  function failAll(err: Error): void {
    for (const [id, p] of pending) {
      timers.clearTimeout(p.timer);
      pending.delete(id);
      p.reject(err);
    }
  }

  function start(): Worker {
    // from sources (tsx) the worker needs tsx's hooks registered first; compiled, it is plain JavaScript
    const entry = import.meta.url.endsWith('.ts') ? './render-worker.mjs' : './render-worker.js';
    const w = new Worker(new URL(entry, import.meta.url));
    w.unref();
    w.on('message', (msg: { id: number; error?: string }) => {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      timers.clearTimeout(p.timer);
      if (msg.error === undefined) p.resolve();
      else p.reject(errors.internal(`report rendering failed: ${msg.error}`));
    });
    w.on('error', (err) => {
      if (worker === w) worker = undefined;
      failAll(errors.internal(`report renderer failed: ${err.message}`));
    });
    w.on('exit', () => {
      if (worker === w) worker = undefined;
      failAll(errors.internal('report renderer stopped'));
    });
    return w;
  }

  return {
    render(job) {
      worker ??= start();
      const w = worker;
      const id = nextId++;
      return new Promise<void>((resolve, reject) => {
        const timer = timers.setTimeout(() => {
          pending.delete(id);
          reject(errors.internal(`report rendering took longer than ${timeoutMs / 1000} s`));
          if (worker === w) worker = undefined;
          void w.terminate().catch(() => undefined);
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        w.postMessage({ id, job });
      });
    },
    async stop() {
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
      failAll(errors.internal('report renderer stopped'));
    },
  };
}
