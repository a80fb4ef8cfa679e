import { expect } from 'chai';
import { applyPathMap, mapPath, type CoverageMapData } from '../../gateway/model/index.ts';

const file = (path: string) => ({ path, statementMap: {}, fnMap: {}, branchMap: {}, s: {}, f: {}, b: {} });

describe('model/path-map', () => {
  it('maps by the longest matching prefix and drops a leading ./', () => {
    const pm = { 'example.com/shop/': './', 'example.com/shop/vendor/': 'third_party/', 'example.com/lib/': 'libs/lib/' };
    expect(mapPath('example.com/shop/calc/calc.go', pm)).to.equal('calc/calc.go');
    expect(mapPath('example.com/shop/vendor/x/x.go', pm)).to.equal('third_party/x/x.go');
    expect(mapPath('example.com/lib/a.go', pm)).to.equal('libs/lib/a.go');
    expect(mapPath('other.org/a.go', pm)).to.equal('other.org/a.go');
    expect(mapPath('example.com/shop/main.go', { 'example.com/shop/': '' })).to.equal('main.go');
  });

  it('renames keys and paths, leaves the input alone, and never merges two files into one name', () => {
    const map: CoverageMapData = { 'example.com/shop/a.go': file('example.com/shop/a.go'), 'example.com/other/a.go': file('example.com/other/a.go'), 'b.go': file('b.go'), 'example.com/shop/b.go': file('example.com/shop/b.go') };
    const out = applyPathMap(map, { 'example.com/shop/': '', 'example.com/other/': '' });
    // a.go would be shared by two files, b.go is an existing key: all of them keep their names.
    expect(Object.keys(out).sort()).to.deep.equal(['b.go', 'example.com/other/a.go', 'example.com/shop/a.go', 'example.com/shop/b.go']);
    const single = applyPathMap({ 'example.com/shop/a.go': file('example.com/shop/a.go') }, { 'example.com/shop/': './' });
    expect(Object.keys(single)).to.deep.equal(['a.go']);
    expect(single['a.go']!.path).to.equal('a.go');
    expect(map['example.com/shop/a.go']!.path).to.equal('example.com/shop/a.go');
    expect(applyPathMap(map, undefined)).to.equal(map);
  });
});
