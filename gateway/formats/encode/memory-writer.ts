/**
 * An in-memory stand-in for istanbul-lib-report's FileWriter, so reports
 * render into strings instead of files: `writeFile(name)` returns a
 * ContentWriter (write/println/colorize/close) whose text lands in `files`.
 * `writeFile(null)` (console output, as text-summary asks for) is kept too.
 */
export class MemoryContentWriter {
  private readonly chunks: string[] = [];
  constructor(private readonly onClose: (text: string) => void) {}
  write(str: string): void {
    this.chunks.push(str);
  }
  println(str: string): void {
    this.chunks.push(`${str}\n`);
  }
  /** No terminal: never colour. */
  colorize(str: string): string {
    return str;
  }
  close(): void {
    this.onClose(this.chunks.join(''));
  }
  /** The text written so far (for writers a report never closes). */
  text(): string {
    return this.chunks.join('');
  }
}

export class MemoryWriter {
  readonly files = new Map<string, string>();
  private readonly open = new Map<string, MemoryContentWriter>();

  constructor(private readonly base = '') {}

  writerForDir(subdir: string): MemoryWriter {
    return new MemoryWriter(`${this.base}${subdir}/`);
  }

  writeFile(file: string | null): MemoryContentWriter {
    const name = file === null || file === '-' ? '-' : `${this.base}${file}`;
    const writer = new MemoryContentWriter((text) => {
      this.files.set(name, text);
      this.open.delete(name);
    });
    this.open.set(name, writer);
    return writer;
  }

  copyFile(): void {
    throw new Error('in-memory report writer: copying asset files is not supported (HTML reports go to disk)');
  }

  /** The content of one output, closed or not. */
  read(name: string): string | undefined {
    return this.files.get(name) ?? this.open.get(name)?.text();
  }

  /** Everything written, in one string (for single-output reports). */
  all(): string {
    return [...this.files.values(), ...[...this.open.values()].map((w) => w.text())].join('');
  }
}
