import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type dns from 'node:dns';
import { expect } from 'chai';
import { createAllowlist, createGuardedHttp } from '../../gateway/registry/index.ts';

/** A fake resolver: what each name resolves to at connection time (a rebinding DNS). */
const resolver = (table: Record<string, string>): typeof dns.lookup =>
  ((host: string, _opts: unknown, cb: (err: Error | null, addrs?: dns.LookupAddress[]) => void) => {
    const a = table[host];
    if (!a) return cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
    cb(null, [{ address: a, family: a.includes(':') ? 6 : 4 }]);
  }) as unknown as typeof dns.lookup;

describe('registry/createGuardedHttp (connections of registered targets re-checked against the allowlist)', () => {
  let server: Server;
  let port: number;
  before(async () => {
    server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  it('connects when the name resolves to an allowed address, refuses when it resolves elsewhere at connection time', async () => {
    // 127.0.0.1 plays the allowed address, 127.0.0.2 the disallowed one
    const allow = createAllowlist(['127.0.0.1']);
    const http = createGuardedHttp(() => allow, {}, resolver({ 'good.test': '127.0.0.1', 'rebound.test': '127.0.0.2', 'meta.test': '169.254.169.254' }));
    const ok = await http.get(`http://good.test:${port}/`, { proxy: false });
    expect(ok.data).to.equal('ok');
    for (const host of ['rebound.test', 'meta.test']) {
      const err = await http.get(`http://${host}:${port}/`, { proxy: false }).then(
        () => undefined,
        (e: { code?: string; message: string }) => e,
      );
      expect(err, host).to.not.equal(undefined);
      expect(err!.code, host).to.equal('ECOVGATEREFUSED');
      expect(err!.message, host).to.match(/not in registration\.allowed_targets/);
    }
  });

  it('trusts names matching a glob entry as registration does, and reads the allowlist on every connection', async () => {
    let allow = createAllowlist(['*.trusted.test']);
    const http = createGuardedHttp(() => allow, {}, resolver({ 'svc.trusted.test': '127.0.0.1', 'other.test': '127.0.0.1' }));
    expect((await http.get(`http://svc.trusted.test:${port}/`, { proxy: false })).data).to.equal('ok');
    const refused = await http.get(`http://other.test:${port}/`, { proxy: false }).catch((e: { code?: string }) => e.code);
    expect(refused).to.equal('ECOVGATEREFUSED');
    allow = createAllowlist(['127.0.0.0/8']); // a reload
    expect((await http.get(`http://other.test:${port}/`, { proxy: false })).data).to.equal('ok');
  });
});
