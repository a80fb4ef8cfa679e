/**
 * Preload entry: `node --import @covgate/node-exporter/register app.js` (the
 * compiled package), or `--import ./exporters/node/register.mjs` from a checkout.
 * Starts the exporter from the COVGATE_* environment before the application's
 * modules are evaluated, so V8 precise coverage sees every function the app
 * defines. Never prevents the app from starting: a failure is logged and the
 * app runs uncovered.
 */
import { startExporter } from './index.ts';

try {
  await startExporter();
} catch (err) {
  process.stderr.write(`covgate-exporter: not started: ${(err as Error).message}\n`);
}
