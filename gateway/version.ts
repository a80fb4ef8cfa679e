import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** covgate's package.json: the nearest one above this module (sources in gateway/, compiled in dist/gateway/). */
function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    try {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'covgate' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* not ours: keep looking */
    }
  }
  return 'unknown';
}

/** covgate's version, from package.json. */
export const VERSION: string = readVersion();
