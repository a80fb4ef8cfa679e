// Entry of the report render worker: a worker thread does not inherit the
// main thread's tsx hooks on Node 20, so it registers them before loading TS.
import { register } from 'tsx/esm/api';

register();
await import('./render-worker.ts');
