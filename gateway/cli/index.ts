/**
 * The `covgate` command. With no command (or `server`): parses flags, starts
 * the gateway, wires signals (SIGHUP reloads, SIGTERM/SIGINT stop
 * gracefully). Other commands (commands.ts) talk to a running gateway or
 * work on local files.
 */
import { parseArgs } from 'node:util';
import { VERSION } from '../version.ts';
import { createLogger, type Logger } from '../log/index.ts';
import { createManualScheduler } from '../clock/index.ts';
import { describeError } from '../errors.ts';
import { COMMANDS, COMMANDS_HELP, runCommand } from './commands.ts';
import { applyHeapGrowth, parseHeapGrowth } from './heap.ts';

const HELP = `covgate ${VERSION} — pull-based coverage gateway

Usage: covgate [server] [--config gateway.yaml] [flags]
       covgate <command> [args] (each command has --help)

Commands:
  server     run the gateway (the default)
${COMMANDS_HELP}

Server flags:
  -c, --config <file>        gateway.yaml to load (default: ./gateway.yaml)
      --listen <host:port>   override server.listen (e.g. 127.0.0.1:0)
      --storage.path <dir>   override storage.path (LevelDB directory)
      --log.level <level>    trace|debug|info|warn|error|silent (default: info, or $COVGATE_LOG_LEVEL)
      --runtime.heap-growth <percent>
                             how far the heap may grow past live data before a full GC,
                             like GOGC (default: 100; 0 leaves V8's own policy)
      --test.manual-scrapes  for tests: scrape loops never fire by themselves (use POST /api/v1/scrape)
  -h, --help                 show this help
  -v, --version              print the version

Signals: SIGHUP reloads the config (like POST /-/reload); SIGTERM/SIGINT stop.
Exit codes: 0 ok; 1 failed (gateway refused, check below threshold, bad file);
2 bad command line; 3 gateway unreachable.
Docs: README.md and docs/architecture.md.`;

export interface MainOptions {
  /**
   * For bin/covgate.js, which listens for SIGHUP from its first line: called once
   * main's own handler is installed; removes the early handler and says whether
   * a SIGHUP came while the sources were loading (it is then replayed as a reload).
   */
  pendingSighup?: () => boolean;
}

export async function main(argv = process.argv.slice(2), opts: MainOptions = {}): Promise<number> {
  const first = argv[0];
  if (first === 'server') argv = argv.slice(1);
  else if (first !== undefined && !first.startsWith('-')) {
    if (first === 'help') {
      if (argv[1] && Object.hasOwn(COMMANDS, argv[1])) return runCommand(argv[1], ['--help']);
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    const code = await runCommand(first, argv.slice(1));
    // bin/covgate.js exits right after: let piped output drain first
    await new Promise<void>((r) => process.stdout.write('', () => r()));
    return code;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c', default: 'gateway.yaml' },
        listen: { type: 'string' },
        'storage.path': { type: 'string' },
        'log.level': { type: 'string' },
        'runtime.heap-growth': { type: 'string' },
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
  const heapGrowth = parseHeapGrowth(values['runtime.heap-growth']);
  if (typeof heapGrowth !== 'number') {
    process.stderr.write(`covgate: ${heapGrowth.error}\n`);
    return 2;
  }
  const logger = createLogger(values['log.level'] ?? process.env.COVGATE_LOG_LEVEL ?? 'info');
  installLastResort(logger);
  logger.info({ heapGrowth: applyHeapGrowth(heapGrowth) }, 'heap growth policy');
  // loaded here, not at the top: client commands start without the gateway's modules
  const { createGateway } = await import('../main.ts');
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
  if (opts.pendingSighup?.()) reloadWhenStarted = true;
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
