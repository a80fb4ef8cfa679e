import { expect } from 'chai';
import { mkdtemp, mkdir, rm, writeFile, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createFileSDDiscoverer, parseTargetGroups, type FileSDDiscoverer } from '../../gateway/discovery/file-sd.ts';
import { addresses, recorder } from './helpers.ts';

describe('createFileSDDiscoverer', () => {
  let dir: string;
  const running: FileSDDiscoverer[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'covgate-filesd-'));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((d) => d.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  /** A discoverer without timer or watcher: tests drive it through refresh(). */
  function make(files: string[], extra: { watch?: boolean; watchDebounceMs?: number } = {}) {
    const d = createFileSDDiscoverer({ files, baseDir: dir, refreshIntervalMs: 0, watch: false, ...extra });
    running.push(d);
    return d;
  }

  it('reads JSON and YAML files matched by globs, tagging groups with __meta_filepath', async () => {
    await writeFile(path.join(dir, 'a.json'), JSON.stringify([{ targets: ['a:1', 'a:2'], labels: { env: 'dev' } }]));
    await writeFile(path.join(dir, 'b.yml'), '- targets: [b:1]\n  labels:\n    release: 2026.10\n- targets: ["b:2"]\n');
    await writeFile(path.join(dir, 'ignored.txt'), 'nope');
    const rec = recorder();
    await make(['*.json', '*.yml']).start(rec.send);

    expect(rec.sends).to.have.length(1);
    const a = path.join(dir, 'a.json');
    const b = path.join(dir, 'b.yml');
    expect(rec.last()).to.deep.equal([
      { source: `${a}:0`, labels: { env: 'dev', __meta_filepath: a }, targets: [{ __address__: 'a:1' }, { __address__: 'a:2' }] },
      { source: `${b}:0`, labels: { release: '2026.10', __meta_filepath: b }, targets: [{ __address__: 'b:1' }] },
      { source: `${b}:1`, labels: { __meta_filepath: b }, targets: [{ __address__: 'b:2' }] },
    ]);
  });

  it('sends an empty full set once when nothing matches', async () => {
    const rec = recorder();
    await make(['nothing/*.json']).start(rec.send);
    expect(rec.sends).to.deep.equal([[]]);
  });

  it('re-reads on refresh(), sending only when the set changed', async () => {
    const file = path.join(dir, 't.json');
    await writeFile(file, JSON.stringify([{ targets: ['a:1'] }]));
    const rec = recorder();
    const d = make(['*.json']);
    await d.start(rec.send);
    await d.refresh();
    expect(rec.sends).to.have.length(1);

    await writeFile(file, JSON.stringify([{ targets: ['a:1', 'a:2'] }]));
    await writeFile(path.join(dir, 'u.json'), JSON.stringify([{ targets: ['u:1'] }]));
    await d.refresh();
    expect(rec.sends).to.have.length(2);
    expect(addresses(rec.last())).to.deep.equal(['a:1', 'a:2', 'u:1']);
  });

  it('keeps the last good groups of a file that becomes broken, and reports the error', async () => {
    const good = path.join(dir, 'good.json');
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(good, JSON.stringify([{ targets: ['g:1'] }]));
    await writeFile(bad, '- targets: [b:1]\n');
    const rec = recorder();
    const d = make(['*.json', '*.yaml']);
    await d.start(rec.send);
    expect(addresses(rec.last())).to.deep.equal(['b:1', 'g:1']);

    await writeFile(bad, '- targets: [b:1\n  oops: : :\n');
    await writeFile(good, JSON.stringify([{ targets: ['g:1', 'g:2'] }]));
    await d.refresh();
    expect(addresses(rec.last())).to.deep.equal(['b:1', 'g:1', 'g:2']);
    const errs = d.lastErrors();
    expect(errs).to.have.length(1);
    expect(errs[0]!.source).to.equal(bad);
    expect(errs[0]!.error).to.match(/invalid YAML/);

    // Invalid content (not just bad syntax) keeps the last good groups too.
    await writeFile(bad, '- targets: [b:9]\n  labels: {"bad-name": x}\n');
    await d.refresh();
    expect(addresses(rec.last())).to.deep.equal(['b:1', 'g:1', 'g:2']);
    expect(d.lastErrors()[0]!.error).to.match(/invalid label name/);

    // An empty file (a writer caught mid-write) is not "no targets".
    await writeFile(bad, '');
    await d.refresh();
    expect(addresses(rec.last())).to.deep.equal(['b:1', 'g:1', 'g:2']);

    await writeFile(bad, '- targets: [b:2]\n');
    await d.refresh();
    expect(addresses(rec.last())).to.deep.equal(['b:2', 'g:1', 'g:2']);
    expect(d.lastErrors()).to.deep.equal([]);
  });

  it('reports a file broken from the start and serves nothing for it', async () => {
    await writeFile(path.join(dir, 'x.json'), '{"not": "a list"}');
    const rec = recorder();
    const d = make(['*.json']);
    await d.start(rec.send);
    expect(rec.sends).to.deep.equal([[]]);
    expect(d.lastErrors()[0]!.error).to.match(/expected a list/);
  });

  it('drops the groups of a deleted file, and forgets its error', async () => {
    const a = path.join(dir, 'a.json');
    const b = path.join(dir, 'b.json');
    await writeFile(a, JSON.stringify([{ targets: ['a:1'] }]));
    await writeFile(b, JSON.stringify([{ targets: ['b:1'] }]));
    const rec = recorder();
    const d = make(['*.json']);
    await d.start(rec.send);
    await writeFile(b, 'broken');
    await d.refresh();
    expect(d.lastErrors()).to.have.length(1);

    await rm(a);
    await rm(b);
    await d.refresh();
    expect(rec.last()).to.deep.equal([]);
    expect(d.lastErrors()).to.deep.equal([]);
  });

  it('re-reads when a watched file changes', async () => {
    const sub = path.join(dir, 'targets');
    await mkdir(sub);
    await writeFile(path.join(sub, 'a.json'), JSON.stringify([{ targets: ['a:1'] }]));
    const rec = recorder();
    const d = make(['targets/*.json'], { watch: true, watchDebounceMs: 20 });
    await d.start(rec.send);
    expect(addresses(rec.last())).to.deep.equal(['a:1']);

    // Changed file.
    let next = rec.next((g) => addresses(g).includes('a:2'));
    await writeFile(path.join(sub, 'a.json'), JSON.stringify([{ targets: ['a:1', 'a:2'] }]));
    await next;

    // New file, written atomically (rename), as config management tools do.
    next = rec.next((g) => addresses(g).includes('n:1'));
    await writeFile(path.join(dir, 'staging.tmp'), JSON.stringify([{ targets: ['n:1'] }]));
    await rename(path.join(dir, 'staging.tmp'), path.join(sub, 'new.json'));
    expect(addresses(await next)).to.deep.equal(['a:1', 'a:2', 'n:1']);

    // Deleted file.
    next = rec.next((g) => !addresses(g).includes('a:1'));
    await rm(path.join(sub, 'a.json'));
    expect(addresses(await next)).to.deep.equal(['n:1']);
  });

  it('stop is safe before start and twice, and nothing is sent after stop', async () => {
    const d = make(['*.json']);
    await d.stop();
    await d.stop();
    const rec = recorder();
    await d.start(rec.send);
    await d.refresh();
    expect(rec.sends).to.deep.equal([]);

    const e = make(['*.json']);
    const rec2 = recorder();
    await e.start(rec2.send);
    await e.stop();
    await writeFile(path.join(dir, 'late.json'), JSON.stringify([{ targets: ['l:1'] }]));
    await e.refresh();
    await e.stop();
    expect(rec2.sends).to.deep.equal([[]]);
  });
});

