import { isAbsolute, relative, sep } from 'node:path';
import picomatch from 'picomatch';

/**
 * c8's (and nyc's, via @istanbuljs/schema) default exclude list, minus
 * node_modules which `includeNodeModules` governs.
 */
export const DEFAULT_EXCLUDE: readonly string[] = [
  'coverage/**',
  'packages/*/test{,s}/**',
  '**/*.d.ts',
  'test{,s}/**',
  'test{,-*}.{js,cjs,mjs,ts,tsx,jsx}',
  '**/*{.,-}test.{js,cjs,mjs,ts,tsx,jsx}',
  '**/*{.,-}spec.{js,cjs,mjs,ts,tsx,jsx}',
  '**/__tests__/**',
  '**/{ava,babel,nyc}.config.{js,cjs,mjs}',
  '**/jest.config.{js,cjs,mjs,ts}',
  '**/{karma,rollup,webpack}.config.js',
  '**/.{eslint,mocha}rc.{js,cjs}',
];

export interface PathFilterOptions {
  /** Globs a file must match (default: every file). */
  include?: readonly string[];
  /** Globs that exclude a file (default: DEFAULT_EXCLUDE). */
  exclude?: readonly string[];
  /**
   * Report files under node_modules. Also implied when an include glob names
   * node_modules explicitly (c8 needs `--exclude-node-modules=false` for that).
   */
  includeNodeModules?: boolean;
  /** Globs are matched against the path relative to this folder (default: process.cwd()). */
  cwd?: string;
}

/** Splits `a,b , c` (COVGATE_INCLUDE / COVGATE_EXCLUDE); undefined when empty. */
export function parseGlobList(text: string | undefined): string[] | undefined {
  const list = (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return list.length ? list : undefined;
}

/**
 * include/exclude like c8's `--include/--exclude`: picomatch globs against
 * the path relative to cwd (files outside cwd: their absolute path), with
 * dotfiles matched.
 */
export function createPathFilter(opts: PathFilterOptions = {}): (absPath: string) => boolean {
  const cwd = opts.cwd ?? process.cwd();
  const include = opts.include?.length ? opts.include : undefined;
  const nodeModules = opts.includeNodeModules === true || (include ?? []).some((g) => g.includes('node_modules'));
  const exclude = [...(opts.exclude ?? DEFAULT_EXCLUDE), ...(nodeModules ? [] : ['**/node_modules/**'])];
  const isIncluded = include ? picomatch(include as string[], { dot: true }) : () => true;
  const isExcluded = picomatch(exclude, { dot: true });
  return (absPath) => {
    let rel = isAbsolute(absPath) ? relative(cwd, absPath) : absPath;
    if (rel.startsWith('..') || isAbsolute(rel)) rel = absPath;
    if (sep !== '/') rel = rel.split(sep).join('/');
    return isIncluded(rel) && !isExcluded(rel);
  };
}
