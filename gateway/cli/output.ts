/** Exit codes, errors and terminal output shared by the CLI's commands. */

/** Documented in `covgate help` and README: scripts rely on them. */
export const EXIT = {
  ok: 0,
  /** The operation failed: the gateway refused it, a check is below its threshold, a file is not coverage. */
  failed: 1,
  /** Bad command line. */
  usage: 2,
  /** The gateway could not be reached. */
  unreachable: 3,
} as const;

export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A one-line progress bar on stderr, only when stdout is a terminal (so
 * pipes and `--json` output stay clean). `tick()` per finished item.
 */
export function progress(label: string, total: number): { tick(): void; done(): void } {
  const on = Boolean(process.stdout.isTTY && process.stderr.isTTY) && total > 1;
  let n = 0;
  const draw = () => {
    const width = 30;
    const filled = Math.round((n / total) * width);
    process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${n}/${total}`);
  };
  if (on) draw();
  return {
    tick() {
      n++;
      if (on) draw();
    },
    done() {
      if (on) process.stderr.write('\n');
    },
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Plain text table, columns padded. */
export function table(rows: string[][]): string {
  if (!rows.length) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
