import { systemTimers, type Timers } from '../clock/index.ts';
import { promises as dns } from 'node:dns';
import ipaddr from 'ipaddr.js';
import picomatch from 'picomatch';
import { errors } from '../errors.ts';
import { parseTargetUrl, type TargetUrl } from './target-url.ts';

type IP = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [IP, number];

/** `dns.promises.lookup(host, {all: true})`, injectable so tests resolve names without DNS. */
export type LookupAll = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export interface AllowlistOptions {
  /** Timers for the DNS lookup timeout; the system's unless injected. */
  timers?: Timers;
  lookup?: LookupAll;
  /** Give up resolving a name after this long (then 503, retryable). Default 5s. */
  lookupTimeoutMs?: number;
}

/**
 * Decides which URLs may be registered as scrape targets
 * (`registration.allowed_targets`). Self-registration makes the gateway send
 * requests wherever a client says, so this is its SSRF guard.
 *
 * Contract: `check(url)` resolves when every address the URL can reach is
 * allowed, and otherwise rejects with `errors.forbidden` (403) whose message
 * names the URL, the host and the allowlist; a malformed URL is
 * `errors.badData`, a resolver failure that may pass is `errors.unavailable`.
 * - IP literals must lie inside an allowed CIDR (IPv4-mapped IPv6 addresses
 *   are judged as the IPv4 address they map).
 * - Host names matching a glob are allowed as they are (the operator trusts
 *   that domain); other names are resolved and allowed only when EVERY
 *   address is allowed.
 * - Link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10,
 *   fd00:ec2::254) and unspecified ones (0.0.0.0/8, ::) are refused unless an
 *   entry lies inside that range itself: 0.0.0.0/0 does not open them,
 *   169.254.0.0/16 does.
 * - URLs with user info (`http://user@host`) are refused: they serve only
 *   to smuggle a second host past a human reading the URL.
 * - An empty list allows loopback only (127.0.0.0/8, ::1).
 */
export interface Allowlist {
  readonly entries: readonly string[];
  check(url: string | TargetUrl): Promise<void>;
  /**
   * At connection time: why connecting to `address` for `host` is refused, or
   * undefined when allowed (a host matching a glob entry is trusted as at
   * registration; otherwise the address itself must be allowed). Catches DNS
   * rebinding: a name that resolved to an allowed address at registration and
   * to another one now.
   */
  connectRefusal(host: string, address: string): string | undefined;
}

const LOOPBACK = ['127.0.0.0/8', '::1/128'];
/** Reachable only by explicit consent: link-local (cloud metadata lives there) and "this host". */
const GUARDED: Array<{ range: Cidr; what: string }> = [
  { range: ipaddr.parseCIDR('169.254.0.0/16'), what: 'link-local / cloud metadata' },
  { range: ipaddr.parseCIDR('fe80::/10'), what: 'link-local' },
  { range: ipaddr.parseCIDR('fd00:ec2::254/128'), what: 'cloud metadata' },
  { range: ipaddr.parseCIDR('0.0.0.0/8'), what: 'unspecified ("this host")' },
  { range: ipaddr.parseCIDR('::/128'), what: 'unspecified ("this host")' },
];

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address: that is where a connection goes. */
function normalizeIp(ip: IP): IP {
  return ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() ? (ip as ipaddr.IPv6).toIPv4Address() : ip;
}

function parseCidrEntry(entry: string): Cidr | undefined {
  let cidr: Cidr;
  if (entry.includes('/')) {
    if (!ipaddr.isValidCIDR(entry)) return undefined;
    cidr = ipaddr.parseCIDR(entry);
  } else if (ipaddr.IPv6.isValid(entry) || ipaddr.IPv4.isValidFourPartDecimal(entry)) {
    const ip = ipaddr.parse(entry);
    cidr = [ip, ip.kind() === 'ipv4' ? 32 : 128];
  } else {
    return undefined;
  }
  const [ip, bits] = cidr;
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) return [(ip as ipaddr.IPv6).toIPv4Address(), bits - 96];
  return cidr;
}

