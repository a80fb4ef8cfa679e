import { expect } from 'chai';
import { decodeSnapshot, encodeNext, encodeKeyframe, kindOf, KEYFRAME, DELTA } from '../../gateway/store/snapshot-codec.ts';
import type { Snapshot } from '../../gateway/model/index.ts';
import { rng } from '../../scripts/bench/lib/rng.ts';


const EDGE = [0, 1, 127, 128, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER];

function randomSnapshot(r: () => number, files: number): Snapshot {
  const snap: Snapshot = {};
  for (let f = 0; f < files; f++) {
    const counter = () => (r() < 0.1 ? EDGE[Math.floor(r() * EDGE.length)]! : Math.floor(r() * 50));
    const s = Array.from({ length: Math.floor(r() * 40) }, counter);
    const fn = Array.from({ length: Math.floor(r() * 6) }, counter);
    const b = Array.from({ length: Math.floor(r() * 8) }, () => Array.from({ length: 1 + Math.floor(r() * 4) }, counter));
    snap[`/srv/app/src/ünï-${f}.js`] = { structure: `h${f}`, counters: { s, f: fn, b } };
  }
  return snap;
}

/** The next cumulative snapshot: some counters grow (up to the saturation cap), maybe a new file, maybe a file's structure changes. */
function grow(r: () => number, prev: Snapshot): Snapshot {
  const next: Snapshot = { ...prev };
  const bump = (v: number) => (r() < 0.05 ? Math.min(Number.MAX_SAFE_INTEGER, v + Math.floor(r() * 2 ** 40)) : v + (r() < 0.2 ? 1 : 0));
  for (const [path, file] of Object.entries(prev)) {
    if (r() < 0.4) continue; // untouched: the same object, as the store shares unchanged files
    if (r() < 0.05) {
      next[path] = { structure: `${file.structure}'`, counters: { s: [1, 2, 3], f: [], b: [[0, 1]] } };
      continue;
    }
    next[path] = { structure: file.structure, counters: { s: file.counters.s.map(bump), f: file.counters.f.map(bump), b: file.counters.b.map((a) => a.map(bump)) } };
  }
  if (r() < 0.2) next[`/srv/app/src/new-${Math.floor(r() * 1e6)}.js`] = randomSnapshot(r, 1)[Object.keys(randomSnapshot(r, 1))[0]!]!;
  return next;
}

describe('store/snapshot-codec', () => {
  it('a keyframe round-trips every counter, including saturated ones and non-ASCII paths', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const snap = randomSnapshot(rng(seed), 1 + (seed % 7));
      const buf = encodeKeyframe(snap);
      expect(kindOf(buf)).to.equal(KEYFRAME);
      expect(decodeSnapshot(buf)).to.deep.equal(snap);
    }
  });

  it('a chain of deltas over random growth decodes to every cumulative snapshot (property over 200 chains)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = rng(seed * 7919);
      let truth = randomSnapshot(r, 1 + (seed % 5));
      let decoded = decodeSnapshot(encodeKeyframe(truth));
      for (let step = 0; step < 12; step++) {
        const next = grow(r, truth);
        const delta = encodeNext(truth, next);
        const changed = JSON.stringify(truth) !== JSON.stringify(next);
        expect(delta !== undefined, `seed ${seed} step ${step}: a value exactly when something changed`).to.equal(changed);
        if (delta) {
          expect(kindOf(delta)).to.equal(DELTA);
          const before = JSON.stringify(decoded);
          decoded = decodeSnapshot(delta, decoded);
          expect(JSON.stringify(decoded) === before || changed).to.equal(true);
        }
        expect(decoded, `seed ${seed} step ${step}`).to.deep.equal(next);
        truth = next;
      }
    }
  });

  it('applied in place (replaying a chain at load), a chain decodes to the same snapshots as with copies (property over 100 chains)', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const r = rng(seed * 104729);
      let truth = randomSnapshot(r, 1 + (seed % 6));
      const values = [encodeKeyframe(truth)];
      for (let step = 0; step < 16; step++) {
        const next = grow(r, truth);
        const v = encodeNext(truth, next);
        if (v) values.push(v);
        truth = next;
      }
      let copied = decodeSnapshot(values[0]!);
      let inPlace = decodeSnapshot(values[0]!);
      for (const v of values.slice(1)) {
        copied = decodeSnapshot(v, copied);
        const same = decodeSnapshot(v, inPlace, true);
        expect(same, 'in place returns the base itself').to.equal(inPlace);
        inPlace = same;
        expect(inPlace, `seed ${seed}`).to.deep.equal(copied);
      }
      expect(inPlace).to.deep.equal(truth);
    }
  });

  it('a delta does not modify the snapshot it applies to', () => {
    const a: Snapshot = { '/a.js': { structure: 'h', counters: { s: [0, 0, 0], f: [0], b: [[0, 0]] } } };
    const b: Snapshot = { '/a.js': { structure: 'h', counters: { s: [0, 5, 0], f: [1], b: [[0, 2]] } } };
    const copy = JSON.parse(JSON.stringify(a));
    expect(decodeSnapshot(encodeNext(a, b)!, a)).to.deep.equal(b);
    expect(a).to.deep.equal(copy);
  });

  it('encodes more than 127 changed files (multi-byte file count)', () => {
    const r = rng(42);
    const a = randomSnapshot(r, 300);
    const b: Snapshot = {};
    for (const [p, f] of Object.entries(a)) b[p] = { structure: f.structure, counters: { s: [...f.counters.s, 1], f: f.counters.f, b: f.counters.b } };
    expect(decodeSnapshot(encodeNext(a, b)!, a)).to.deep.equal(b);
  });

  it('a repeat snapshot of a 4k-statement service with 40 changed counters is a few hundred bytes', () => {
    const snap: Snapshot = {};
    for (let f = 0; f < 40; f++) snap[`/srv/app/src/module-${f}.js`] = { structure: `${'a'.repeat(40)}${f}`, counters: { s: new Array(100).fill(3), f: new Array(10).fill(1), b: Array.from({ length: 10 }, () => [1, 0]) } };
    const next: Snapshot = { ...snap };
    for (let f = 0; f < 40; f += 4) {
      const c = snap[`/srv/app/src/module-${f}.js`]!.counters;
      const s = c.s.slice();
      for (let i = 0; i < 4; i++) s[i * 10] = 4;
      next[`/srv/app/src/module-${f}.js`] = { structure: snap[`/srv/app/src/module-${f}.js`]!.structure, counters: { s, f: c.f, b: c.b } };
    }
    const delta = encodeNext(snap, next)!;
    expect(delta.length).to.be.below(400);
    expect(JSON.stringify(next).length / delta.length).to.be.above(50);
  });

  it('refuses truncated, unknown and orphan values with a clear error', () => {
    const snap = randomSnapshot(rng(3), 2);
    const buf = encodeKeyframe(snap);
    expect(() => decodeSnapshot(buf.subarray(0, buf.length - 1))).to.throw(/truncated/);
    expect(() => decodeSnapshot(Buffer.from([9]))).to.throw(/unknown kind/);
    expect(() => decodeSnapshot(Buffer.concat([buf, Buffer.from([0])]))).to.throw(/trailing/);
    const next = grow(rng(4), snap);
    const delta = encodeNext(snap, next);
    if (delta) expect(() => decodeSnapshot(delta)).to.throw(/needs the snapshot before it/);
  });
});
