#!/usr/bin/env node
/**
 * Browser coverage sidecar:
 *   npx tsx exporters/browser/main.ts --cdp http://127.0.0.1:9222 [--cdp …] \
 *     [--port 0] [--host 127.0.0.1] [--gateway http://gw:9464] [--job web] \
 *     [--service shop-ui] [--label k=v …] [--ttl 60s] [--interval 5s] [--source-root DIR]
 * Every flag falls back to the COVGATE_* variable of the node exporter
 * (COVGATE_CDP takes a comma-separated list).
 */
import { parseArgs } from 'node:util';
import { buildInfo, parseDurationMs, parseLabels, stderrLogger } from '../shared/settings.ts';
import { startBrowserExporter } from './index.ts';

const env = process.env;
const { values } = parseArgs({
  options: {
    cdp: { type: 'string', multiple: true },
    port: { type: 'string' },
    host: { type: 'string' },
    gateway: { type: 'string' },
    job: { type: 'string' },
    service: { type: 'string' },
    label: { type: 'string', multiple: true },
    ttl: { type: 'string' },
    interval: { type: 'string' },
    'source-root': { type: 'string' },
    'include-node-modules': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});

const logger = stderrLogger('covgate-browser-exporter');
const cdp = values.cdp ?? (env.COVGATE_CDP ? env.COVGATE_CDP.split(',') : []);
if (values.help || cdp.length === 0) {
  process.stderr.write('usage: main.ts --cdp http://127.0.0.1:9222 [--cdp …] [--port 0] [--gateway URL] [--job NAME] [--service NAME] [--label k=v] [--ttl 60s] [--interval 5s] [--source-root DIR]\n');
  process.exit(values.help ? 0 : 2);
}

const gateway = values.gateway ?? env.COVGATE_GATEWAY;
const job = values.job ?? env.COVGATE_JOB;
const service = values.service ?? env.COVGATE_SERVICE;
const ttl = values.ttl ?? env.COVGATE_TTL;
const intervalMs = parseDurationMs(values.interval);
const sourceRoot = values['source-root'];
try {
  const exporter = await startBrowserExporter({
    cdp,
    port: Number(values.port ?? env.COVGATE_EXPORTER_PORT ?? 0),
    host: values.host ?? env.COVGATE_EXPORTER_HOST ?? '127.0.0.1',
    labels: { ...parseLabels(env.COVGATE_LABELS), ...parseLabels((values.label ?? []).join(',')) },
    build: buildInfo(env, process.cwd()),
    includeNodeModules: values['include-node-modules'] ?? env.COVGATE_INCLUDE_NODE_MODULES === '1',
    logger,
    ...(gateway ? { gateway } : {}),
    ...(job ? { job } : {}),
    ...(service ? { service } : {}),
    ...(ttl ? { ttl } : {}),
    ...(env.COVGATE_TOKEN ? { token: env.COVGATE_TOKEN } : {}),
    ...(intervalMs ? { intervalMs } : {}),
    ...(sourceRoot ? { sourceRoot } : {}),
  });
  const shutdown = (sig: string): void => {
    logger.info(`${sig}: deregistering and closing`);
    void exporter.stop().finally(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
} catch (err) {
  logger.warn(`cannot start: ${(err as Error).message}`);
  process.exit(1);
}
