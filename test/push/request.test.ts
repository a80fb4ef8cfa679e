import { expect } from 'chai';
import { gunzipSync } from 'node:zlib';
import nock from 'nock';
import { decodePayload } from '../../gateway/formats/index.ts';
import { pushRecordId } from '../../gateway/push/index.ts';
import type { PushRecord } from '../../gateway/push/index.ts';
import type { KeyValue } from '../../gateway/store/types.ts';
import type { UpstreamConfig } from '../../gateway/config/types.ts';
import { capturedText, coverage, job, makeOutbox, TestDb, upstream, UPSTREAM, type Captured, type Harness } from './helpers.ts';

/** Pushes `job()` to one upstream and returns the request the upstream received. */
async function pushOnce(kv: KeyValue<PushRecord>, up: UpstreamConfig, harnesses: Harness[]): Promise<Captured> {
  const h = makeOutbox(kv, [up]);
  harnesses.push(h);
  const seen: Captured[] = [];
  const u = new URL(up.url);
  nock(u.origin)
    .post((p) => p.startsWith(u.pathname))
    .reply(function (path, body) {
      seen.push({ path, headers: this.req.headers, text: capturedText(body, this.req.headers) });
      return [202];
    });
  await h.outbox.start();
  await h.outbox.enqueue(job());
  await h.outbox.deliverNow();
  expect(seen, 'one request').to.have.length(1);
  return seen[0]!;
}

describe('push request bodies and headers', () => {
  let db: TestDb;
  let kv: KeyValue<PushRecord>;
  const harnesses: Harness[] = [];
  before(() => nock.disableNetConnect());
  after(() => nock.enableNetConnect());
  beforeEach(async () => {
    db = new TestDb();
    kv = await db.open();
  });
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.outbox.stop();
    await db.close();
    nock.cleanAll();
  });

  it('every format carries the session metadata headers, the configured headers and the Idempotency-Key', async () => {
    const req = await pushOnce(kv, upstream({ format: 'lcov', headers: { Authorization: 'Bearer s3cret', 'X-Team': 'qa' } }), harnesses);
    expect(req.headers).to.include({
      'idempotency-key': pushRecordId('run-1', 'center'),
      'x-covgate-session': 'run-1',
      'x-covgate-labels': '{"service":"orders","test_type":"AT"}',
      'x-covgate-build': '{"version":"1.4.2","commit":"abc123"}',
      'x-covgate-summary': '{"lines":66.66,"statements":66.66,"functions":100,"branches":100,"semantics":"istanbul"}',
      authorization: 'Bearer s3cret',
      'x-team': 'qa',
    });
    const storedRecord = await kv.get(pushRecordId('run-1', 'center'));
    expect(JSON.stringify(storedRecord), 'configured headers (secrets) are never written to disk').to.not.include('s3cret');
  });

  it('istanbul: the gzipped coverage map alone, as JSON', async () => {
    const req = await pushOnce(kv, upstream({ format: 'istanbul', gzip: true }), harnesses);
    expect(req.path).to.equal('/api/coverage');
    expect(req.headers['content-type']).to.equal('application/json');
    expect(req.headers['content-encoding']).to.equal('gzip');
    expect(JSON.parse(req.text)).to.deep.equal(coverage);
    const stored = await kv.get(pushRecordId('run-1', 'center'));
    expect(stored?.request, 'dropped once delivered').to.equal(undefined);
  });

  it('the gzipped body is encoded once, at enqueue, and kept on disk until delivered', async () => {
    const h = makeOutbox(kv, [upstream({ format: 'istanbul', gzip: true })]);
    harnesses.push(h);
    await h.outbox.enqueue(job()); // not started: stays pending
    const request = (await kv.get(pushRecordId('run-1', 'center')))!.request!;
    expect(request).to.include({ contentType: 'application/json', contentEncoding: 'gzip', bodyEncoding: 'base64' });
    expect(JSON.parse(gunzipSync(Buffer.from(request.body, 'base64')).toString('utf8'))).to.deep.equal(coverage);
  });

  it('lcov: the tracefile text', async () => {
    const req = await pushOnce(kv, upstream({ format: 'lcov' }), harnesses);
    expect(req.headers['content-type']).to.equal('text/plain; charset=utf-8');
    expect(req.headers['content-encoding']).to.equal(undefined);
    const text = req.text;
    expect(text).to.include('SF:/srv/app/src/a.js').and.include('DA:1,3').and.include('DA:3,0').and.include('end_of_record');
  });

  it('cobertura: the XML report', async () => {
    const req = await pushOnce(kv, upstream({ format: 'cobertura' }), harnesses);
    expect(req.headers['content-type']).to.equal('application/xml');
    const xml = req.text;
    expect(xml).to.match(/^<\?xml/).and.include('<coverage').and.include('filename="a.js"');
    const decoded = await decodePayload(xml, { declaredFormat: 'cobertura' });
    expect(Object.keys(decoded.coverage!)).to.deep.equal(['/srv/app/src/a.js']);
  });

  it('covgate: the envelope for another gateway, labels in the push-ingest query', async () => {
    const req = await pushOnce(kv, upstream({ format: 'covgate', gzip: true, url: 'http://127.0.0.1:9/api/v1/coverage' }), harnesses);
    const u = new URL(req.path, UPSTREAM);
    expect(u.pathname).to.equal('/api/v1/coverage');
    expect([...u.searchParams]).to.deep.equal([
      ['job', 'covgate'],
      ['session', 'run-1'],
      ['service', 'orders'],
      ['test_type', 'AT'],
    ]);
    expect(req.headers['content-type']).to.equal('application/vnd.covgate.v1+json');
    expect(req.headers['content-encoding']).to.equal('gzip');
    const envelope = JSON.parse(req.text);
    expect(envelope).to.deep.equal({ format: 'istanbul', counters: 'cumulative', instance: 'run-1', build: { version: '1.4.2', commit: 'abc123' }, data: coverage });
    // what the receiving gateway's push ingest decodes
    const decoded = await decodePayload(req.text, { declaredFormat: 'auto', contentType: String(req.headers['content-type']) });
    expect(decoded).to.deep.include({ enveloped: true, instance: 'run-1', counters: 'cumulative', build: { version: '1.4.2', commit: 'abc123' } });
    expect(decoded.coverage).to.deep.equal(coverage);
  });

  it('covgate: a job in the url or in the labels wins over the default', async () => {
    const inUrl = await pushOnce(kv, upstream({ format: 'covgate', url: 'http://127.0.0.1:9/api/v1/coverage?job=e2e' }), harnesses);
    expect([...new URL(inUrl.path, UPSTREAM).searchParams].slice(0, 2)).to.deep.equal([
      ['job', 'e2e'],
      ['session', 'run-1'],
    ]);
  });

  it('escapes what a header cannot carry, keeping the JSON valid', async () => {
    const h = makeOutbox(kv, [upstream()]);
    harnesses.push(h);
    let headers: Captured['headers'] = {};
    nock(UPSTREAM)
      .post('/api/coverage')
      .reply(function () {
        headers = this.req.headers;
        return [200];
      });
    await h.outbox.start();
    await h.outbox.enqueue(job('lauf-ü', { labels: { team: 'Zürich\n' } }));
    await h.outbox.deliverNow();
    expect(headers['x-covgate-session']).to.equal('lauf-%C3%BC');
    expect(JSON.parse(String(headers['x-covgate-labels']))).to.deep.equal({ team: 'Zürich\n' });
  });
});
