import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useProcesses } from '../helpers/processes.ts';
import { requireTools, run } from './formats-tools.ts';

const XSD = fileURLToPath(new URL('../fixtures/centers/sonar-generic-coverage.xsd', import.meta.url));

describe('push kind sonarqube: the report validates against sonar-generic-coverage.xsd (xmllint)', function () {
  this.timeout(60_000);
  const { exporter, gateway } = useProcesses();

  it('serves a release report that xmllint --schema accepts, and the XSD rejects a broken one', async function () {
    requireTools(this, ['xmllint'], 'libxml2-utils');
    const a = await exporter();
    const g = await gateway(`scrape_configs:
  - job_name: orders
    scrape_interval: 1h
    static_configs:
      - targets: [${a.address}]
push:
  upstreams:
    - name: sonar
      kind: sonarqube
`);
    await g.api.post('/test-started', { session: 's', labels: { release: 'r1' } });
    await a.hit('/classify?n=-4');
    await a.hit('/add?a=1&b=2');
    expect((await g.api.post('/test-finished', { session: 's', wait: true })).data.push.status).to.equal('delivered');
    const xml = (await g.api.get('/api/v1/sonarqube/orders/r1.xml')).data as string;
    expect(xml).to.include('branchesToCover=');
    const dir = mkdtempSync(join(tmpdir(), 'covgate-xsd-'));
    writeFileSync(join(dir, 'ok.xml'), xml);
    run('xmllint', ['--noout', '--schema', XSD, join(dir, 'ok.xml')]);
    // The schema is really applied: a line number 0 is not a positiveInteger.
    writeFileSync(join(dir, 'bad.xml'), xml.replace(/lineNumber="\d+"/, 'lineNumber="0"'));
    expect(() => run('xmllint', ['--noout', '--schema', XSD, join(dir, 'bad.xml')])).to.throw(/fails to validate|not a valid value/);
  });
});
