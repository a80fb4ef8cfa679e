import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawSourceMap } from '../shared/v8-accumulator.ts';

/** Fetches a text over HTTP(S); undefined when it cannot. */
export type TextFetcher = (url: string) => Promise<string | undefined>;

export const fetchText: TextFetcher = async (url) => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Where a browser script or original source is reported: `file:` URLs become
 * their path, `webpack://pkg/x` and http(s) URLs become their path part
 * (`/src/a.ts`), put under `sourceRoot` when one is given so reports match
 * the repository's files.
 */
export function reportPath(url: string, sourceRoot?: string): string {
  let path: string;
  if (url.startsWith('file:')) return fileURLToPath(url);
  const wp = /^webpack:\/\/[^/]*\/?(.*)$/.exec(url);
  if (wp) path = posix.normalize(`/${wp[1]}`);
  else {
    try {
      path = decodeURIComponent(new URL(url).pathname);
    } catch {
      path = url;
    }
  }
  return sourceRoot ? posix.join(sourceRoot, path) : path;
}

/** Decodes a `data:` URL's payload (base64 or percent-encoded). */
function decodeDataUrl(url: string): string | undefined {
  const m = /^data:([^,]*?)(;base64)?,(.*)$/s.exec(url);
  if (!m) return undefined;
  return m[2] ? Buffer.from(m[3]!, 'base64').toString('utf8') : decodeURIComponent(m[3]!);
}

/**
 * Loads the source map of a browser script (`sourceMapURL` from
 * `Debugger.scriptParsed`, relative to the script URL; data: or http(s)),
 * rewrites its sources to report paths and fills in missing
 * `sourcesContent` from the page's origin, so v8-to-istanbul never touches
 * the local disk for browser code. Undefined when there is no usable map.
 */
export async function loadBrowserSourceMap(
  scriptUrl: string,
  sourceMapURL: string | undefined,
  fetcher: TextFetcher,
  sourceRoot?: string,
): Promise<RawSourceMap | undefined> {
  if (!sourceMapURL) return undefined;
  let mapUrl: string;
  try {
    mapUrl = new URL(sourceMapURL, scriptUrl).href;
  } catch {
    return undefined;
  }
  const text = mapUrl.startsWith('data:') ? decodeDataUrl(mapUrl) : await fetcher(mapUrl);
  if (!text) return undefined;
  let map: RawSourceMap;
  try {
    map = JSON.parse(text) as RawSourceMap;
  } catch {
    return undefined;
  }
  if (!Array.isArray(map.sources) || typeof map.mappings !== 'string') return undefined;
  const base = mapUrl.startsWith('data:') ? scriptUrl : mapUrl;
  const root = map.sourceRoot ? map.sourceRoot.replace(/\/?$/, '/') : '';
  const resolved = map.sources.map((s) => {
    if (/^[a-z][a-z0-9+.-]*:/i.test(s) && !s.startsWith('webpack:')) return s;
    if (s.startsWith('webpack:')) return s;
    try {
      return new URL(root + s, base).href;
    } catch {
      return s;
    }
  });
  const contents = await Promise.all(
    resolved.map(async (url, i) => {
      const have = map.sourcesContent?.[i];
      if (typeof have === 'string') return have;
      return /^https?:/.test(url) ? ((await fetcher(url)) ?? null) : null;
    }),
  );
  if (contents.some((c) => c === null)) return undefined; // cannot map to what we cannot read
  return {
    ...map,
    sourceRoot: undefined as never,
    sources: resolved.map((u) => reportPath(u, sourceRoot)),
    sourcesContent: contents,
  };
}
