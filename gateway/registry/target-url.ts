import ipaddr from 'ipaddr.js';
import { errors } from '../errors.ts';

/** A registered target's URL, split and normalised the way the scraper will use it. */
export interface TargetUrl {
  /** The string as given (for messages). */
  raw: string;
  scheme: 'http' | 'https';
  /** Lower-case host name or IP literal, IPv6 without brackets; IPv4 in dotted-quad form. */
  hostname: string;
  /** Whether `hostname` is an IP literal (so no DNS is involved). */
  isIp: boolean;
  /** Explicit port, or 80/443 when the URL has none. */
  port: number;
  /** `host:port` (`[v6]:port`), what `__address__` holds. */
  address: string;
  /** Path and query; '' when the URL has no path (or just "/"), so the scrape config's coverage_path applies. */
  path: string;
  /** `scheme://address` + path: the identity of the target (lease ids hash it). */
  normalized: string;
  /** The URL carried `user[:password]@`; the allowlist refuses such URLs. */
  hasUserinfo: boolean;
}

const MAX_URL_LENGTH = 2048;
const AUTHORITY_RE = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/s;

/**
 * Parses a target URL given at registration. Checks the raw text before the
 * WHATWG parser sees it, because that parser is lenient where a scrape target
 * must not be: it would accept `host:` or drop a default port silently, and
 * it turns `http://2130706433/` into 127.0.0.1, which is why the allowlist
 * must judge the normalised host, never the raw text.
 *
 * Throws `errors.badData` naming `field` for anything malformed. Does not
 * judge where the URL points (that is the allowlist's job).
 */
export function parseTargetUrl(input: unknown, field = 'url'): TargetUrl {
  const bad = (why: string) => errors.badData(`${field} ${why}`);
  if (typeof input !== 'string' || input === '') throw bad(`must be an http(s) URL like http://10.0.0.5:8080, got ${JSON.stringify(input ?? null)}`);
  const raw = input;
  if (raw.length > MAX_URL_LENGTH) throw bad(`is longer than ${MAX_URL_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) throw bad(`must not contain whitespace or control characters, got ${JSON.stringify(raw)}`);

  const m = AUTHORITY_RE.exec(raw);
  if (!m) throw bad(`must be an http(s) URL like http://10.0.0.5:8080, got ${JSON.stringify(raw)}`);
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') throw bad(`must use http or https, got ${JSON.stringify(scheme)} in ${JSON.stringify(raw)}`);
  if (m[3]!.includes('#')) throw bad(`must not have a fragment, got ${JSON.stringify(raw)}`);

  const authority = m[2]!;
  const at = authority.lastIndexOf('@');
  const hostPort = at >= 0 ? authority.slice(at + 1) : authority;
  const unbracketedV6 = !hostPort.startsWith('[') && hostPort.split(':').length > 2;
  const hp = unbracketedV6 ? null : (/^\[([^\]]*)\](?::(.*))?$/.exec(hostPort) ?? /^([^:[\]]*)(?::(.*))?$/.exec(hostPort));
  if (!hp) throw bad(`has a malformed host ${JSON.stringify(hostPort)} (IPv6 addresses go in brackets: http://[::1]:8080)`);
  if (hp[1] === '') throw bad(`has no host: ${JSON.stringify(raw)}`);
  const portText = hp[2];
  if (portText !== undefined && !/^\d{1,5}$/.test(portText)) throw bad(`port must be a number 1-65535, got ${JSON.stringify(portText)}`);
  if (portText !== undefined && (Number(portText) < 1 || Number(portText) > 65535)) throw bad(`port must be 1-65535, got ${portText}`);

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad(`is not a valid URL: ${JSON.stringify(raw)}`);
  }
  const bracketed = url.hostname.startsWith('[');
  const hostname = bracketed ? url.hostname.slice(1, -1) : url.hostname.toLowerCase();
  if (hostname === '') throw bad(`has no host: ${JSON.stringify(raw)}`);
  const isIp = bracketed ? ipaddr.IPv6.isValid(hostname) : ipaddr.IPv4.isValidFourPartDecimal(hostname);
  const port = url.port === '' ? (scheme === 'https' ? 443 : 80) : Number(url.port);
  const address = `${bracketed ? `[${hostname}]` : hostname}:${port}`;
  const path = url.pathname === '/' && url.search === '' ? '' : url.pathname + url.search;
  return {
    raw,
    scheme,
    hostname,
    isIp,
    port,
    address,
    path,
    normalized: `${scheme}://${address}${path}`,
    hasUserinfo: at >= 0 || url.username !== '' || url.password !== '',
  };
}