describe('parseTargetGroups', () => {
  it('accepts a group without labels or targets', () => {
    expect(parseTargetGroups('[{}]', '/x.json')).to.deep.equal([{ source: '/x.json:0', labels: { __meta_filepath: '/x.json' }, targets: [] }]);
  });
  it('keeps YAML scalars as written and treats empty values as absent', () => {
    const [g] = parseTargetGroups('- targets: [h:1]\n  labels: {v: 1.10, on: true, empty: ""}\n', '/x.yml');
    expect(g!.labels).to.deep.equal({ v: '1.10', on: 'true', __meta_filepath: '/x.yml' });
    expect(parseTargetGroups('- targets:\n  labels:\n', '/x.yaml')[0]!.targets).to.deep.equal([]);
  });
  const bad: Array<[string, string, RegExp]> = [
    ['', '/x.json', /empty/],
    ['[{"targets": "h:1"}]', '/x.json', /targets must be a list/],
    ['[{"targets": [1]}]', '/x.json', /target 0 must be a non-empty/],
    ['[{"targets": [""]}]', '/x.json', /target 0 must be a non-empty/],
    ['[{"labels": {"a": 1}}]', '/x.json', /label a must be a string/],
    ['[{"target": []}]', '/x.json', /unknown key "target"/],
    ['[3]', '/x.json', /group 0: expected an object/],
    ['[]', '/x.txt', /unsupported extension/],
    ['{', '/x.json', /invalid JSON/],
  ];
  for (const [text, file, re] of bad) {
    it(`rejects ${JSON.stringify(text)} (${file})`, () => {
      expect(() => parseTargetGroups(text, file)).to.throw(re);
    });
  }
});
