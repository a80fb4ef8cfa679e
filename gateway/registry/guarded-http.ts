import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import axios, { type AxiosInstance } from 'axios';
import type { Allowlist } from './allowlist.ts';

/**
 * A DNS lookup for the agents of registered targets: resolves as usual, then
 * refuses (ECONNREFUSED-like error, before any byte is sent) when an address
 * is outside `registration.allowed_targets`. The allowlist is read on every
 * connection, so a reload applies at once. Literal IPs are not looked up by
 * Node: they were checked at registration and redirects are never followed.
 */
export function guardedLookup(allowlist: () => Allowlist, lookup: typeof dns.lookup = dns.lookup): LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err);
      const list = addresses as dns.LookupAddress[];
      for (const a of list) {
        const why = allowlist().connectRefusal(hostname, a.address);
        if (why) {
          const e = Object.assign(new Error(`connection to ${hostname} refused: ${why}`), { code: 'ECOVGATEREFUSED' });
          return callback(e);
        }
      }
      if (options.all) return callback(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} resolves to no address`), { code: 'ENOTFOUND' }));
      return callback(null, first.address, first.family);
    });
  }) as LookupFunction;
}

/** An axios instance whose connections are re-checked against the allowlist (for registered targets). */
export function createGuardedHttp(allowlist: () => Allowlist, headers: Record<string, string>, lookup?: typeof dns.lookup): AxiosInstance {
  const l = guardedLookup(allowlist, lookup);
  return axios.create({
    headers,
    httpAgent: new http.Agent({ keepAlive: true, lookup: l }),
    httpsAgent: new https.Agent({ keepAlive: true, lookup: l }),
  });
}
