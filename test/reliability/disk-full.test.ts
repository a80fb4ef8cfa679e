import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, writeSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { istanbulMerge } from '../helpers/coverage.ts';
import { useProcesses } from '../helpers/processes.ts';
import { spawnProcess } from '../helpers/process.ts';
import type { CoverageMapData } from '../../gateway/model/index.ts';

const BIN = fileURLToPath(new URL('../../bin/covgate.js', import.meta.url));

/** A one-file Istanbul map whose statement i was hit `hits[i]` times (distinct per push). */
function pushMap(run: number): CoverageMapData {
  const path = `/srv/run-${run}.js`;
  const n = 20;
  const loc = (l: number) => ({ start: { line: l, column: 0 }, end: { line: l, column: 20 } });
  return {
    [path]: {
      path,
      statementMap: Object.fromEntries(Array.from({ length: n }, (_, i) => [i, loc(i + 1)])),
      fnMap: {},
      branchMap: {},
      s: Object.fromEntries(Array.from({ length: n }, (_, i) => [i, (run + i) % 5])),
      f: {},
      b: {},
    },
  } as unknown as CoverageMapData;
}

/** Writes zeros into `file` until the file system says ENOSPC. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(16 * 1024);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  // Small tail writes too, so not even a block is left.
  const fd2 = openSync(`${file}.tail`, 'w');
  try {
    for (;;) written += writeSync(fd2, Buffer.alloc(512));
  } catch {
    /* ENOSPC */
  } finally {
    closeSync(fd2);
  }
  return written;
}

describe('disk full: the store refuses writes, says why, and recovers without a restart', function () {
  this.timeout(120_000);
  const { exporter, gateway } = useProcesses();
  let mnt: string | undefined;

  before(function () {
    const dir = mkdtempSync(join(tmpdir(), 'covgate-tmpfs-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'pipe' });
      mnt = dir;
    } catch (err) {
      if (process.env.CI === 'true') throw new Error(`cannot mount a tmpfs for the disk-full test (CI runs as root): ${(err as Error).message}`);
      console.log(`      skipped: mounting a 2 MiB tmpfs needs root (${(err as Error).message.split('\n')[0]})`);
      this.skip();
    }
  });
  after(() => {
    if (mnt) {
      try {
        execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
      } catch {
        /* already gone */
      }
    }
  });

  it('answers 503 while the disk is full, acknowledges nothing it did not write, and recovers once space is freed', async () => {
    const data = join(mnt!, 'data');
    mkdirSync(data);
    const s = await exporter();
    const cfg = `scrape_configs:
  - job_name: svc
    scrape_interval: 1h
    static_configs:
      - targets: [${s.address}]`;
    const g = await gateway(cfg, data);
    const acked: number[] = [];
    const refused: number[] = [];
    let run = 0;
    const push = async () => {
      const r = run++;
      const res = await g.api.post(`/api/v1/coverage?job=pushes&run=${r}`, pushMap(r), { timeout: 10_000 });
      if (res.status === 202) acked.push(r);
      else {
        expect(res.status, JSON.stringify(res.data)).to.equal(503);
        expect(res.data.error).to.match(/not writable.*(ENOSPC|No space)/);
        refused.push(r);
      }
      return res.status;
    };
    for (let i = 0; i < 5; i++) expect(await push()).to.equal(202);
    await s.hit('/add?a=1&b=2');
    expect((await g.api.post('/api/v1/scrape', {})).data.data.results[0].result).to.equal('success');

    const filler = join(mnt!, 'filler');
    fill(filler);
    // LevelDB buffers nothing across writes: the next write that needs a block fails.
    let status = 202;
    for (let i = 0; i < 200 && status === 202; i++) status = await push();
    expect(status, 'a push was refused once the disk was full').to.equal(503);
    const ready = await g.api.get('/-/ready');
    expect(ready.status).to.equal(503);
    expect(ready.data.error).to.match(/store is not writable.*ENOSPC/);
    // Every later write is refused at once, scrapes are not committed.
    expect(await push()).to.equal(503);
    await s.hit('/add?a=5&b=5');
    const failed = (await g.api.post('/api/v1/scrape', {})).data.data.results[0];
    expect(failed.result).to.not.equal('success');
    expect(failed.error).to.match(/not writable/);
    // Sessions on a full disk: refused with 503, and the gateway keeps serving (it used to exit here).
    const started = await g.api.post('/test-started', { session: 'on-full-disk' });
    expect(started.status, JSON.stringify(started.data)).to.equal(503);
    const finished = await g.api.post('/test-finished', { session: 'on-full-disk' });
    expect(finished.status, JSON.stringify(finished.data)).to.be.oneOf([404, 503]);
    expect((await g.api.get('/-/healthy')).status).to.equal(200);

    // Free the space: the probe write reopens the store by itself.
    rmSync(filler);
    rmSync(`${filler}.tail`);
    const t0 = Date.now();
    let readyNow = 503;
    while (readyNow !== 200 && Date.now() - t0 < 15_000) {
      await new Promise((r) => setTimeout(r, 200));
      readyNow = (await g.api.get('/-/ready')).status;
    }
    expect(readyNow, `ready again without a restart\n${g.process.output().slice(-3000)}`).to.equal(200);
    console.log(`      disk full: ${acked.length} pushes acknowledged, ${refused.length} refused with 503, writable again ${Date.now() - t0} ms after space was freed`);
    for (let i = 0; i < 3; i++) expect(await push()).to.equal(202);
    expect((await g.api.post('/api/v1/scrape', {})).data.data.results[0].result).to.equal('success');

    const check = async (api: typeof g.api) => {
      for (const r of acked) {
        const c = await api.get(`/api/v1/coverage?run=${r}`);
        expect(c.data, `acknowledged push ${r}`).to.deep.equal(istanbulMerge(pushMap(r)));
      }
      for (const r of refused) {
        const c = await api.get(`/api/v1/coverage?run=${r}`);
        expect(c.data, `refused push ${r} left nothing`).to.deep.equal({});
      }
      expect((await api.get('/api/v1/coverage?job=svc')).data).to.deep.equal(istanbulMerge(await s.raw()));
    };
    await check(g.api);
    // And on disk: after kill -9 everything acknowledged is still there.
    await g.kill('SIGKILL');
    const g2 = await gateway(cfg, data);
    await check(g2.api);
    await g2.stop();
  });

  it('names ENOSPC when the store cannot be opened at start-up', async () => {
    const data = join(mnt!, 'fresh');
    const filler = join(mnt!, 'filler2');
    fill(filler);
    try {
      const p = spawnProcess(process.execPath, [BIN, '--config', '/dev/null', '--listen', '127.0.0.1:0', '--storage.path', data, '--test.manual-scrapes']);
      const code = await new Promise<number | null>((resolve) => p.proc.once('exit', resolve));
      expect(code).to.equal(1);
      expect(p.output()).to.match(/covgate failed to start/);
      expect(p.output()).to.match(/ENOSPC/);
    } finally {
      rmSync(filler, { force: true });
      rmSync(`${filler}.tail`, { force: true });
    }
  });
});
