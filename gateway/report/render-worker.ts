/** Worker thread body: renders the jobs the gateway posts, one at a time. */
import { parentPort } from 'node:worker_threads';
import { renderHtml, type RenderJob } from './render.ts';

parentPort!.on('message', (msg: { id: number; job: RenderJob }) => {
  try {
    renderHtml(msg.job);
    parentPort!.postMessage({ id: msg.id });
  } catch (err) {
    parentPort!.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
  }
});
