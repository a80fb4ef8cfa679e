/**
 * The `covgate` command: parses flags, starts the gateway, wires signals
 * (SIGHUP reloads, SIGTERM/SIGINT stop gracefully).
 */
import { parseArgs } from 'node:util';
import { createGateway, VERSION } from '../main.ts';
import { createLogger, type Logger } from '../log/index.ts';
import { createManualScheduler } from '../clock/index.ts';
import { describeError } from '../errors.ts';

const HELP = `covgate ${VERSION} — pull-based coverage gateway

Usage: covgate [--config gateway.yaml] [flags]

Flags:
  -c, --config <file>        gateway.yaml to load (default: ./gateway.yaml)
      --listen <host:port>   override server.listen (e.g. 127.0.0.1:0)
      --storage.path <dir>   override storage.path (LevelDB directory)
      --log.level <level>    trace|debug|info|warn|error|silent (default: info, or $COVGATE_LOG_LEVEL)
      --test.manual-scrapes  for tests: scrape loops never fire by themselves (use POST /api/v1/scrape)
  -h, --help                 show this help
  -v, --version              print the version

Signals: SIGHUP reloads the config (like POST /-/reload); SIGTERM/SIGINT stop.
Docs: README.md and docs/architecture.md.`;

export async function main(argv = process.argv.slice(2)): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c', default: 'gateway.yaml' },
        listen: { type: 'string' },
        'storage.path': { type: 'string' },
        'log.level': { type: 'string' },
        'test.manual-scrapes': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`covgate: ${describeError(err)}\n\n${HELP}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`covgate ${VERSION}\n`);
    return 0;
  }
  const logger = createLogger(values['log.level'] ?? process.env.COVGATE_LOG_LEVEL ?? 'info');
  installLastResort(logger);
  const gateway = createGateway({
    configPath: values.config!,
    listen: values.listen,
    storagePath: values['storage.path'],
    logger,
    scheduler: values['test.manual-scrapes'] ? createManualScheduler() : undefined,
  });
  // Installed before start: a SIGHUP that arrives once "covgate listening" is
  // logged but before start() returned must reload, not kill the process.
  let started = false;
  let reloadWhenStarted = false;
  const reload = () => void gateway.reload().catch(() => undefined); // reload logs its own outcome
  process.on('SIGHUP', () => {
    if (started) reload();
    else reloadWhenStarted = true;
  });
  try {
    await gateway.start();
  } catch (err) {
    logger.fatal({ err: describeError(err) }, 'covgate failed to start');
    await gateway.stop().catch(() => undefined);
    return 1;
  }
  started = true;
  if (reloadWhenStarted) reload();
  await new Promise<void>((resolve) => {
    const onStop = (sig: string) => {
      logger.info({ signal: sig }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', onStop);
    process.once('SIGINT', onStop);
  });
  await gateway.stop();
  return 0;
}

/**
 * Last resort, not the design: every promise in gateway/ is awaited or caught
 * where it is created, and request errors go through the API's one error
 * middleware. Should a bug slip past that anyway, one bad request must not take
 * the shared gateway down for every other client: the error is logged with its
 * stack (level fatal, so it is noticed) and the process keeps serving. Store
 * writes are single LevelDB batches, so an aborted operation leaves no half
 * state behind.
 */
function installLastResort(logger: Logger): void {
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason instanceof Error ? reason : new Error(String(reason)) }, 'BUG: unhandled promise rejection (kept running)');
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'BUG: uncaught exception (kept running)');
  });
}

const invoked = process.argv[1] ?? '';
if (import.meta.url === new URL(`file://${invoked}`).href || invoked.endsWith('gateway/cli/index.ts')) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`covgate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
