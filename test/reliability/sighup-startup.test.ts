import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import axios from 'axios';
import { spawnProcess, type Spawned } from '../helpers/process.ts';

const BIN = fileURLToPath(new URL('../../bin/covgate.js', import.meta.url));
/** Starts in `npm test`; `npm run test:reliability` runs 20. */
const STARTS = Number(process.env.COVGATE_RELIABILITY_SIGHUP_STARTS ?? 5);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether the process has a handler for SIGHUP (bit 0 of SigCgt in /proc/<pid>/status). */
function catchesSighup(pid: number): boolean {
  try {
    const m = /^SigCgt:\s+([0-9a-f]+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && (BigInt(`0x${m[1]}`) & 1n) === 1n;
  } catch {
    return false;
  }
}

const alive = (p: Spawned) => p.proc.exitCode === null && p.proc.signalCode === null;

describe('SIGHUP during start-up never kills the gateway', function () {
  this.timeout(Math.max(60_000, STARTS * 10_000));

  it(`survives a SIGHUP while loading and one right after "listening" (${STARTS} starts)`, async () => {
    let beforeListening = 0;
    let afterListening = 0;
    for (let i = 0; i < STARTS; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'covgate-hup-'));
      writeFileSync(join(dir, 'gateway.yaml'), 'scrape_configs: []\n');
      const p = spawnProcess(process.execPath, [BIN, '--config', join(dir, 'gateway.yaml'), '--listen', '127.0.0.1:0', '--storage.path', join(dir, 'data'), '--test.manual-scrapes']);
      try {
        const listening = p.waitForLine(/"url":"(http:\/\/[^"]+)".*covgate listening/, 30_000);
        listening.catch(() => undefined);
        // Node itself exits on SIGHUP until the first line of bin/covgate.js has run; from then on it is ours.
        const pid = p.proc.pid!;
        while (!catchesSighup(pid) && alive(p)) await sleep(2);
        // Spread over the loading phase: right away, or up to ~1 s later.
        await sleep((i * 53) % 1000);
        let sawListening = false;
        void listening.then(() => (sawListening = true));
        p.proc.kill('SIGHUP');
        if (!sawListening) beforeListening++;
        const m = await listening;
        p.proc.kill('SIGHUP'); // right after "listening": start() may not have returned yet
        afterListening++;
        await sleep(300);
        expect(alive(p), `start ${i}: still running\n${p.output()}`).to.equal(true);
        const ready = await axios.get(`${m[1]}/-/ready`, { validateStatus: () => true, proxy: false });
        expect(ready.status).to.equal(200);
        expect(p.output(), 'the SIGHUPs were taken as reloads').to.match(/config reloaded/);
      } finally {
        await p.kill('SIGTERM');
      }
    }
    console.log(`      ${STARTS} starts: ${beforeListening} SIGHUPs while loading and ${afterListening} right after "listening", 0 deaths`);
  });
});
