import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoverageMapData } from '../../gateway/model/index.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { useProcesses } from '../helpers/processes.ts';

/** SIGKILLs in `npm test`; `npm run test:reliability` runs 100 (COVGATE_RELIABILITY_KILLS). */
const KILLS = Number(process.env.COVGATE_RELIABILITY_KILLS ?? 5);

/** One file of 10 statements, each hit once: a push adds exactly 1 to every statement. */
const PUSH: CoverageMapData = {
  '/srv/batch/job.js': {
    path: '/srv/batch/job.js',
    statementMap: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [i, { start: { line: i + 1, column: 0 }, end: { line: i + 1, column: 20 } }])),
    fnMap: {},
    branchMap: {},
    s: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [i, 1])),
    f: {},
    b: {},
  },
} as unknown as CoverageMapData;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Statement counters of every file of a map, flattened in a stable order. */
function counters(map: CoverageMapData): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [path, fc] of Object.entries(map)) for (const [id, n] of Object.entries(fc.s)) out[`${path}#${id}`] = n;
  return out;
}

describe(`SIGKILL during scrape, push and registration cycles (${KILLS} kills): nothing acknowledged is lost`, function () {
  this.timeout(Math.max(120_000, KILLS * 8_000));
  const { exporter } = useProcesses();

  it('after every restart the store holds every acknowledged push, scrape and registration', async () => {
    // A real exporter process (envelope, instance, structure-once), alive across all gateway restarts.
    const a = await exporter({ envelope: true, structure: true });
    const cfg = `scrape_configs:
  - job_name: static
    scrape_interval: 1h
    static_configs:
      - targets: [${a.address}]`;
    const dataDir = join(mkdtempSync(join(tmpdir(), 'covgate-kill-')), 'data');
    let g: GatewayProcess | undefined;

    let pushesAcked = 0; // 202s, over all cycles
    let pushesCommitted = 0; // what the store showed after the last restart
    let pushesUnanswered = 0; // sent but cut by the kill: may or may not be stored
    let scrapesAcked = 0;
    let lastAckedScrape: Record<string, number> = {};
    const registrations = new Set<string>(); // acknowledged (201) registration jobs
    let regSeq = 0;
    let lost = 0;

    const verify = async (gw: GatewayProcess) => {
      // Pushes: every statement counts one per stored push.
      const pushed = (await gw.api.get('/api/v1/coverage?job=pushes')).data as CoverageMapData;
      const stored = pushed['/srv/batch/job.js']?.s['0'] ?? 0;
      if (stored < pushesAcked) lost += pushesAcked - stored;
      expect(stored, 'acknowledged pushes are all stored').to.be.at.least(pushesAcked);
      expect(stored, 'no push counted twice').to.be.at.most(pushesAcked + pushesUnanswered);
      expect(new Set(Object.values(pushed['/srv/batch/job.js']?.s ?? {})).size, 'no push half-written').to.be.at.most(1);
      pushesCommitted = stored;
      // Scrapes: the exporter's counters only grow; the store holds at least the last acknowledged read.
      const scraped = counters((await gw.api.get('/api/v1/coverage?job=static')).data as CoverageMapData);
      const now = counters(await a.raw());
      for (const [k, n] of Object.entries(lastAckedScrape)) {
        if ((scraped[k] ?? 0) < n) lost++;
        expect(scraped[k] ?? 0, `scraped counter ${k}`).to.be.at.least(n);
        expect(scraped[k] ?? 0, `scraped counter ${k}`).to.be.at.most(now[k] ?? 0);
      }
      // Registrations: every acknowledged lease is back (leases are loaded before the gateway listens).
      const leased = new Set<string>();
      for (let i = 0; i < 50; i++) {
        leased.clear();
        for (const t of (await gw.api.get('/api/v1/targets')).data.data.activeTargets as Array<{ labels: { job: string } }>) leased.add(t.labels.job);
        if ([...registrations].every((j) => leased.has(j))) break;
        await sleep(50);
      }
      const missing = [...registrations].filter((j) => !leased.has(j));
      lost += missing.length;
      expect(missing, 'acknowledged registrations').to.deep.equal([]);
    };

    try {
      for (let kill = 0; kill <= KILLS; kill++) {
        g = await startGatewayProcess({ configYaml: cfg, dataDir });
        await verify(g);
        if (kill === KILLS) break;
        // Traffic for the exporter between cycles; during the cycle its counters stay put, so an acknowledged scrape read exactly `before`.
        await a.hit(`/add?a=${kill}&b=1`);
        if (kill % 3 === 0) await a.hit(`/classify?n=${kill}`);
        const before = counters(await a.raw());
        let running = true;
        const gw = g;
        const pusher = async () => {
          while (running) {
            try {
              const r = await gw.api.post('/api/v1/coverage?job=pushes', PUSH, { timeout: 10_000 });
              if (r.status === 202) pushesAcked++;
              else throw new Error(`push answered ${r.status}: ${JSON.stringify(r.data)}`);
            } catch (err) {
              if (running || !/ECONNRESET|ECONNREFUSED|socket hang up|EPIPE/.test(String(err))) throw err;
              pushesUnanswered++;
              return;
            }
          }
        };
        const scraper = async () => {
          while (running) {
            try {
              const r = await gw.api.post('/api/v1/scrape', { job: 'static' }, { timeout: 10_000 });
              const res = r.data.data.results[0];
              expect(res.result, JSON.stringify(res)).to.be.oneOf(['success', 'not_modified']);
              scrapesAcked++;
              lastAckedScrape = before;
            } catch (err) {
              if (running || !/ECONNRESET|ECONNREFUSED|socket hang up|EPIPE/.test(String(err))) throw err;
              return;
            }
          }
        };
        const registrar = async () => {
          while (running) {
            const job = `reg-${regSeq++}`;
            try {
              const r = await gw.api.post('/api/v1/targets', { job, url: 'http://127.0.0.1:1', ttl: '1h' }, { timeout: 10_000 });
              expect(r.status, JSON.stringify(r.data)).to.equal(201);
              registrations.add(job);
            } catch (err) {
              if (running || !/ECONNRESET|ECONNREFUSED|socket hang up|EPIPE/.test(String(err))) throw err;
              return;
            }
            await sleep(50);
          }
        };
        const load = Promise.all([pusher(), pusher(), pusher(), scraper(), registrar()]);
        // Kill at a varying moment of the cycle.
        await sleep(150 + ((kill * 97) % 450));
        running = false;
        await g.kill('SIGKILL');
        await load;
      }
      console.log(
        `      ${KILLS} SIGKILLs survived: ${pushesAcked} pushes acknowledged (${pushesCommitted} stored, ${pushesUnanswered} cut by a kill), ${scrapesAcked} scrapes acknowledged, ${registrations.size} registrations acknowledged, ${lost} lost`,
      );
      expect(lost).to.equal(0);
    } finally {
      await g?.kill('SIGKILL');
    }
  });
});
