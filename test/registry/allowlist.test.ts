import { expect } from 'chai';
import { createAllowlist, type LookupAll } from '../../gateway/registry/allowlist.ts';
import { parseTargetUrl } from '../../gateway/registry/target-url.ts';
import { CovgateError } from '../../gateway/errors.ts';

/** Names the fake resolver knows; anything else is ENOTFOUND. */
const HOSTS: Record<string, string[]> = {
  localhost: ['127.0.0.1', '::1'],
  'db.internal': ['10.0.0.5'],
  'mixed.example': ['10.0.0.5', '203.0.113.7'],
  'metadata.google.internal': ['169.254.169.254'],
  'mapped.example': ['::ffff:10.1.2.3'],
  'flaky.example': [],
};
const lookup: LookupAll = async (host) => {
  if (host === 'flaky.example') throw Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' });
  const found = HOSTS[host];
  if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

async function outcome(entries: string[], url: string): Promise<string> {
  try {
    await createAllowlist(entries, { lookup }).check(url);
    return 'ok';
  } catch (err) {
    if (err instanceof CovgateError) return `${err.status}: ${err.message}`;
    throw err;
  }
}

describe('registry/createAllowlist', () => {
  // [entries, url, expected: 'ok' | status, fragment the message must contain]
  const cases: Array<[string[], string, 'ok' | number, string?]> = [
    // the default: loopback only
    [[], 'http://127.0.0.1:8080', 'ok'],
    [[], 'http://127.9.9.9:8080/coverage', 'ok'],
    [[], 'http://[::1]:8080', 'ok'],
    [[], 'http://localhost:8080', 'ok'], // resolves to loopback only
    [[], 'http://10.0.0.5:8080', 403, 'host 10.0.0.5 is not in registration.allowed_targets [127.0.0.0/8, ::1/128]'],
    [[], 'http://169.254.169.254/', 403, 'host 169.254.169.254 is not in registration.allowed_targets [127.0.0.0/8, ::1/128]'],
    // numeric IPv4 spellings are judged as the address they reach
    [[], 'http://2130706433:8080', 'ok'],
    [['127.0.0.0/8'], 'http://0xa9.254.169.254/', 403, '169.254.169.254'],
    // IPv4 CIDRs
    [['10.0.0.0/8'], 'http://10.20.30.40:9000', 'ok'],
    [['10.0.0.0/8'], 'http://11.0.0.1:9000', 403, 'host 11.0.0.1 is not in registration.allowed_targets [10.0.0.0/8]'],
    [['10.0.0.5'], 'http://10.0.0.5:1', 'ok'],
    // IPv6 CIDRs, and IPv4-mapped IPv6 judged as IPv4
    [['fd00::/8'], 'http://[fd12:3456::1]:8080', 'ok'],
    [['fd00::/8'], 'http://[2001:db8::1]:8080', 403, '2001:db8::1 is not in'],
    [['10.0.0.0/8'], 'http://[::ffff:10.1.2.3]:8080', 'ok'],
    [['127.0.0.0/8'], 'http://[::ffff:169.254.169.254]/', 403, '169.254.169.254 is not in'],
    [['::ffff:10.0.0.0/104'], 'http://10.9.9.9:80', 'ok'],
    // metadata and link-local: a broad CIDR does not open them, an explicit one does
    [['0.0.0.0/0'], 'http://8.8.8.8:80', 'ok'],
    [['0.0.0.0/0'], 'http://169.254.169.254/latest/meta-data', 403, 'link-local / cloud metadata (169.254.0.0/16)'],
    [['::/0'], 'http://[fe80::1]:8080', 403, 'link-local (fe80::/10)'],
    [['::/0'], 'http://[fd00:ec2::254]/', 403, 'cloud metadata'],
    [['0.0.0.0/0'], 'http://0.0.0.0:8080', 403, 'unspecified'],
    [['169.254.0.0/16'], 'http://169.254.10.1:8080', 'ok'],
    [['0.0.0.0/0', '169.254.169.254/32'], 'http://169.254.169.254/', 'ok'],
    [['fe80::/10'], 'http://[fe80::1]:8080', 'ok'],
    // host globs: matched names are trusted without DNS
    [['*.svc.cluster.local'], 'http://orders.shop.svc.cluster.local:8080', 'ok'],
    [['*.svc.cluster.local'], 'http://ORDERS.svc.cluster.local:8080', 'ok'],
    [['*.svc.cluster.local'], 'http://svc.cluster.local.evil.com:8080', 400, 'does not resolve'],
    [['*.svc.cluster.local'], 'http://10.0.0.5:8080', 403, 'host 10.0.0.5 is not in registration.allowed_targets [*.svc.cluster.local]'],
    [['*'], 'http://169.254.169.254/', 403, 'is not in'], // globs never match IP literals
    // other names are resolved; every address must be allowed
    [['10.0.0.0/8'], 'http://db.internal:5432', 'ok'],
    [['10.0.0.0/8'], 'http://mixed.example:80', 403, 'host mixed.example resolves to 203.0.113.7 is not in registration.allowed_targets [10.0.0.0/8]'],
    [['0.0.0.0/0'], 'http://metadata.google.internal/', 403, 'host metadata.google.internal resolves to 169.254.169.254 is link-local'],
    [['10.0.0.0/8'], 'http://mapped.example:80', 'ok'],
    [['10.0.0.0/8'], 'http://nowhere.example:80', 400, 'host nowhere.example does not resolve (ENOTFOUND)'],
    [['10.0.0.0/8'], 'http://flaky.example:80', 503, 'cannot resolve host flaky.example now'],
    // URL shape
    [['127.0.0.0/8'], 'http://user@127.0.0.1:8080', 403, 'user info'],
    [['127.0.0.0/8'], 'http://127.0.0.1:8080@169.254.169.254/', 403, 'user info'],
    [['127.0.0.0/8'], 'http://127.0.0.1:http', 400, 'port must be a number 1-65535, got "http"'],
    [['127.0.0.0/8'], 'http://127.0.0.1:0', 400, 'port must be 1-65535'],
    [['127.0.0.0/8'], 'ftp://127.0.0.1:21', 400, 'must use http or https'],
    [['127.0.0.0/8'], 'file:///etc/passwd', 400, 'must use http or https'],
    [['127.0.0.0/8'], '127.0.0.1:8080', 400, 'must be an http(s) URL'],
  ];

  for (const [entries, url, expected, fragment] of cases) {
    it(`${expected === 'ok' ? 'allows' : `refuses (${expected})`} ${url} with [${entries.join(', ')}]`, async () => {
      const got = await outcome(entries, url);
      if (expected === 'ok') {
        expect(got).to.equal('ok');
      } else {
        expect(got).to.match(new RegExp(`^${expected}: `));
        if (fragment) expect(got).to.include(fragment);
      }
    });
  }

  it('names the URL in a refusal, as the contract example does', async () => {
    expect(await outcome([], 'http://169.254.169.254/')).to.equal(
      '403: registration of http://169.254.169.254/ refused: host 169.254.169.254 is not in registration.allowed_targets [127.0.0.0/8, ::1/128] (the default when the list is empty)',
    );
  });

  it('refuses with errors.forbidden (COVGATE_FORBIDDEN, not retryable)', async () => {
    const err = await createAllowlist(['10.0.0.0/8'])
      .check('http://192.168.1.1:80')
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(CovgateError);
    expect((err as CovgateError).code).to.equal('COVGATE_FORBIDDEN');
    expect((err as CovgateError).retryable).to.equal(false);
  });

  it('rejects a malformed entry at construction', () => {
    expect(() => createAllowlist(['10.0.0.0/33'])).to.throw(/bad entry "10.0.0.0\/33"/);
  });

  it('does not resolve names a glob already allows', async () => {
    let lookups = 0;
    const al = createAllowlist(['*.svc.cluster.local'], {
      lookup: async () => {
        lookups++;
        return [];
      },
    });
    await al.check('http://a.svc.cluster.local:80');
    expect(lookups).to.equal(0);
  });

  it('gives up on a hanging resolver with a retryable error', async () => {
    const al = createAllowlist(['10.0.0.0/8'], { lookup: () => new Promise(() => {}), lookupTimeoutMs: 20 });
    const err = (await al.check('http://slow.example:80').catch((e: unknown) => e)) as CovgateError;
    expect(err.status).to.equal(503);
    expect(err.retryable).to.equal(true);
  });
});

describe('registry/parseTargetUrl', () => {
  const cases: Array<[string, { address: string; path: string; normalized: string }]> = [
    ['http://127.0.0.1:8080', { address: '127.0.0.1:8080', path: '', normalized: 'http://127.0.0.1:8080' }],
    ['http://127.0.0.1:8080/', { address: '127.0.0.1:8080', path: '', normalized: 'http://127.0.0.1:8080' }],
    ['HTTP://Host.Example:8080/cov', { address: 'host.example:8080', path: '/cov', normalized: 'http://host.example:8080/cov' }],
    ['https://host.example', { address: 'host.example:443', path: '', normalized: 'https://host.example:443' }],
    ['http://host.example:80/a?b=1', { address: 'host.example:80', path: '/a?b=1', normalized: 'http://host.example:80/a?b=1' }],
    ['http://[::1]:9000/x', { address: '[::1]:9000', path: '/x', normalized: 'http://[::1]:9000/x' }],
    ['http://127.1:8080', { address: '127.0.0.1:8080', path: '', normalized: 'http://127.0.0.1:8080' }],
  ];
  for (const [raw, want] of cases) {
    it(`normalises ${raw}`, () => {
      const t = parseTargetUrl(raw);
      expect({ address: t.address, path: t.path, normalized: t.normalized }).to.deep.equal(want);
    });
  }

  it('names the field in errors', () => {
    expect(() => parseTargetUrl('http://h:x', 'address')).to.throw(/^address port must be a number/);
    expect(() => parseTargetUrl(42)).to.throw(/^url must be an http\(s\) URL/);
    expect(() => parseTargetUrl('http://h:1/#frag')).to.throw(/must not have a fragment/);
    expect(() => parseTargetUrl('http://::1:80/')).to.throw(/IPv6 addresses go in brackets/);
  });
});
