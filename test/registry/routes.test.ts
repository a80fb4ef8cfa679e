import { expect } from 'chai';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiApp } from '../../gateway/api/app.ts';
import { parseConfig } from '../../gateway/config/index.ts';
import type { GatewayConfig } from '../../gateway/config/types.ts';
import { silentLogger } from '../../gateway/log/index.ts';
import { leaseId } from '../../gateway/registry/registry.ts';
import { registryRoutes } from '../../gateway/registry/routes.ts';
import { createBuildDiffs, type BuildDiffs, type UploadedDiff } from '../../gateway/diff/index.ts';
import { RegistryHarness, START } from './helpers.ts';

describe('registry/registryRoutes', () => {
  let h: RegistryHarness;
  let server: Server;
  let base: string;
  let config: GatewayConfig;
  let buildDiffs: BuildDiffs;

  beforeEach(async () => {
    h = new RegistryHarness();
    config = parseConfig('registration:\n  default_ttl: 60s\n  max_ttl: 1h\n  allowed_targets: [127.0.0.0/8, "*.svc.cluster.local"]\n');
    h.config = config.registration;
    const registry = await h.open();
    registry.start();
    buildDiffs = createBuildDiffs(h.store.sublevel<UploadedDiff>('build-diffs'));
    await buildDiffs.open();
    const app = createApiApp({ logger: silentLogger, version: 'test', config: () => config, isReady: () => true }, [
      registryRoutes({ registry, config: () => config.registration, onBuild: async (job, build) => void (await buildDiffs.fromBuild(job, build, h.now)) }),
    ]);
    server = createServer(app.callback()).listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await h.dispose();
  });

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(base + path, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
  }

  describe('POST /api/v1/targets', () => {
    it('answers 201 with id and expiresAt at the top level and under data', async () => {
      const r = await call('POST', '/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:8081', labels: { service: 'orders' }, ttl: '30s' });
      const id = leaseId('orders', 'http://127.0.0.1:8081');
      const expiresAt = new Date(START + 30_000).toISOString();
      expect(r.status).to.equal(201);
      expect(r.body).to.deep.equal({ id, expiresAt, status: 'success', data: { id, expiresAt, created: true } });
      expect(h.registry.list().map((l) => l.labels)).to.deep.equal([{ service: 'orders' }]);
    });

    it('keeps the diff a registration brings (build.diff) for carrying coverage, and refuses one that is not a diff before registering anything', async () => {
      const diff = '--- a/src/a.js\n+++ b/src/a.js\n@@ -1 +1 @@\n-old\n+new\n';
      const ok = await call('POST', '/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:8081', build: { commit: 'c2', diff_base: 'c1', diff } });
      expect(ok.status).to.equal(201);
      expect(buildDiffs.forCommit('c2', ['orders']).map((d) => [d.base, d.files.map((f) => f.newPath)])).to.deep.equal([['c1', ['src/a.js']]]);
      const bad = await call('POST', '/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:8082', build: { commit: 'c3', diff: 'not a diff' } });
      expect(bad.status).to.equal(400);
      expect(bad.body!.error).to.match(/^build\.diff is not a unified diff/);
      const noCommit = await call('POST', '/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:8082', build: { diff } });
      expect(noCommit.status).to.equal(400);
      expect(noCommit.body!.error).to.match(/build\.diff needs build\.commit/);
      expect(h.registry.list().map((l) => l.url)).to.deep.equal(['http://127.0.0.1:8081']);
      expect(buildDiffs.forCommit('c3')).to.deep.equal([]);
    });

    it('answers 200 with the same id on renewal', async () => {
      const first = await call('POST', '/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:8081' });
      h.now += 10_000;
      const again = await call('POST', '/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:8081' });
      expect(again.status).to.equal(200);
      expect(again.body!.id).to.equal(first.body!.id);
      expect(again.body!.expiresAt).to.equal(new Date(START + 70_000).toISOString());
    });

    it('refuses the metadata address with 403 naming the host and the allowlist', async () => {
      const r = await call('POST', '/api/v1/targets', { job: 'evil', url: 'http://169.254.169.254/' });
      expect(r.status).to.equal(403);
      expect(r.body).to.include({ status: 'error', errorType: 'forbidden' });
      expect(r.body!.error).to.equal(
        'registration of http://169.254.169.254/ refused: host 169.254.169.254 is not in registration.allowed_targets [127.0.0.0/8, *.svc.cluster.local]',
      );
      expect(h.registry.list()).to.deep.equal([]);
    });

    it('refuses a host outside the allowlist with 403', async () => {
      const r = await call('POST', '/api/v1/targets', { job: 'orders', url: 'http://10.1.2.3:8080' });
      expect(r.status).to.equal(403);
      expect(r.body!.error).to.include('host 10.1.2.3 is not in registration.allowed_targets');
    });

    const bad: Array<[string, unknown, string]> = [
      ['invalid JSON', '{"job":', 'request body is not valid JSON'],
      ['a JSON array', '[1]', 'request body must be a JSON object'],
      ['an empty body', '', 'job must be a non-empty string'],
      ['no url', { job: 'orders' }, 'url must be an http(s) URL'],
      ['a bad label name', { job: 'orders', url: 'http://127.0.0.1:1', labels: { '1x': 'a' } }, 'labels: "1x" is not a valid label name'],
      ['a bad ttl', { job: 'orders', url: 'http://127.0.0.1:1', ttl: 'soon' }, 'ttl: bad duration "soon"'],
      ['a ttl above max_ttl', { job: 'orders', url: 'http://127.0.0.1:1', ttl: '2h' }, 'ttl 2h exceeds registration.max_ttl 1h'],
    ];
    for (const [what, body, message] of bad) {
      it(`answers 400 for ${what}`, async () => {
        const r = await call('POST', '/api/v1/targets', body);
        expect(r.status).to.equal(400);
        expect(r.body).to.include({ status: 'error', errorType: 'bad_data' });
        expect(r.body!.error).to.include(message);
      });
    }

    it('answers 403 while registration is disabled', async () => {
      config.registration.enabled = false;
      const r = await call('POST', '/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:8081' });
      expect(r.status).to.equal(403);
      expect(r.body!.error).to.equal('self-registration is disabled on this gateway (registration.enabled: false)');
    });

    it('needs the bearer token when server.auth is set', async () => {
      config.server.auth = { bearer_token: 's3cret', protect_reads: false };
      const denied = await call('POST', '/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:8081' });
      expect(denied.status).to.equal(401);
      const ok = await call('POST', '/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:8081' }, { authorization: 'Bearer s3cret' });
      expect(ok.status).to.equal(201);
    });
  });

  describe('DELETE /api/v1/targets/:id', () => {
    it('answers 200 after the final scrape and removes the lease', async () => {
      const { body } = await call('POST', '/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:8081' });
      const r = await call('DELETE', `/api/v1/targets/${String(body!.id)}`);
      expect(r.status).to.equal(200);
      expect(r.body).to.deep.equal({ status: 'success', data: { id: body!.id, job: 'orders', url: 'http://127.0.0.1:8081' } });
      expect(h.finalScrapes.map((l) => l.id)).to.deep.equal([body!.id]);
      expect(h.registry.list()).to.deep.equal([]);
    });

    it('answers 404 for an unknown id', async () => {
      const r = await call('DELETE', '/api/v1/targets/0123456789abcdef');
      expect(r.status).to.equal(404);
      expect(r.body).to.include({ status: 'error', errorType: 'not_found' });
    });
  });

  describe('POST /v1/cover/register (goc v1 agents)', () => {
    it('registers the agent as job <name>, scraped at /v1/cover/profile, and answers like a goc server', async () => {
      const r = await call('POST', '/v1/cover/register?name=legacy-go&address=http://127.0.0.1:7777');
      expect(r.status).to.equal(200);
      expect(r.body!.result).to.equal('success');
      const [lease] = h.registry.list();
      expect(lease).to.include({ job: 'legacy-go', url: 'http://127.0.0.1:7777/v1/cover/profile', ttlMs: 3_600_000 });
      expect(lease!.labels).to.deep.equal({ service: 'legacy-go' });
      expect(h.registry.groups('legacy-go')[0]!.targets[0]).to.include({ __address__: '127.0.0.1:7777', __coverage_path__: '/v1/cover/profile' });
    });

    it('accepts ip:port without a scheme, renews on a repeat, and honours ttl=', async () => {
      await call('POST', '/v1/cover/register?name=svc&address=127.0.0.1:7777');
      const again = await call('POST', '/v1/cover/register?name=svc&address=http://127.0.0.1:7777&ttl=5m');
      expect(again.status).to.equal(200);
      expect(h.registry.list()).to.have.length(1);
      expect(h.registry.list()[0]!.ttlMs).to.equal(300_000);
    });

    it('counts registrations as process generations, published as a meta label (a new process at the same address)', async () => {
      await call('POST', '/v1/cover/register?name=svc&address=127.0.0.1:7777');
      expect(h.registry.groups('svc')[0]!.targets[0]).to.include({ __meta_registration_generation: '1' });
      await call('POST', '/v1/cover/register?name=svc&address=127.0.0.1:7777');
      expect(h.registry.list()).to.have.length(1);
      expect(h.registry.list()[0]!.generation).to.equal(2);
      expect(h.registry.groups('svc')[0]!.targets[0]).to.include({ __meta_registration_generation: '2' });
      // Leases of the covgate API have no generation: their exporters send an instance.
      await call('POST', '/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:8081' });
      expect(h.registry.groups('orders')[0]!.targets[0]).not.to.have.property('__meta_registration_generation');
    });

    it("POST /v1/cover/remove deregisters by service or address as goc's server does, and refuses both at once", async () => {
      await call('POST', '/v1/cover/register?name=a&address=127.0.0.1:7001');
      await call('POST', '/v1/cover/register?name=b&address=127.0.0.1:7002');
      await call('POST', '/v1/cover/register?name=c&address=127.0.0.1:7003');
      await call('POST', '/api/v1/targets', { job: 'orders', url: 'http://127.0.0.1:8081' });
      const post = async (path: string, body?: unknown, type = 'application/json') => {
        const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': type }, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
        return { status: res.status, text: await res.text() };
      };
      const both = await post('/v1/cover/remove', { service: ['a'], address: ['http://127.0.0.1:7002'] });
      expect(both.status).to.equal(400);
      const byService = await post('/v1/cover/remove', { service: ['a', 'nosuch'] });
      expect(byService).to.deep.equal({ status: 200, text: 'Register service http://127.0.0.1:7001 removed from the center.' });
      const byAddress = await post('/v1/cover/remove', 'address=http%3A%2F%2F127.0.0.1%3A7002', 'application/x-www-form-urlencoded');
      expect(byAddress.status).to.equal(200);
      expect(h.registry.list().map((l) => l.job).sort()).to.deep.equal(['c', 'orders']);
      // Neither: every goc registration goes, covgate API leases stay.
      expect((await post('/v1/cover/remove')).status).to.equal(200);
      expect(h.registry.list().map((l) => l.job)).to.deep.equal(['orders']);
    });

    it("uses the caller's address when the agent sends only a port", async () => {
      const r = await call('POST', '/v1/cover/register?name=svc&address=http://:7777');
      expect(r.status).to.equal(200);
      expect(h.registry.list()[0]!.url).to.equal('http://127.0.0.1:7777/v1/cover/profile');
    });

    it('refuses a missing name, an address with a path, and addresses outside the allowlist', async () => {
      const noName = await call('POST', '/v1/cover/register?address=127.0.0.1:1');
      expect(noName.status).to.equal(400);
      expect(noName.body!.error).to.include('query parameter name is required');
      const withPath = await call('POST', '/v1/cover/register?name=svc&address=http://127.0.0.1:1/x');
      expect(withPath.status).to.equal(400);
      expect(withPath.body!.error).to.include('address must not have a path');
      const metadata = await call('POST', '/v1/cover/register?name=svc&address=169.254.169.254:80');
      expect(metadata.status).to.equal(403);
      expect(metadata.body!.error).to.include('host 169.254.169.254 is not in registration.allowed_targets');
    });

    it('answers 403 while registration is disabled', async () => {
      config.registration.enabled = false;
      const r = await call('POST', '/v1/cover/register?name=svc&address=127.0.0.1:1');
      expect(r.status).to.equal(403);
    });
  });
});
