import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import axios from 'axios';
import { spawnProcess } from '../helpers/process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/covgate.js');

describe('covgate command', function () {
  this.timeout(30_000);

  it('prints help and version', async () => {
    const help = spawnProcess(process.execPath, [BIN, '--help']);
    await new Promise((r) => help.proc.once('exit', r));
    expect(help.proc.exitCode).to.equal(0);
    expect(help.output()).to.match(/Usage: covgate \[server\] \[--config gateway.yaml\]/);
    const version = spawnProcess(process.execPath, [BIN, '--version']);
    await new Promise((r) => version.proc.once('exit', r));
    expect(version.output()).to.match(/^covgate \d+\.\d+\.\d+/);
    const bad = spawnProcess(process.execPath, [BIN, '--no-such-flag']);
    await new Promise((r) => bad.proc.once('exit', r));
    expect(bad.proc.exitCode).to.equal(2);
    expect(bad.output()).to.match(/no-such-flag/);
  });

  it('starts on the bundled gateway.yaml and is ready', async () => {
    const data = mkdtempSync(join(tmpdir(), 'covgate-cli-'));
    const p = spawnProcess(process.execPath, [BIN, '--config', join(ROOT, 'gateway.yaml'), '--listen', '127.0.0.1:0', '--storage.path', data]);
    try {
      const m = await p.waitForLine(/"url":"(http:\/\/[^"]+)".*covgate listening/);
      const ready = await axios.get(`${m[1]}/-/ready`, { proxy: false });
      expect(ready.status).to.equal(200);
      expect((await axios.get(`${m[1]}/-/healthy`, { proxy: false })).status).to.equal(200);
    } finally {
      await p.kill('SIGTERM');
    }
    expect(p.proc.exitCode).to.equal(0); // graceful stop on SIGTERM
  });

  it('refuses an invalid config with the key and line, exit code 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'covgate-cli-'));
    const cfg = join(dir, 'gateway.yaml');
    writeFileSync(cfg, 'global:\n  scrape_interval: 15 seconds\n');
    const p = spawnProcess(process.execPath, [BIN, '--config', cfg, '--listen', '127.0.0.1:0', '--storage.path', join(dir, 'data')]);
    await new Promise((r) => p.proc.once('exit', r));
    expect(p.proc.exitCode).to.equal(1);
    expect(p.output()).to.match(/gateway\.yaml:2: global\.scrape_interval/);
  });
});