const inRange = (ip: IP, [net, bits]: Cidr) => ip.kind() === net.kind() && ip.match(net, bits);
/** `inner` lies entirely inside `outer`. */
const within = (inner: Cidr, outer: Cidr) => inner[1] >= outer[1] && inRange(inner[0], outer);

export function createAllowlist(entries: readonly string[], opts: AllowlistOptions = {}): Allowlist {
  const lookup: LookupAll = opts.lookup ?? ((host) => dns.lookup(host, { all: true, verbatim: true }));
  const lookupTimeoutMs = opts.lookupTimeoutMs ?? 5000;
  const timers = opts.timers ?? systemTimers;
  const effective = entries.length === 0 ? LOOPBACK : [...entries];
  const shown = `registration.allowed_targets [${effective.join(', ')}]${entries.length === 0 ? ' (the default when the list is empty)' : ''}`;

  const cidrs: Array<{ entry: string; range: Cidr }> = [];
  const globs: Array<(host: string) => boolean> = [];
  for (const entry of effective) {
    const cidr = parseCidrEntry(entry);
    if (cidr) cidrs.push({ entry, range: cidr });
    else if (entry.includes('/') || entry.trim() === '') throw errors.badConfig(`registration.allowed_targets: bad entry ${JSON.stringify(entry)}`);
    else globs.push(picomatch(entry.toLowerCase(), { nocase: true, dot: true }));
  }

  /** Why `ip` is not allowed, or undefined when it is. */
  function refusal(rawIp: IP): string | undefined {
    const ip = normalizeIp(rawIp);
    const allowedBy = cidrs.filter((c) => inRange(ip, c.range));
    if (allowedBy.length === 0) return `${ip.toString()} is not in ${shown}`;
    const guard = GUARDED.find((g) => inRange(ip, g.range));
    if (!guard || allowedBy.some((c) => within(c.range, guard.range))) return undefined;
    const range = `${guard.range[0].toString()}/${guard.range[1]}`;
    return `${ip.toString()} is ${guard.what} (${range}), which ${allowedBy[0]!.entry} does not open: list a CIDR inside ${range} in ${shown} to allow it`;
  }

  async function resolve(t: TargetUrl): Promise<IP[]> {
    let timer: unknown;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = timers.setTimeout(() => reject(Object.assign(new Error(`lookup timed out after ${lookupTimeoutMs}ms`), { code: 'ETIMEOUT' })), lookupTimeoutMs);
      });
      const found = await Promise.race([lookup(t.hostname), timeout]);
      return found.map((a) => ipaddr.parse(a.address.replace(/%.*$/, '')));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') {
        throw errors.badData(`registration of ${t.raw} refused: host ${t.hostname} does not resolve (${code}); register an address in ${shown}`);
      }
      throw errors.unavailable(`registration of ${t.raw}: cannot resolve host ${t.hostname} now (${code ?? (err as Error).message}); try again`);
    } finally {
      timers.clearTimeout(timer);
    }
  }

  return {
    entries: [...entries],
    connectRefusal(host, address) {
      const h = host.replace(/^\[|\]$/g, '').toLowerCase();
      if (!ipaddr.isValid(h) && globs.some((g) => g(h))) return undefined;
      const a = address.replace(/%.*$/, '');
      if (!ipaddr.isValid(a)) return `${address} is not an IP address`;
      return refusal(ipaddr.parse(a));
    },
    async check(url) {
      const t = typeof url === 'string' ? parseTargetUrl(url) : url;
      const refuse = (why: string) => errors.forbidden(`registration of ${t.raw} refused: ${why}`, { details: { host: t.hostname, allowed_targets: effective } });
      if (t.hasUserinfo) throw refuse(`URLs with user info (user@host) are not accepted`);
      if (t.isIp) {
        const why = refusal(ipaddr.parse(t.hostname));
        if (why) throw refuse(`host ${why}`);
        return;
      }
      if (globs.some((g) => g(t.hostname))) return;
      const addrs = await resolve(t);
      if (addrs.length === 0) throw refuse(`host ${t.hostname} resolves to no address`);
      for (const ip of addrs) {
        const why = refusal(ip);
        if (why) throw refuse(`host ${t.hostname} resolves to ${why}`);
      }
    },
  };
}
