import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs (pino) on stdout. `COVGATE_LOG_LEVEL` or the CLI's
 * --log.level picks the level; tests pass 'silent' or 'warn'.
 */
export function createLogger(level: string = process.env.COVGATE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { app: 'covgate' }, timestamp: pino.stdTimeFunctions.isoTime });
}

export const silentLogger: Logger = pino({ level: 'silent' });
